// Size: what a page downloads for the built package (pkg/), each file
// compressed on its own as a web server would send it, with gzip level 9 and
// brotli quality 11 (the largest window; --quick takes quality 9, since 11
// spends seconds on the wasm and ./scripts/test only needs the path to
// work). Two totals: the engine (the wasm,
// wasm-bindgen's glue tidesync.js and its inline snippets) and the package
// entry (index.js, which also loads error.js, live_query.js, storage.js,
// sync_status.js, table.js and HttpProvider's http_provider.js).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const pkg = resolve(new URL('../pkg', import.meta.url).pathname);

function snippets(dir = join(pkg, 'snippets')) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(snippets(p));
    else if (name.endsWith('.js')) out.push(relative(pkg, p));
  }
  return out;
}

function measure(file, quality) {
  const bytes = readFileSync(join(pkg, file));
  const gzip = gzipSync(bytes, { level: 9 }).length;
  const brotli = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: quality,
      [constants.BROTLI_PARAM_LGWIN]: constants.BROTLI_MAX_WINDOW_BITS,
      [constants.BROTLI_PARAM_MODE]: file.endsWith('.wasm') ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  }).length;
  return { file, bytes: bytes.length, gzip, brotli };
}

function total(files) {
  const sum = (k) => files.reduce((s, f) => s + f[k], 0);
  return { files: files.map((f) => f.file), bytes: sum('bytes'), gzip: sum('gzip'), brotli: sum('brotli') };
}

export function runSize(quick) {
  const brotliQuality = quick ? 9 : constants.BROTLI_MAX_QUALITY;
  const engine = ['tidesync_bg.wasm', 'tidesync.js', ...snippets()].map((f) => measure(f, brotliQuality));
  const entry = ['index.js', 'error.js', 'http_provider.js', 'live_query.js', 'storage.js', 'sync_status.js', 'table.js'].map((f) => measure(f, brotliQuality));
  return {
    scenario: 'size', gzipLevel: 9, brotliQuality,
    perFile: [...engine, ...entry], engine: total(engine), entry: total([...engine, ...entry]),
  };
}

// The budget `./scripts/test` holds the package entry to (gzip, bytes): a
// ratchet at the size reached, lowered as the entry shrinks. The goal in
// BENCHMARKS.md is 100 KiB; until the entry gets there, this keeps it from
// growing back. The read side (queries, read snapshots, record status, live
// queries, typed tables) raised it from 285,000 to 320,000 (+25 KB of wasm,
// +6 KB of JS). Minifying the shipped JS (scripts/minify.mjs) took about
// 10.5 KB off; incremental live queries (the write sequence, patchAll) spent
// 5.3 KB of wasm and 1 KB of JS: 316,000. Leadership that survives frozen
// and hung tabs (the Web Lock holder's heartbeat, stealing a silent lock)
// spent 3.1 KB of wasm: 319,000. Storage durability (persist, estimate,
// pressure, eviction markers: storage.js, a getter in the wasm) 1 KB: 320,000.
// The shipped module built with its own size-optimised std and panics that
// trap at once (scripts/build) took 25 KB off: 294,979, so 296,000. A
// transaction's requests awaited a group at a time (store/idb_request.rs)
// took 5.6 KB off: 290,226, so 291,000.
export const ENTRY_BUDGET_GZIP = 291_000;

// `node scripts/bench-size.mjs --check`: prints the entry's size and exits
// non-zero when it is over the budget, or when the test doubles' module is
// missing (it is built beside the entry, never inside it).
if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname) && process.argv.includes('--check')) {
  const r = runSize(true);
  const testing = measure('testing/testing_bg.wasm', 9);
  console.log(`size: package entry ${r.entry.gzip} B gzip (budget ${ENTRY_BUDGET_GZIP}), brotli ${r.entry.brotli} B; tidesync/testing wasm ${testing.gzip} B gzip, not in the entry`);
  if (r.entry.gzip > ENTRY_BUDGET_GZIP) {
    console.error(`size: the package entry is ${r.entry.gzip - ENTRY_BUDGET_GZIP} B over its budget`);
    process.exit(1);
  }
}
