//! Bad input from JS, refused at the door: records that are not plain JSON
//! data, `undefined` values, an empty primary key, and option objects with
//! keys the engine does not know. Each case must reject with a typed
//! `INVALID` (not retryable, a short message, the path of the bad value) and
//! leave the database exactly as it was. The calls go through the JS API, as
//! an app makes them.

use js_sys::Function;
use serde_json::json;
use tidesync::wasm::SyncEngine;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

use super::util::*;

/// Runs `body` as an async function of `e` (the engine, as JS sees it).
async fn run(e: &JsValue, body: &str) -> Result<JsValue, JsValue> {
    let f = Function::new_with_args("e", &format!("return (async () => {{ {body} }})();"));
    await_js(f.call1(&JsValue::NULL, e)?.into()).await
}

/// Everything the app and the engine can see: rows of both tables and the outbox.
const DUMP: &str =
    "return JSON.stringify([await e.getAll('notes'), await e.getAll('messages'), await e.pendingOps()]);";

/// An engine holding one record and its queued op, as a JS object.
async fn engine_with_a_record(name: &str) -> JsValue {
    let e: JsValue = open_engine(&unique(name)).await.into();
    run(&e, "await e.put('notes', { id: 'kept', title: 'before' });").await.unwrap();
    e
}

/// Checks that `call` rejects with INVALID at `path`, changing nothing.
async fn refused(e: &JsValue, what: &str, call: &str, path: &str) -> JsValue {
    let before = run(e, DUMP).await.unwrap();
    let err = run(e, &format!("return await {call};")).await.expect_err(&format!("{what}: accepted"));
    assert_eq!(get(&err, "name"), "TidesyncError", "{what}: {err:?}");
    assert_eq!(get(&err, "code"), "INVALID", "{what}: {:?}", get(&err, "message"));
    assert_eq!(get(&err, "retryable"), false, "{what}");
    assert_eq!(get(&err, "path"), path, "{what}: {:?}", get(&err, "message"));
    let message = get(&err, "message").as_string().unwrap();
    assert!(message.len() < 300, "{what}: a short message, not a stack trace: {message}");
    assert_eq!(run(e, DUMP).await.unwrap(), before, "{what}: the database changed");
    err
}

const NOT_PLAIN: &[(&str, &str, &str)] = &[
    ("a Date", "e.bulkPut('notes', [{ id: 'a' }, { id: 'b' }, { id: 'c', when: new Date() }])", "records[2].when"),
    ("a Map", "e.put('notes', { id: 'a', m: new Map([[1, 2]]) })", "records[0].m"),
    ("a Set", "e.put('notes', { id: 'a', s: new Set([1]) })", "records[0].s"),
    ("a Blob", "e.put('notes', { id: 'a', file: new Blob(['x']) })", "records[0].file"),
    ("an ArrayBuffer", "e.put('notes', { id: 'a', raw: new ArrayBuffer(4) })", "records[0].raw"),
    ("a typed array", "e.put('notes', { id: 'a', bytes: new Uint8Array([1, 2]) })", "records[0].bytes"),
    ("a BigInt", "e.put('notes', { id: 'a', n: 10n })", "records[0].n"),
    ("a function", "e.put('notes', { id: 'a', f() { return 1; } })", "records[0].f"),
    ("a symbol", "e.put('notes', { id: 'a', s: Symbol('x') })", "records[0].s"),
    ("NaN", "e.put('notes', { id: 'a', n: NaN })", "records[0].n"),
    ("Infinity", "e.put('notes', { id: 'a', n: Infinity })", "records[0].n"),
    ("-Infinity", "e.put('notes', { id: 'a', n: -Infinity })", "records[0].n"),
    ("a cycle", "(() => { const r = { id: 'a' }; r.self = r; return e.put('notes', r); })()", "records[0].self"),
    (
        "a nested cycle",
        "(() => { const r = { id: 'a', a: { b: {} } }; r.a.b.up = r.a; return e.put('notes', r); })()",
        "records[0].a.b.up",
    ),
    ("a Date deep in an array", "e.bulkPut('notes', [{ id: 'a', tags: ['x', 'y', 'z', new Date()] }])", "records[0].tags[3]"),
    ("an odd key", "e.put('notes', { id: 'a', 'two words': { x: NaN } })", "records[0][\"two words\"].x"),
    (
        "a class instance",
        "(() => { class Point { constructor() { this.x = 1; } } return e.put('notes', { id: 'a', p: new Point() }); })()",
        "records[0].p",
    ),
    (
        "a class instance as the record",
        "(() => { class Note { constructor() { this.id = 'a'; } } return e.put('notes', new Note()); })()",
        "records[0]",
    ),
    ("a Date as the record", "e.put('notes', new Date())", "records[0]"),
    ("a boxed string", "e.put('notes', { id: 'a', s: new String('x') })", "records[0].s"),
    (
        "an Array subclass",
        "(() => { class List extends Array {} return e.put('notes', { id: 'a', l: List.from([1]) }); })()",
        "records[0].l",
    ),
];

#[wasm_bindgen_test]
async fn records_that_are_not_plain_json_data_are_refused_with_a_path() {
    let e = engine_with_a_record("not-plain").await;
    for (what, call, path) in NOT_PLAIN {
        refused(&e, what, call, path).await;
    }
    let err = refused(&e, "a function", "e.put('notes', { id: 'a', f() {} })", "records[0].f").await;
    let message = get(&err, "message").as_string().unwrap();
    assert!(message.contains("function"), "the message says what is wrong: {message}");
    let err = refused(&e, "a Date", "e.put('notes', { id: 'a', when: new Date() })", "records[0].when").await;
    assert!(get(&err, "message").as_string().unwrap().contains("Date"));
}

#[wasm_bindgen_test]
async fn undefined_values_are_refused_in_objects_and_arrays() {
    let e = engine_with_a_record("undefined").await;
    refused(&e, "an undefined property", "e.put('notes', { id: 'a', note: undefined })", "records[0].note").await;
    refused(&e, "undefined in an array", "e.put('notes', { id: 'a', list: [1, undefined] })", "records[0].list[1]")
        .await;
    refused(&e, "a hole in an array", "e.put('notes', { id: 'a', list: [1, , 3] })", "records[0].list[1]").await;
    refused(
        &e,
        "a nested undefined",
        "e.bulkPut('notes', [{ id: 'a' }, { id: 'b', x: { y: undefined } }])",
        "records[1].x.y",
    )
    .await;
}

#[wasm_bindgen_test]
async fn plain_data_of_every_json_shape_is_accepted() {
    let e = engine_with_a_record("plain").await;
    let stored = run(
        &e,
        "const shared = { n: 1 };
         const bare = Object.create(null); bare.id = 'bare'; bare.v = [1, 'x', null, true, { deep: [[-0.5]] }];
         await e.bulkPut('notes', [
           { id: 'a', s: '', n: -1.5e300, b: false, z: null, list: [], obj: {}, one: shared, two: shared },
           bare,
         ]);
         return JSON.stringify([await e.get('notes', 'a'), await e.get('notes', 'bare')]);",
    )
    .await
    .expect("plain data, a prototype-less object and a shared (not cyclic) object are accepted");
    let s = stored.as_string().unwrap();
    assert!(s.contains("\"two\":{\"n\":1}") && s.contains("\"deep\":[[-0.5]]"), "{s}");
}

#[wasm_bindgen_test]
async fn an_empty_string_primary_key_is_refused() {
    let e = engine_with_a_record("empty-pk").await;
    refused(&e, "an empty id", "e.put('notes', { id: '' })", "records[0].id").await;
    refused(&e, "an empty id among good ones", "e.bulkPut('notes', [{ id: 'x' }, { id: '' }])", "records[1].id").await;
    run(&e, "await e.put('notes', { id: ' ' }); await e.put('notes', { id: 0 });").await.expect("' ' and 0 are keys");
}

#[wasm_bindgen_test]
async fn unknown_option_keys_are_refused_naming_the_key_and_the_accepted_ones() {
    let e = engine_with_a_record("options").await;
    let err =
        refused(&e, "getAll with an unknown key", "e.getAll('notes', { within: [1, 2] })", "options.within").await;
    let message = get(&err, "message").as_string().unwrap();
    assert!(message.contains("index") && message.contains("between") && message.contains("limit"), "{message}");
    refused(
        &e,
        "getAll with a typo",
        "e.getAll('notes', { index: 'thread_id', equals: 't', limt: 5 })",
        "options.limt",
    )
    .await;
    refused(
        &e,
        "count with a field as if it were a filter",
        "e.count('notes', { thread_id: 't' })",
        "options.thread_id",
    )
    .await;
    refused(&e, "count with a number", "e.count('notes', 5)", "options").await;
    refused(&e, "two conditions", "e.getAll('notes', { equals: 1, above: 0 })", "options.above").await;
    refused(&e, "a bound that is not a key", "e.getAll('notes', { above: true })", "options.above").await;
    let n = run(&e, "return [await e.count('notes'), await e.count('notes', undefined)];").await.unwrap();
    assert_eq!(js_sys::JSON::stringify(&n).unwrap(), "[1,1]", "count(table) still counts");
    let rows = run(&e, "return (await e.getAll('notes', { limit: 1, index: undefined })).length;").await.unwrap();
    assert_eq!(rows, 1, "known keys, and undefined values of known keys, are fine");
}

#[wasm_bindgen_test]
async fn open_refuses_unknown_config_keys_and_creates_no_database() {
    let db = unique("open-typo");
    let cases = [
        (
            json!({ "workspaceId": "w1", "dbName": db, "tables": [{ "name": "notes" }], "autosync": false }),
            "config.autosync",
        ),
        (
            json!({ "workspaceId": "w1", "dbName": db, "tables": [{ "name": "notes", "index": ["x"] }] }),
            "config.tables[0].index",
        ),
    ];
    for (cfg, path) in cases {
        let err = await_js(SyncEngine::open(js(&cfg))).await.expect_err(path);
        assert_eq!(get(&err, "code"), "INVALID", "{path}");
        assert_eq!(get(&err, "path"), path);
        let message = get(&err, "message").as_string().unwrap();
        assert!(message.contains("autoSync") || message.contains("indexes"), "names the accepted keys: {message}");
    }
    let err = await_js(SyncEngine::open(js(
        &json!({ "workspaceId": "w1", "dbName": db, "tables": [{ "name": "n" }], "autosync": false }),
    )))
    .await
    .unwrap_err();
    assert!(get(&err, "message").as_string().unwrap().contains("did you mean \"autoSync\""), "{err:?}");
    let names = run(&JsValue::NULL, "return JSON.stringify((await indexedDB.databases()).map((d) => d.name));").await;
    assert!(!names.unwrap().as_string().unwrap().contains(&db), "a refused open creates no database");
}
