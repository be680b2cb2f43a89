//! The read side through the JS API: query options on `getAll`, `query`
//! and `count` (every condition, compound prefixes, order, pages), one
//! consistent snapshot across tables in `read`, and per-record sync state.

use js_sys::Function;
use serde_json::json;
use tidesync::wasm::{MemoryServer, SyncEngine};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use super::util::*;

/// Runs `body` as an async function of `e` (an engine) and `s` (a server).
pub async fn run_with(e: &JsValue, s: &JsValue, body: &str) -> Result<JsValue, JsValue> {
    let f = Function::new_with_args("e, s", &format!("return (async () => {{ {body} }})();"));
    await_js(f.call2(&JsValue::NULL, e, s)?.into()).await
}

/// A JSON string of what `body` returns.
async fn json_of(e: &JsValue, body: &str) -> String {
    json_with(e, &JsValue::NULL, body).await
}

/// A JSON string of what `body` returns, given a server too.
async fn json_with(e: &JsValue, s: &JsValue, body: &str) -> String {
    let v = run_with(e, s, body).await.unwrap_or_else(|err| panic!("{body}: {:?}", get(&err, "message")));
    js_sys::JSON::stringify(&v).unwrap().as_string().unwrap()
}

fn library(db: &str) -> JsValue {
    js(&json!({
        "workspaceId": "w1",
        "dbName": db,
        "tables": [
            { "name": "books", "indexes": ["author", "&isbn", "*tags", ["author", "year"]] },
            { "name": "shelves" },
        ],
    }))
}

const SEED: &str = "
    const authors = ['ann', 'bob', 'cy'];
    const rows = [];
    for (let i = 0; i < 12; i++) rows.push({ id: 'b' + String(i).padStart(2, '0'), author: authors[i % 3],
        year: 2000 + i, isbn: 9000 + i, tags: i % 2 ? ['odd', 'all'] : ['even', 'all'] });
    await e.bulkPut('books', rows);";

const IDS: &str = "const ids = (rows) => rows.map((r) => r.id);";

#[wasm_bindgen_test]
async fn query_options_select_order_and_page_rows() {
    let e: JsValue = SyncEngine::open_with(library(&unique("q-options"))).await.unwrap().into();
    run_with(&e, &JsValue::NULL, SEED).await.unwrap();
    let cases: &[(&str, &str)] = &[
        ("e.getAll('books', { equals: 'b03' })", r#"["b03"]"#),
        ("e.getAll('books', { anyOf: ['b07', 'b01'] })", r#"["b01","b07"]"#),
        ("e.getAll('books', { between: ['b02', 'b05'] })", r#"["b02","b03","b04"]"#),
        (
            "e.getAll('books', { between: ['b02', 'b05'], includeLower: false, includeUpper: true })",
            r#"["b03","b04","b05"]"#,
        ),
        ("e.getAll('books', { above: 'b09' })", r#"["b10","b11"]"#),
        ("e.getAll('books', { belowOrEqual: 'b01' })", r#"["b00","b01"]"#),
        ("e.getAll('books', { startsWith: 'b1' })", r#"["b10","b11"]"#),
        ("e.getAll('books', { index: 'author', equals: 'bob' })", r#"["b01","b04","b07","b10"]"#),
        (
            "e.getAll('books', { index: 'author', equals: 'bob', reverse: true, offset: 1, limit: 2 })",
            r#"["b07","b04"]"#,
        ),
        ("e.getAll('books', { index: 'isbn', aboveOrEqual: 9010 })", r#"["b10","b11"]"#),
        ("e.getAll('books', { index: 'tags', equals: 'odd', limit: 3 })", r#"["b01","b03","b05"]"#),
        ("e.getAll('books', { index: ['author', 'year'], equals: ['cy'] })", r#"["b02","b05","b08","b11"]"#),
        ("e.getAll('books', { index: '[author+year]', between: [['ann', 2003], ['ann', 2009]] })", r#"["b03","b06"]"#),
        ("e.getAll('books', { index: ['author', 'year'], equals: ['ann', 2009] })", r#"["b09"]"#),
    ];
    for (call, want) in cases {
        assert_eq!(json_of(&e, &format!("{IDS} return ids(await {call});")).await, *want, "{call}");
    }
    let counts = "return [await e.count('books'), await e.count('books', { index: 'author', equals: 'ann' }),
        await e.count('books', { index: ['author', 'year'], equals: ['bob'] }), await e.count('books', { above: 'b05' })];";
    assert_eq!(json_of(&e, counts).await, "[12,4,4,6]");
    // Keyset pages along a non-unique index return every row once, in order.
    let pages = format!(
        "{IDS} const out = []; let after; let n = 0;
        do {{ const page = await e.query('books', {{ index: 'author', limit: 5, after }}); out.push(...ids(page.rows));
             after = page.next; n++; }} while (after);
        return [n, out.join(',')];"
    );
    assert_eq!(json_of(&e, &pages).await, r#"[3,"b00,b03,b06,b09,b01,b04,b07,b10,b02,b05,b08,b11"]"#);
    // A unique index refuses a second row with its key, and nothing changes.
    let dup = run_with(&e, &JsValue::NULL, "await e.put('books', { id: 'dup', author: 'x', isbn: 9001 });").await;
    let err = dup.expect_err("a duplicate isbn");
    assert_eq!(get(&err, "code"), "STORAGE", "{:?}", get(&err, "message"));
    assert!(get(&err, "message").as_string().unwrap().contains("ConstraintError"));
    assert_eq!(json_of(&e, "return [await e.count('books'), await e.get('books', 'dup')];").await, "[12,null]");
}

#[wasm_bindgen_test]
async fn read_sees_one_state_across_tables() {
    let e: JsValue = SyncEngine::open_with(library(&unique("q-read"))).await.unwrap().into();
    run_with(&e, &JsValue::NULL, SEED).await.unwrap();
    // A write started while the read runs lands after it: the read sees
    // neither half of it, and the write is not lost.
    let body = "let write;
        const seen = await e.read(async (r) => {
            const before = await r.count('books');
            write = e.bulkPut('books', [{ id: 'new', author: 'zed', isbn: 1 }]).then(() => e.put('shelves', { id: 's1', books: ['new'] }));
            const shelves = await r.getAll('shelves');
            const after = await r.count('books');
            return [before, after, shelves.length, r.tables];
        });
        await write;
        return [seen, await e.count('books'), (await e.getAll('shelves')).length];";
    assert_eq!(json_of(&e, body).await, r#"[[12,12,0,["books","shelves"]],13,1]"#);
    // Errors: an unknown table, a reader used after its function ended.
    let err = run_with(&e, &JsValue::NULL, "await e.read((r) => r.get('nope', 1));").await.unwrap_err();
    assert_eq!(get(&err, "code"), "INVALID");
    let late = "const r = await e.read((r) => r); return await r.get('books', 'b01');";
    let err = run_with(&e, &JsValue::NULL, late).await.unwrap_err();
    assert_eq!(get(&err, "path"), "reader", "{:?}", get(&err, "message"));
    // An exception in the function comes back as it was thrown.
    let err = run_with(&e, &JsValue::NULL, "await e.read(() => { throw new RangeError('mine'); });").await.unwrap_err();
    assert_eq!(get(&err, "name"), "RangeError");
}

#[wasm_bindgen_test]
async fn record_status_moves_from_pending_to_synced_and_through_failed() {
    let server = MemoryServer::new();
    let e = open_synced(&unique("q-status"), &server, json!({ "autoSync": false })).await;
    let s: JsValue = server.into();
    let e: JsValue = e.into();
    let states = "(await e.recordStatus('notes', ['a', 'b', 'c'])).map((x) => x.state)";
    run_with(&e, &s, "await e.put('notes', { id: 'a' }); await e.put('notes', { id: 'b' });").await.unwrap();
    assert_eq!(json_of(&e, &format!("return {states};")).await, r#"["pending","pending","synced"]"#);
    // An op is in the outbox until the server acknowledges it.
    let body = "const stamp = await e.put('notes', { id: 'c' }); const before = await e.opState(stamp.opId);
        await e.syncNow(); return [before.state, await e.opState(stamp.opId)];";
    assert_eq!(json_of(&e, body).await, r#"["pending",null]"#);
    assert_eq!(json_of(&e, &format!("return {states};")).await, r#"["synced","synced","synced"]"#);
    // A rejected write: failed with its error, then retried to synced.
    let fail = "const stamp = await e.put('notes', { id: 'a', v: 2 }); s.rejectOps([stamp.opId], false);
        await e.syncNow(); const st = await e.recordStatus('notes', ['a']);
        return [st[0].state, st[0].opIds.length, typeof st[0].lastError, (await e.opState(stamp.opId)).state];";
    assert_eq!(json_with(&e, &s, fail).await, r#"["failed",1,"string","failed"]"#);
    let retry = "s.clearRejections(); await e.retryFailed(); await e.syncNow();
        return (await e.recordStatus('notes', ['a']))[0].state;";
    assert_eq!(json_with(&e, &s, retry).await, r#""synced""#);
}
