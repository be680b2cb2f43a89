export { default } from './testing.js';
export * from './testing.js';
export { runProviderConformance, formatReport, type ConformanceOptions, type ConformanceReport, type ConformanceCheck,
  type ConformanceContext, type MakeProvider } from './conformance.js';
export { withFaults, type FaultOptions, type FaultyProvider } from './faults.js';
