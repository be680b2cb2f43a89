//! A query patched with the rows that changed (store/query_patch.rs) is what
//! running it again returns, on both stores: random puts, moves and deletes
//! against conditions on the primary key and on plain and compound indexes,
//! reversed, limited and paged.

use serde_json::{json, Value};
use tidesync::core::key::Bound;
use tidesync::store::query_patch::patch;
use tidesync::store::{Access, After, Key, KeyRange, Query, Store, StoreTx, Where};

use super::query::{books, seeded, AUTHORS};
use super::Harness;

fn queries() -> Vec<Query> {
    let on = |index: &str, filter: Where| Query { index: Some(index.into()), filter, ..Query::default() };
    let compound = "[author+year+title]";
    let prefix = |a: &str| Where::Equals(Key::Array(vec![Key::from(a)]));
    let years = Where::Range(KeyRange {
        lower: Some(Bound { key: Key::Array(vec![Key::from("ann"), Key::Num(2003.0)]), open: false }),
        upper: Some(Bound { key: Key::Array(vec![Key::from("ann"), Key::Num(2009.0)]), open: true }),
    });
    vec![
        Query::default(),
        Query { reverse: true, ..Query::default() },
        Query { filter: Where::StartsWith("b0".into()), ..Query::default() },
        on("author", Where::Equals(Key::from("bob"))),
        on("author", Where::AnyOf(vec![Key::from("cy"), Key::from("ann")])),
        on(compound, prefix("ann")),
        on(compound, years),
        Query { limit: Some(3), ..on("author", Where::Equals(Key::from("cy"))) },
        Query { limit: Some(2), reverse: true, ..on(compound, prefix("bob")) },
        Query {
            after: Some(After { key: Key::Array(vec![Key::from("cy"), Key::Num(2005.0)]), pk: Key::from("b05") }),
            ..on(compound, prefix("cy"))
        },
    ]
}

async fn run<H: Harness>(h: &H, store: &H::S, query: &Query) -> Vec<Value> {
    let tx = store.begin(Access::Read, Some("books")).await.unwrap();
    let rows = tx.query("books", query).await.unwrap().rows;
    tx.commit().await.unwrap();
    rows.iter().map(|r| h.json(r)).collect()
}

pub async fn query_patch_agrees_with_running_the_query_again<H: Harness>(h: H)
where
    super::Rec<H>: tidesync::store::rows::Row + Clone,
{
    let store = seeded(&h).await;
    let mut seed = 7u64;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let (mut patched, mut gave_up) = (0, 0);
    for _ in 0..20 {
        let tx = store.begin(Access::Read, Some("books")).await.unwrap();
        let mut before = Vec::new();
        for q in queries() {
            before.push(tx.query("books", &q).await.unwrap().rows);
        }
        tx.commit().await.unwrap();
        // One to three changes: a new, moved or edited book, or a delete.
        let mut ids: Vec<String> = (0..1 + next(3)).map(|_| format!("b{:02}", next(16))).collect();
        ids.sort();
        ids.dedup();
        let tx = store.begin(Access::Write, Some("books")).await.unwrap();
        for id in &ids {
            let n: u64 = id[1..].parse().unwrap();
            if next(4) == 0 {
                tx.delete_records("books", &[id.as_str().into()]).await.unwrap();
            } else {
                let row = json!({
                    "id": id, "author": AUTHORS[next(3) as usize], "year": 2000 + next(12),
                    "title": format!("t{}", next(5)), "isbn": 9000 + n, "tags": ["all"],
                });
                tx.put_records("books", vec![h.rec(row)]).await.unwrap();
            }
        }
        tx.commit().await.unwrap();
        let keys: Vec<_> = ids.iter().map(|id| id.as_str().into()).collect();
        let tx = store.begin(Access::Read, Some("books")).await.unwrap();
        let now = tx.get_records("books", &keys).await.unwrap();
        tx.commit().await.unwrap();
        let changed: Vec<(Key, _)> = ids.iter().map(|id| Key::from(id.as_str())).zip(now).collect();
        for (q, rows) in queries().iter().zip(&before) {
            match patch(&books(), q, rows, &changed).unwrap() {
                Some(out) => {
                    patched += 1;
                    let out: Vec<Value> = out.iter().map(|r| h.json(r)).collect();
                    assert_eq!(out, run(&h, &store, q).await, "{q:?} after {ids:?}");
                }
                None => gave_up += 1,
            }
        }
    }
    // Only a full window that shrank may give up.
    assert!(patched > 150 && gave_up < 50, "patched {patched}, gave up {gave_up}");
}
