//! Storage durability (src/js/storage.js) on real engines in each browser:
//! `persist()` and `estimate()` reported where the browser has them, the
//! eviction marker telling a database that vanished from one opened before,
//! and the pressure watch reporting once when usage passes its ratio.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use super::live::text;
use super::util::*;

const STORAGE_JS: &str = include_str!("../../src/js/storage.js");

async fn run(engine: &JsValue, body: &str) -> JsValue {
    let storage = module(STORAGE_JS).await;
    let t = Object::new();
    Reflect::set(&t, &"storage".into(), &storage).unwrap();
    let f = Function::new_with_args("a, t", &format!("return (async () => {{ {body} }})();"));
    let p: Promise = f.call2(&JsValue::NULL, engine, &t).unwrap().into();
    await_js(p).await.unwrap_or_else(|e| panic!("{body}\n{:?}", get(&e, "message")))
}

#[wasm_bindgen_test]
async fn persist_and_estimate_are_reported_where_the_browser_has_them() {
    let e: JsValue = open_engine(&unique("storage-api")).await.into();
    let body = "
        const s = t.storage;
        const m = navigator.storage;
        // Firefox asks the user: its answer stays pending in a headless run.
        const persisted = await Promise.race([s.requestPersist(), new Promise((r) => setTimeout(() => r('asked'), 1000))]);
        const kept = await s.isPersisted();
        const est = await s.estimate();
        return [
            typeof m?.persist === 'function' ? typeof persisted === 'boolean' || persisted === 'asked' : persisted === undefined,
            typeof m?.persisted === 'function' ? typeof kept === 'boolean' : kept === undefined,
            typeof m?.estimate === 'function' ? est.quota > 0 && est.usage >= 0 : est.quota === undefined,
        ];";
    assert_eq!(text(&run(&e, body).await), "[true,true,true]");
}

#[wasm_bindgen_test]
async fn a_database_that_vanished_is_told_from_one_opened_before() {
    let e: JsValue = open_engine(&unique("storage-evict")).await.into();
    let body = "
        const s = t.storage;
        const Engine = a.constructor;
        const db = a.dbName + '-evicted';
        const open = () => Engine.open({ workspaceId: 'w1', dbName: db, tables: [{ name: 'notes' }] });
        s.forgetDevice(db);
        const e1 = await open();
        const first = [e1.createdDatabase, s.checkEviction(db, e1.createdDatabase, e1.deviceId)];
        const id1 = e1.deviceId;
        await e1.put('notes', { id: 'unsynced' });
        await e1.close();
        const e2 = await open();
        const again = [e2.createdDatabase, s.checkEviction(db, e2.createdDatabase, e2.deviceId), e2.deviceId === id1];
        await e2.close();
        await new Promise((ok, fail) => { const q = indexedDB.deleteDatabase(db); q.onsuccess = ok; q.onerror = () => fail(q.error); });
        const e3 = await open();
        const evicted = s.checkEviction(db, e3.createdDatabase, e3.deviceId);
        const after = [e3.createdDatabase, evicted?.previousDeviceId === id1, e3.deviceId !== id1, await e3.get('notes', 'unsynced')];
        await e3.close();
        s.forgetDevice(db);
        const e4 = await open();
        const forgotten = s.checkEviction(db, e4.createdDatabase, e4.deviceId);
        await e4.close();
        s.forgetDevice(db);
        return [first, again, after, forgotten === undefined];";
    let got = run(&e, body).await;
    assert_eq!(text(&got), "[[true,null],[false,null,true],[true,true,true,null],true]");
}

#[wasm_bindgen_test]
async fn pressure_is_reported_once_when_usage_passes_the_ratio() {
    let e: JsValue = open_engine(&unique("storage-pressure")).await.into();
    let body = "
        const s = t.storage;
        if (typeof navigator.storage?.estimate !== 'function') return 'no estimate()';
        const low = []; const never = [];
        const w = s.watchPressure(a, 1e-12, (r) => low.push(r), 0);
        const n = s.watchPressure(a, 1, (r) => never.push(r), 0);
        await Promise.all([w.first, n.first]);
        for (let i = 0; i < 5; i++) await a.put('notes', { id: 'p' + i, body: 'x'.repeat(1000) });
        await new Promise((r) => setTimeout(r, 100));
        w.stop(); n.stop();
        const r = low[0];
        return [low.length, r.ratio, r.usage > 0 && r.quota > r.usage, w.over(), never.length, n.over()];";
    let got = run(&e, body).await;
    // A browser without estimate() has nothing to check.
    let v = text(&got);
    assert!(v == "[1,1e-12,true,true,0,false]" || v == "\"no estimate()\"", "{v}");
}

#[wasm_bindgen_test]
async fn every_write_transaction_carries_the_durability_hint() {
    let e: JsValue = open_engine(&unique("storage-durability")).await.into();
    let body = "
        const Engine = a.constructor;
        const seen = [];
        const original = IDBDatabase.prototype.transaction;
        IDBDatabase.prototype.transaction = function (names, mode, options) {
            const tx = original.call(this, names, mode, options);
            if (mode === 'readwrite') seen.push(tx.durability);
            return tx;
        };
        const out = [];
        try {
            for (const durability of ['strict', 'relaxed', undefined]) {
                const dbName = a.dbName + '-' + (durability ?? 'none');
                const config = { workspaceId: 'w1', dbName, tables: [{ name: 'notes' }] };
                const e = await Engine.open(durability ? { ...config, durability } : config);
                seen.length = 0;
                await e.put('notes', { id: 'n1', title: durability ?? 'none' });
                const hints = [...new Set(seen)].join('/');
                e.close();
                // What the hinted transactions committed is there on reopening.
                const again = await Engine.open(config);
                out.push(hints + ':' + (await again.get('notes', 'n1')).title);
                again.close();
            }
            const bad = a.dbName + '-bad';
            const refused = await Engine.open({ workspaceId: 'w1', dbName: bad, tables: [{ name: 'notes' }], durability: 'fast' })
                .then(() => 'opened', (err) => err.code + ' ' + err.path);
            const created = (await indexedDB.databases()).some((d) => d.name === bad);
            out.push(refused + (created ? ' created' : ''));
        } finally {
            IDBDatabase.prototype.transaction = original;
        }
        return out;";
    assert_eq!(
        text(&run(&e, body).await),
        r#"["strict:strict","relaxed:relaxed","default:none","INVALID config.durability"]"#
    );
}
