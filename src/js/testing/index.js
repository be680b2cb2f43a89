// The `tidesync/testing` entry: MemoryServer (the reference server's
// algorithm in the page, with fault switches; its own wasm module, whose
// default export initialises it), the provider conformance kit and the
// fault-injection wrapper (plain JS, usable with any provider).
export { default } from './testing.js';
export * from './testing.js';
export { runProviderConformance, formatReport } from './conformance.js';
export { withFaults } from './faults.js';
