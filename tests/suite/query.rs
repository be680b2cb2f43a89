//! Queries (store/query.rs) against both stores: every condition on the
//! primary key and on plain, unique, multi-entry and compound indexes,
//! compound prefixes, order, reverse, offset, limit, keyset pages and
//! counts, and indexes added or removed by a reopen.

use serde_json::{json, Value};
use tidesync::core::key::Bound;
use tidesync::store::schema::IndexSpec;
use tidesync::store::{Access, After, Key, KeyRange, Query, Schema, Store, StoreTx, TableSchema, Where};

use super::Harness;

pub(super) fn books() -> TableSchema {
    TableSchema {
        name: "books".into(),
        primary_key: "id".into(),
        indexes: vec![
            IndexSpec::field("author"),
            IndexSpec { unique: true, ..IndexSpec::field("isbn") },
            IndexSpec { multi_entry: true, ..IndexSpec::field("tags") },
            IndexSpec::compound(&["author", "year", "title"]),
        ],
        order_key: false,
    }
}

pub(super) fn library() -> Schema {
    Schema::new(vec![books()])
}

pub(super) const AUTHORS: [&str; 3] = ["ann", "bob", "cy"];

/// 12 books: b00..b11, author by i % 3, year 2000 + i, tags by parity.
pub(super) fn book(i: usize) -> Value {
    let tags = if i % 2 == 0 { json!(["even", "all"]) } else { json!(["odd", "all"]) };
    json!({
        "id": format!("b{i:02}"), "author": AUTHORS[i % 3], "year": 2000 + i as u64,
        "title": format!("t{}", 11 - i), "isbn": 9000 + i as u64, "tags": tags,
    })
}

pub(super) async fn seeded<H: Harness>(h: &H) -> H::S {
    let store = h.open(library()).await;
    let tx = store.begin(Access::Write, Some("books")).await.unwrap();
    tx.put_records("books", (0..12).map(|i| h.rec(book(i))).collect()).await.unwrap();
    tx.commit().await.unwrap();
    store
}

fn q(index: Option<&str>, filter: Where) -> Query {
    Query { index: index.map(str::to_string), filter, ..Query::default() }
}

/// The ids a query returns, in order, and its count.
async fn ids<H: Harness>(h: &H, store: &H::S, query: &Query) -> Vec<String> {
    let tx = store.begin(Access::Read, Some("books")).await.unwrap();
    let page = tx.query("books", query).await.unwrap();
    tx.commit().await.unwrap();
    page.rows.iter().map(|r| h.json(r)["id"].as_str().unwrap().to_string()).collect()
}

async fn count<H: Harness>(store: &H::S, query: &Query) -> u64 {
    let tx = store.begin(Access::Read, Some("books")).await.unwrap();
    let n = tidesync::store::query::count(&tx, &books(), query).await.unwrap();
    tx.commit().await.unwrap();
    n
}

fn list(ids: &[usize]) -> Vec<String> {
    ids.iter().map(|i| format!("b{i:02}")).collect()
}

fn range(lo: Option<(Key, bool)>, hi: Option<(Key, bool)>) -> Where {
    let b = |x: Option<(Key, bool)>| x.map(|(key, open)| Bound { key, open });
    Where::Range(KeyRange { lower: b(lo), upper: b(hi) })
}

pub async fn query_conditions_on_the_primary_key_and_an_index<H: Harness>(h: H) {
    let store = seeded(&h).await;
    let k = |s: &str| Key::from(s);
    // Primary key.
    assert_eq!(ids(&h, &store, &q(None, Where::All)).await, list(&(0..12).collect::<Vec<_>>()));
    assert_eq!(ids(&h, &store, &q(None, Where::Equals(k("b03")))).await, list(&[3]));
    assert_eq!(
        ids(&h, &store, &q(None, Where::AnyOf(vec![k("b07"), k("b01"), k("b07"), k("zz")]))).await,
        list(&[1, 7])
    );
    let between = range(Some((k("b02"), false)), Some((k("b05"), true)));
    assert_eq!(ids(&h, &store, &q(None, between.clone())).await, list(&[2, 3, 4]), "lower in, upper out");
    let inclusive = range(Some((k("b02"), true)), Some((k("b05"), false)));
    assert_eq!(ids(&h, &store, &q(None, inclusive)).await, list(&[3, 4, 5]), "lower out, upper in");
    assert_eq!(ids(&h, &store, &q(None, range(Some((k("b09"), true)), None))).await, list(&[10, 11]));
    assert_eq!(ids(&h, &store, &q(None, range(None, Some((k("b01"), false))))).await, list(&[0, 1]));
    assert_eq!(ids(&h, &store, &q(None, Where::StartsWith("b1".into()))).await, list(&[10, 11]));
    assert_eq!(ids(&h, &store, &q(None, range(Some((k("b05"), false)), Some((k("b01"), false))))).await, list(&[]));
    // A plain index: by its key, then by primary key.
    assert_eq!(ids(&h, &store, &q(Some("author"), Where::Equals(k("bob")))).await, list(&[1, 4, 7, 10]));
    assert_eq!(
        ids(&h, &store, &q(Some("author"), Where::AnyOf(vec![k("cy"), k("ann")]))).await,
        list(&[0, 3, 6, 9, 2, 5, 8, 11])
    );
    assert_eq!(ids(&h, &store, &q(Some("author"), Where::StartsWith("b".into()))).await, list(&[1, 4, 7, 10]));
    let isbn = q(Some("isbn"), range(Some((Key::Num(9004.0), false)), Some((Key::Num(9006.0), false))));
    assert_eq!(ids(&h, &store, &isbn).await, list(&[4, 5, 6]));
    // Order, reverse, offset, limit.
    let bob = q(Some("author"), Where::Equals(k("bob")));
    let rev = Query { reverse: true, ..bob.clone() };
    assert_eq!(ids(&h, &store, &rev).await, list(&[10, 7, 4, 1]));
    let window = Query { offset: 1, limit: Some(2), ..bob.clone() };
    assert_eq!(ids(&h, &store, &window).await, list(&[4, 7]));
    let rev_window = Query { offset: 1, limit: Some(2), ..rev.clone() };
    assert_eq!(ids(&h, &store, &rev_window).await, list(&[7, 4]));
    let any_window = Query { offset: 2, limit: Some(3), ..q(Some("author"), Where::AnyOf(vec![k("cy"), k("ann")])) };
    assert_eq!(ids(&h, &store, &any_window).await, list(&[6, 9, 2]), "anyOf merges before the window");
    // Counts of the same conditions.
    assert_eq!(count::<H>(&store, &bob).await, 4);
    assert_eq!(count::<H>(&store, &q(None, between)).await, 3);
    assert_eq!(count::<H>(&store, &q(Some("author"), Where::AnyOf(vec![k("cy"), k("ann")]))).await, 8);
    assert_eq!(count::<H>(&store, &q(None, Where::All)).await, 12);
}

pub async fn query_compound_prefixes_and_multi_entry<H: Harness>(h: H) {
    let store = seeded(&h).await;
    let arr = |items: Vec<Key>| Key::Array(items);
    let compound = Some("[author+year+title]");
    // A one-field prefix: every book of the author, by year.
    let ann = q(compound, Where::Equals(arr(vec!["ann".into()])));
    assert_eq!(ids(&h, &store, &ann).await, list(&[0, 3, 6, 9]));
    assert_eq!(count::<H>(&store, &ann).await, 4);
    let ann_rev = Query { reverse: true, limit: Some(2), ..ann.clone() };
    assert_eq!(ids(&h, &store, &ann_rev).await, list(&[9, 6]));
    // A two-field prefix.
    let exact = q(compound, Where::Equals(arr(vec!["bob".into(), Key::Num(2004.0)])));
    assert_eq!(ids(&h, &store, &exact).await, list(&[4]));
    // A range over a prefix: the upper bound covers its whole prefix when included.
    let lo = arr(vec!["ann".into(), Key::Num(2003.0)]);
    let hi = arr(vec!["ann".into(), Key::Num(2006.0)]);
    let incl = q(compound, range(Some((lo.clone(), false)), Some((hi.clone(), false))));
    assert_eq!(ids(&h, &store, &incl).await, list(&[3, 6]));
    let excl = q(compound, range(Some((lo, true)), Some((hi, true))));
    assert_eq!(ids(&h, &store, &excl).await, list(&[]), "both ends left out with their prefixes");
    // A full key.
    let full = q(compound, Where::Equals(arr(vec!["cy".into(), Key::Num(2005.0), "t6".into()])));
    assert_eq!(ids(&h, &store, &full).await, list(&[5]));
    // Multi-entry: a row is found under each element of its array.
    assert_eq!(ids(&h, &store, &q(Some("tags"), Where::Equals("odd".into()))).await, list(&[1, 3, 5, 7, 9, 11]));
    assert_eq!(count::<H>(&store, &q(Some("tags"), Where::Equals("all".into()))).await, 12);
    let none = q(Some("tags"), Where::Equals("none".into()));
    assert_eq!(ids(&h, &store, &none).await, list(&[]));
}

/// Walks `query` page by page, writing `during` after the first page.
async fn walk<H: Harness>(h: &H, store: &H::S, query: &Query, during: Option<Value>) -> Vec<String> {
    let mut out = Vec::new();
    let mut after: Option<After> = None;
    for round in 0..50 {
        let tx = store.begin(Access::Read, Some("books")).await.unwrap();
        let page = tx.query("books", &Query { after: after.clone(), ..query.clone() }).await.unwrap();
        tx.commit().await.unwrap();
        out.extend(page.rows.iter().map(|r| h.json(r)["id"].as_str().unwrap().to_string()));
        if round == 0 {
            if let Some(row) = &during {
                let tx = store.begin(Access::Write, Some("books")).await.unwrap();
                tx.put_records("books", vec![h.rec(row.clone())]).await.unwrap();
                tx.commit().await.unwrap();
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
    panic!("the pages never ended: {out:?}");
}

pub async fn query_keyset_pages_return_every_row_once<H: Harness>(h: H) {
    let store = seeded(&h).await;
    let page = |index: Option<&str>, reverse: bool| Query {
        index: index.map(str::to_string),
        reverse,
        limit: Some(3),
        ..Query::default()
    };
    let all = |index: Option<&str>, reverse: bool| Query { limit: None, ..page(index, reverse) };
    for (index, reverse) in [(None, false), (None, true), (Some("author"), false), (Some("author"), true)] {
        let whole = ids(&h, &store, &all(index, reverse)).await;
        assert_eq!(walk(&h, &store, &page(index, reverse), None).await, whole, "{index:?} reverse={reverse}");
    }
    // A non-unique index with pages that end inside a run of equal keys.
    let two = Query { index: Some("author".into()), limit: Some(2), ..Query::default() };
    assert_eq!(walk(&h, &store, &two, None).await, list(&[0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]));
    // Pages of one: every page resumes inside a run of equal keys.
    let one = Query { limit: Some(1), ..two.clone() };
    assert_eq!(walk(&h, &store, &one, None).await, list(&[0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]));
    let one_rev = Query { reverse: true, ..one };
    assert_eq!(walk(&h, &store, &one_rev, None).await, list(&[11, 8, 5, 2, 10, 7, 4, 1, 9, 6, 3, 0]));
    // A row written behind the walk's position is not seen; one ahead is.
    let behind = json!({ "id": "a00", "author": "ann", "year": 1, "title": "x", "isbn": 1, "tags": [] });
    let got = walk(&h, &store, &page(None, false), Some(behind)).await;
    assert_eq!(got, list(&(0..12).collect::<Vec<_>>()));
    let ahead = json!({ "id": "b99", "author": "cy", "year": 1, "title": "x", "isbn": 2, "tags": [] });
    let got = walk(&h, &store, &page(None, false), Some(ahead)).await;
    assert_eq!(got.last().map(String::as_str), Some("b99"));
    assert_eq!(got.len(), 14, "a00 from before, the 12, and b99");
    // A page that ends the table says so.
    let tx = store.begin(Access::Read, Some("books")).await.unwrap();
    let last = tx.query("books", &Query { limit: Some(100), ..Query::default() }).await.unwrap();
    tx.commit().await.unwrap();
    assert!(last.next.is_none(), "fewer rows than the limit: no next page");
}

pub async fn query_unique_index_refuses_a_duplicate_and_changes_nothing<H: Harness>(h: H) {
    let store = seeded(&h).await;
    let tx = store.begin(Access::Write, Some("books")).await.unwrap();
    let twin = json!({ "id": "new", "author": "ann", "year": 1, "title": "x", "isbn": 9003, "tags": [] });
    let put = tx.put_records("books", vec![h.rec(twin)]).await;
    let committed = match put {
        Ok(()) => tx.commit().await,
        Err(e) => {
            drop(tx);
            Err(e)
        }
    };
    let err = committed.expect_err("a second row with isbn 9003");
    assert_eq!(err.code(), "STORAGE", "{err}");
    assert!(err.to_string().contains("ConstraintError"), "{err}");
    assert_eq!(ids(&h, &store, &q(None, Where::Equals("new".into()))).await, list(&[]));
    assert_eq!(count::<H>(&store, &q(None, Where::All)).await, 12);
}

pub async fn query_indexes_follow_the_config_on_reopen<H: Harness>(h: H) {
    let bare = TableSchema { indexes: vec![], ..books() };
    let store = h.open(Schema::new(vec![bare.clone()])).await;
    let tx = store.begin(Access::Write, Some("books")).await.unwrap();
    tx.put_records("books", (0..6).map(|i| h.rec(book(i))).collect()).await.unwrap();
    tx.commit().await.unwrap();
    store.close();
    // Added indexes cover the rows already there.
    let store = h.open(library()).await;
    assert_eq!(ids(&h, &store, &q(Some("author"), Where::Equals("cy".into()))).await, list(&[2, 5]));
    let prefix = q(Some("[author+year+title]"), Where::Equals(Key::Array(vec!["bob".into()])));
    assert_eq!(ids(&h, &store, &prefix).await, list(&[1, 4]));
    store.close();
    // A removed index is gone; the rows stay.
    let store = h.open(Schema::new(vec![bare])).await;
    let tx = store.begin(Access::Read, Some("books")).await.unwrap();
    let err = tx.query("books", &q(Some("author"), Where::Equals("cy".into()))).await.unwrap_err();
    tx.commit().await.unwrap();
    assert_eq!(err.code(), "INVALID", "{err}");
    assert_eq!(count::<H>(&store, &q(None, Where::All)).await, 6);
    store.close();
}
