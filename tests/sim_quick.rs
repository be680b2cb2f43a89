//! The convergence simulator's quick set, run by `./scripts/test`: a couple
//! of hundred seeds of 3 devices, plus every seed that ever failed
//! (fixtures, in the long runs' shape).
//! `./scripts/fuzz --seeds N` runs long ones (see `sim_long`).
#![cfg(not(target_arch = "wasm32"))]

mod sim;

use sim::{run_seeds, Shape};

/// Seeds that once broke an invariant; each names the fix in its comment.
const FIXTURES: &[u64] = &[
    // A database at cursor 0 that had pushed a record kept it after another
    // device deleted it and the server purged the tombstone (the pull from 0
    // does not carry it): a pull from 0 on a database with writes rescans.
    37, 1240,
    // The running check flagged a record whose big op had just been
    // discarded: its row stays until the revert before the next push (the
    // check now skips records noted for revert).
    2314, 5395,
    // Two dead letters on one record, the newer (big) one discarded and the
    // older one retried: the revert was skipped for good because an op was
    // queued, and the device kept the discarded version. A revert now waits
    // until no op is queued for the record.
    3326, 4357,
    // A database rescanned after the server purged a newer tombstone kept
    // its older one; the running check took that for a skipped change
    // (a deleted record may now hold an older tombstone than the server's).
    14842,
];

fn report(failed: &[(u64, String, Vec<String>)]) -> String {
    failed
        .iter()
        .map(|(seed, why, trace)| format!("seed {seed}: {why}\n    {}", trace.join("\n    ")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn quick_seeds_converge() {
    let shape = Shape { devices: 3, steps: 120, keys: 6 };
    let failed = run_seeds(0..200, shape);
    assert!(failed.is_empty(), "{} of 200 seeds failed:\n{}", failed.len(), report(&failed));
}

#[test]
fn fixture_seeds_converge() {
    let shape = Shape { devices: 5, steps: 300, keys: 8 };
    let failed = run_seeds(FIXTURES.iter().copied(), shape);
    assert!(failed.is_empty(), "{}", report(&failed));
}
