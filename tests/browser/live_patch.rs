//! Incremental live queries (src/js/live_query.js with `reader.patchAll`
//! and `reader.writeSeq`) on real engines: a re-run patched from the changed
//! rows shares the unchanged rows with the last result and ends where a
//! fresh read is, under random puts, moves and deletes; and with another
//! engine writing the same rows in one transaction, no emitted state mixes
//! before and after it.

use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use super::live::{run3, text};
use super::util::*;

#[wasm_bindgen_test]
async fn a_patched_live_query_shares_unchanged_rows_and_ends_at_a_fresh_read() {
    let e: JsValue = open_engine(&unique("live-patch")).await.into();
    let body = "
        const rows0 = []; for (let i = 0; i < 30; i++) rows0.push({ id: 'n' + i, thread_id: i < 20 ? 't1' : 't2', v: 0 });
        await a.bulkPut('notes', rows0);
        const seen = [];
        const sub = t.liveQuery(a, async (r) => {
            const rows = await r.getAll('notes', { index: 'thread_id', equals: 't1' });
            const one = await r.get('notes', 'n3');
            return { rows, one: one ? one.v : null };
        }).subscribe((v) => seen.push(v));
        await t.until(() => seen.length === 1, 'the first value');
        await a.put('notes', { id: 'n5', thread_id: 't1', v: 1 });
        await t.until(() => seen.length === 2, 'the update');
        const shared = seen[1].rows[0] === seen[0].rows[0] && seen[1].rows.find((row) => row.id === 'n5').v === 1;
        // Random puts (in place, moved between threads, new) and deletes,
        // some awaited one by one, some in bursts.
        let x = 11;
        const rnd = (n) => { x = (x * 1103515245 + 12345) % 2147483648; return x % n; };
        for (let round = 0; round < 40; round++) {
            const writes = [];
            for (let k = 0; k < 1 + rnd(3); k++) {
                const id = 'n' + rnd(36);
                writes.push(rnd(5) === 0 ? a.delete('notes', id) : a.put('notes', { id, thread_id: rnd(2) ? 't1' : 't2', v: round }));
            }
            await Promise.all(writes);
            if (rnd(3) === 0) await new Promise((r) => setTimeout(r, 2));
        }
        const fresh = JSON.stringify(await a.getAll('notes', { index: 'thread_id', equals: 't1' }));
        const n3 = await a.get('notes', 'n3');
        await t.until(() => JSON.stringify(seen.at(-1).rows) === fresh, 'the last value is a fresh read');
        let patched = 0;
        for (let i = 1; i < seen.length; i++) if (seen[i].rows.some((row) => seen[i - 1].rows.includes(row))) patched++;
        sub.unsubscribe();
        return [shared, seen.at(-1).one === (n3 ? n3.v : null), patched > 0];";
    let got = run3(&e, &JsValue::NULL, body).await;
    assert_eq!(text(&got), "[true,true,true]");
}

#[wasm_bindgen_test]
async fn a_patched_live_query_never_mixes_another_engines_transaction() {
    let db = unique("live-patch-tabs");
    let a: JsValue = open_engine(&db).await.into();
    let b: JsValue = open_engine(&db).await.into();
    // Engine b writes x and y together; engine a writes x alone (v = -1).
    // A state where x holds b's value but y does not never existed.
    let body = "
        await a.bulkPut('notes', [{ id: 'x', thread_id: 't', v: 0 }, { id: 'y', thread_id: 't', v: 0 }]);
        const seen = []; const mixed = [];
        const sub = t.liveQuery(a, async (r) => {
            const rows = await r.getAll('notes', { index: 'thread_id', equals: 't' });
            const v = (id) => rows.find((row) => row.id === id).v;
            return [v('x'), v('y')];
        }).subscribe((s) => { seen.push(s); if (s[0] !== -1 && s[0] !== s[1]) mixed.push(s); });
        await t.until(() => seen.length === 1, 'the first value');
        for (let i = 1; i <= 40; i++) {
            await Promise.all([
                a.put('notes', { id: 'x', thread_id: 't', v: -1 }),
                b.bulkPut('notes', [{ id: 'x', thread_id: 't', v: i }, { id: 'y', thread_id: 't', v: i }]),
            ]);
            await new Promise((r) => setTimeout(r, 1 + (i % 3) * 10));
        }
        const fresh = await a.getAll('notes', { index: 'thread_id', equals: 't' });
        const last = JSON.stringify(fresh.map((row) => row.v));
        await t.until(() => JSON.stringify(seen.at(-1)) === last, 'the last state');
        sub.unsubscribe();
        return [mixed, seen.length > 10];";
    let got = run3(&a, &b, body).await;
    assert_eq!(text(&got), "[[],true]");
}
