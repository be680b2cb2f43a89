//! Convergence of the server-side apply algorithm (`tidesync::core::server`)
//! whatever the delivery order: random puts and deletes from several devices,
//! delivered shuffled and with duplicates, always end at the greatest stamp
//! per record, and a paged pull from zero gives exactly that snapshot. The
//! generator is seeded, so a failing seed reproduces.

#![cfg(not(target_arch = "wasm32"))]

mod server_support;

use serde_json::Value;
use server_support::*;
use tidesync::core::server::RecordState;
use tidesync::core::wire::{PushBatch, PushOp};
use tidesync::core::{Hlc, Pk};

use tidesync::core::rng::SplitMix64 as Rng;

/// Three devices, five keys, random puts and deletes with random stamps, cut
/// into random batches; returns every batch (each op exactly once).
fn random_batches(rng: &mut Rng) -> Vec<PushBatch<Value>> {
    let mut batches = Vec::new();
    for dev in ["dev-a", "dev-b", "dev-c"] {
        let mut ops = Vec::new();
        for i in 0..30 {
            let key = format!("k{}", rng.below(5));
            let mut st = stamp(1 + rng.below(4), T0 + rng.below(20), dev, &format!("{dev}-{i}"));
            st.hlc =
                Hlc { ms: T0 + rng.below(20), counter: rng.below(3) as u32, device_id: dev.to_string() }.to_string();
            ops.push(if rng.below(3) == 0 { delete_op("t", key.as_str(), st) } else { put_op("t", key.as_str(), st) });
        }
        while !ops.is_empty() {
            let n = (1 + rng.below(5) as usize).min(ops.len());
            let rest = ops.split_off(n);
            let mut b = batch("w1", None, ops);
            b.device_id = dev.to_string();
            batches.push(b);
            ops = rest;
        }
    }
    batches
}

#[test]
fn randomized_delivery_order_and_duplicates_converge_to_the_max_stamp_per_record() {
    for seed in 0..200u64 {
        let mut rng = Rng(seed);
        let batches = random_batches(&mut rng);
        let all_ops: Vec<&PushOp<Value>> = batches.iter().flat_map(|b| &b.ops).collect();

        // Expected: per key, the op with the greatest stamp.
        let mut expected: Vec<RecordState<Value>> = Vec::new();
        for key in 0..5 {
            let pk = Pk::from(format!("k{key}"));
            let Some(win) = all_ops.iter().filter(|o| o.pk == pk).max_by(|a, b| a.stamp.cmp(&b.stamp)) else {
                continue;
            };
            expected.push(RecordState {
                table_name: "t".into(),
                pk,
                payload: win.payload.clone(),
                stamp: win.stamp.clone(),
                version: 0,
            });
        }

        // Deliver in random order, with random duplicates (retries).
        let mut delivery: Vec<&PushBatch<Value>> = batches.iter().collect();
        for b in &batches {
            if rng.below(3) == 0 {
                delivery.push(b);
            }
        }
        rng.shuffle(&mut delivery);
        let mut server = Server::new();
        for (i, b) in delivery.iter().enumerate() {
            let before = server.server_version("w1");
            let out = server.push(b, T0 + i as u64);
            assert_eq!(out.from_cursor, before);
            assert!(out.result.results.iter().all(|r| r.success));
        }

        let mut snap = server.snapshot("w1");
        let versions_by_key: Vec<u64> = snap.iter().map(|r| r.version).collect();
        snap.iter_mut().for_each(|r| r.version = 0);
        assert_eq!(snap, expected, "seed {seed}");
        assert_eq!(server.seen_ops("w1"), all_ops.len() as u64, "seed {seed}");
        assert!(server.applied_ops("w1") <= server.seen_ops("w1"));
        assert_eq!(server.applied_ops("w1"), server.server_version("w1"));

        // Pull from 0 in small pages is the snapshot: one change per record.
        let mut cursor = 0;
        let mut pulled = Vec::new();
        loop {
            let page = server.pull(&request("w1", None, cursor, 2)).unwrap();
            pulled.extend(page.changes);
            cursor = page.next_cursor;
            if !page.has_more {
                break;
            }
        }
        assert_eq!(cursor, server.server_version("w1"));
        pulled.sort_by(|a, b| a.pk.cmp(&b.pk));
        let pulled_versions: Vec<u64> = pulled.iter().map(|c| c.server_version).collect();
        assert_eq!(pulled_versions, versions_by_key, "seed {seed}");
        for (change, want) in pulled.iter().zip(&expected) {
            assert_eq!((&change.stamp, &change.payload), (&want.stamp, &want.payload));
        }

        // Re-delivering everything changes nothing.
        let version = server.server_version("w1");
        for b in &batches {
            assert!(server.push(b, T0).applied.is_empty());
        }
        assert_eq!(server.server_version("w1"), version);
    }
}
