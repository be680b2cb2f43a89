// The benchmark goals (BENCHMARKS.md) and the printed table: one row per figure, its
// baselines and ratios where it has any, and its goal with met or missed.

const ms = (x) => (x === undefined ? '' : `${x.toFixed(1)} ms`);
const ratio = (x) => (x === undefined ? '' : x.toFixed(2));
const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

// scenario -> [{ goal, met(result) }]; checked against the results and
// stored with them in bench-results.json.
const GOALS = {
  // The write path's goals: a bulk capture no slower than the raw bulk
  // write with its outbox rows; a single write within 10 % of the raw
  // read-then-write every stamped write needs at least.
  capture: [{ goal: '≤ 1.0× raw, ≤ 0.6× Dexie', met: (r) => r.ratio <= 1.0 && r.dexieRatio <= 0.6 }],
  singles: [
    { goal: '≤ 0.8× Dexie', met: (r) => r.dexieRatio <= 0.8 },
    { goal: '≤ 1.1× raw read-then-write', met: (r) => r.readWriteRatio <= 1.1 },
  ],
  push: [{ goal: '≤ 1.5× raw', met: (r) => r.ratio <= 1.5 }],
  bootstrap: [{ goal: '≤ 1.2× raw', met: (r) => r.ratio <= 1.2 }],
  latency: [{ goal: 'p50 ≤ 12 ms, p99 ≤ 30 ms', met: (r) => r.p50Ms <= 12 && r.p99Ms <= 30 }],
  size: [{ goal: '≤ 100 KiB gzip', met: (r) => r.entry.gzip <= 100 * 1024 }],
  scale: [
    { goal: '≤ 1.2× raw', met: (r) => r.ratio <= 1.2 },
    { goal: 'peak JS heap ≤ 100 MB', met: (r) => r.heapPeakBytes <= 100e6 },
  ],
  range: [{ goal: '≤ 1.2× raw', met: (r) => r.ratio <= 1.2 }],
  paging: [
    { goal: '≤ 1.2× raw', met: (r) => r.ratio <= 1.2 },
    { goal: '≤ 1.2× raw', met: (r) => r.indexRatio <= 1.2 },
  ],
  live: [{ goal: 'p50 ≤ 5 ms, p99 ≤ 20 ms', met: (r) => r.p50Ms <= 5 && r.p99Ms <= 20 }],
  // Start-up has no goal yet: measured so a change to it shows.
  open: [],
};

// The goals are Chromium's. In Firefox and WebKit a scenario with a
// Dexie-hooks baseline is held to no slower than it, and the rest are
// reported without a goal.
const OTHER_BROWSER_GOAL = { goal: '≤ 1.0× Dexie', met: (r) => r.dexieRatio <= 1.0 };

/** Adds `goals: [{ goal, met }]` to every result that has goals. */
export function checkGoals(results, browserName = 'chromium') {
  for (const [name, chromiumGoals] of Object.entries(GOALS)) {
    const r = results[name];
    if (!r) continue;
    const goals = browserName === 'chromium' ? chromiumGoals : r.dexieRatio === undefined ? [] : [OTHER_BROWSER_GOAL];
    r.goals = goals.map((g) => ({ goal: g.goal, met: Boolean(g.met(r)) }));
  }
}

// [scenario, n, raw, Dexie, tidesync, vs raw, vs Dexie] per figure.
function rows(name, r) {
  const base = [r.scenario, r.n === undefined ? '' : String(r.n)];
  switch (name) {
    case 'latency':
    case 'live':
      return [[...base, '', '', `p50 ${ms(r.p50Ms)}, p99 ${ms(r.p99Ms)}`, '', '']];
    case 'paging':
      return [
        [`${r.scenario} (primary key)`, base[1], ms(r.rawMs), '', ms(r.engineMs), ratio(r.ratio), ''],
        [`${r.scenario} (compound index)`, base[1], ms(r.rawIndexMs), '', ms(r.indexMs), ratio(r.indexRatio), ''],
      ];
    case 'size':
      return [[...base, '', '', `gzip ${kb(r.entry.gzip)}, brotli ${kb(r.entry.brotli)}`, '', '']];
    case 'scale':
      return [
        [...base, ms(r.rawMs), '', ms(r.engineMs), ratio(r.ratio), ''],
        ['scale JS heap', '', '', '', `peak ${mb(r.heapPeakBytes)}`, '', ''],
        ['scale MemoryServer', base[1], ms(r.rawMs), '', ms(r.memoryServer.engineMs), ratio(r.memoryServer.ratio), ''],
      ];
    case 'capture':
    case 'singles':
      return [
        [...base, ms(r.rawMs), ms(r.dexieMs), ms(r.engineMs), ratio(r.ratio), ratio(r.dexieRatio)],
        [`${r.scenario} (raw: read, then write)`, base[1], ms(r.readWriteMs), '', ms(r.engineMs), ratio(r.readWriteRatio), ''],
      ];
    default:
      return [[...base, ms(r.rawMs), ms(r.dexieMs), ms(r.engineMs), ratio(r.ratio), ratio(r.dexieRatio)]];
  }
}

/** Prints the table and the details each scenario adds below it. */
export function printTable(results) {
  const table = [['scenario', 'n', 'raw IDB', 'Dexie-hooks', 'tidesync', 'vs raw', 'vs Dexie', 'goal', '']];
  for (const name of Object.keys(GOALS)) {
    const r = results[name];
    if (!r) continue;
    rows(name, r).forEach((row, i) => {
      const g = r.goals[i];
      table.push([...row, g ? g.goal : '', g ? (g.met ? 'met' : 'MISSED') : '']);
    });
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const row of table) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
  if (results.quick) console.log('quick: tiny sizes and one run, to keep the pages working; the goals are for full runs');
  const { bootstrap, latency, size, scale, live } = results;
  if (live) console.log(`live: the same ${live.n} rows read with raw IndexedDB: p50 ${ms(live.rawReadP50Ms)}, p99 ${ms(live.rawReadP99Ms)}`);
  if (bootstrap) console.log(`bootstrap: ${bootstrap.recordsPerSecond} records/s`);
  if (latency) {
    console.log(`latency: ${latency.n} writes, min ${ms(latency.minMs)}, max ${ms(latency.maxMs)}; server ${latency.server}`);
    const st = latency.stages;
    const stage = (k) => `${ms(st[k].p50)} (p99 ${ms(st[k].p99)})`;
    console.log(`latency: p50 after the put's start: put committed ${stage('putMs')}, push sent ${stage('pushStartMs')}, acknowledged ${stage('pushAckMs')}, watch delivered to B ${stage('receivedMs')}`);
  }
  if (size) {
    for (const f of size.perFile) console.log(`size: ${f.file.padEnd(48)} ${String(f.bytes).padStart(8)} B  gzip ${String(f.gzip).padStart(7)}  brotli ${String(f.brotli).padStart(7)}`);
    console.log(`size (gzip -${size.gzipLevel}, brotli q${size.brotliQuality}, each file on its own): engine (wasm + glue) gzip ${size.engine.gzip} B, brotli ${size.engine.brotli} B; package entry (+ index.js, error.js, http_provider.js) gzip ${size.entry.gzip} B, brotli ${size.entry.brotli} B`);
  }
  if (scale) {
    const m = scale.memoryServer;
    console.log(`scale: ${scale.recordsPerSecond} records/s from a provider generating the pages; JS heap during the bootstrap: peak ${mb(scale.heapPeakBytes)} (median ${mb(scale.heapPeakMedianBytes)}) over ${mb(scale.heapBaseBytes)} before it; wasm memory ${mb(scale.wasmBytesStart)} before the scenario, ${mb(scale.wasmBytesAfter)} after the bootstraps`);
    console.log(`scale: from a MemoryServer (one run): seeding took ${m.seedMs} ms; it holds ${mb(m.wasmBytes)} of wasm memory and ${mb(m.jsHeapBytes)} of JS heap; the bootstrap's JS heap peaked at ${mb(m.heapPeakBytes)} (+${mb(m.heapGrowthBytes)}); answering the engine's pulls takes it ~${m.serverPullMs} ms of the page's main thread (replayed alone)`);
  }
}
