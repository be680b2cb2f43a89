//! Long simulator runs, for `./scripts/fuzz --seeds N` (ignored by default).
//! Environment: TIDESYNC_SIM_SEEDS (1000), TIDESYNC_SIM_FIRST (0),
//! TIDESYNC_SIM_DEVICES (5), TIDESYNC_SIM_STEPS (300), TIDESYNC_SIM_KEYS (8);
//! TIDESYNC_SIM_TRACE set prints a failing seed's whole trace, not its tail.
//! Each failing seed is printed with its trace: add it to `FIXTURES` in
//! tests/sim_quick.rs once fixed.
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use sim::{run_seeds, Shape};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
#[ignore = "long: run with ./scripts/fuzz"]
fn long_seeds_converge() {
    let first = env("TIDESYNC_SIM_FIRST", 0);
    let seeds = env("TIDESYNC_SIM_SEEDS", 1000);
    let shape = Shape {
        devices: env("TIDESYNC_SIM_DEVICES", 5) as usize,
        steps: env("TIDESYNC_SIM_STEPS", 300) as usize,
        keys: env("TIDESYNC_SIM_KEYS", 8),
    };
    let started = std::time::Instant::now();
    let failed = run_seeds(first..first + seeds, shape);
    for (seed, why, trace) in &failed {
        eprintln!("seed {seed}: {why}\n    {}", trace.join("\n    "));
    }
    eprintln!(
        "simulated {seeds} seeds x {} devices x {} steps (seeds {first}..{}) in {:.1} s: {} failed",
        shape.devices,
        shape.steps,
        first + seeds,
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    assert!(failed.is_empty(), "{} seeds failed", failed.len());
}
