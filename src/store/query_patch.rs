//! A query's new rows from its previous rows and the rows that changed,
//! without reading the table: what lets a live query re-run in the time it
//! takes to read the few changed records instead of its whole result.
//!
//! Each changed row leaves the result and, if the query's condition selects
//! it now, enters at its place in the walk (its index key, then its primary
//! key, reversed for `reverse`). That is exact for a query without `offset`
//! on a single-valued key. With a `limit` the previous rows were a window:
//! rows past its last one were never seen, so anything that lands past it is
//! dropped, and when fewer than `limit` rows remain the answer is unknown
//! (`None`: read the query again). A multi-entry index (a row with several
//! keys there) and `offset` are always `None`.

use std::cmp::Ordering;

use super::query::{position, Query, Walk};
use super::rows::Row;
use super::schema::TableSchema;
use crate::core::key::Key;
use crate::core::Invalid;

/// `before` (what `query` returned) with `changed` applied: each changed
/// record's primary key and its row now (`None`: deleted). `Ok(None)` when
/// the new rows cannot be known without running the query again.
pub fn patch<R: Row + Clone>(
    table: &TableSchema,
    query: &Query,
    before: &[R],
    changed: &[(Key, Option<R>)],
) -> Result<Option<Vec<R>>, Invalid> {
    let walk = Walk::of(table, query)?;
    if query.offset > 0 || walk.index.as_ref().is_some_and(|i| i.multi_entry) {
        return Ok(None);
    }
    let in_walk = |a: &super::After, b: &super::After| {
        let o = (&a.key, &a.pk).cmp(&(&b.key, &b.pk));
        if query.reverse {
            o.reverse()
        } else {
            o
        }
    };
    let mut rows = Vec::with_capacity(before.len() + changed.len());
    for row in before {
        match position(row, &walk, table) {
            Some(p) => rows.push((p, row.clone())),
            None => return Ok(None),
        }
    }
    // With a limit reached, the previous rows were a window ending at its
    // last row: nothing past it was seen.
    let full = query.limit.is_some_and(|l| rows.len() >= l as usize);
    let end = if full { rows.last().map(|(p, _)| p.clone()) } else { None };
    let ranges = walk.ranges(&query.filter);
    for (pk, now) in changed {
        rows.retain(|(p, _)| p.pk != *pk);
        let Some(row) = now else { continue };
        let Some(p) = position(row, &walk, table) else { continue };
        let selected = ranges.iter().any(|r| r.contains(&p.key))
            && query.after.as_ref().is_none_or(|a| in_walk(&p, a) == Ordering::Greater)
            && (!full || end.as_ref().is_some_and(|e| in_walk(&p, e) != Ordering::Greater));
        if selected {
            let at = rows.partition_point(|(q, _)| in_walk(q, &p) == Ordering::Less);
            rows.insert(at, (p, row.clone()));
        }
    }
    if let (true, Some(limit)) = (full, query.limit) {
        if rows.len() < limit as usize {
            return Ok(None);
        }
        rows.truncate(limit as usize);
    }
    Ok(Some(rows.into_iter().map(|(_, r)| r).collect()))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::store::query::Where;
    use crate::store::schema::IndexSpec;

    fn table() -> TableSchema {
        TableSchema {
            name: "m".into(),
            primary_key: "id".into(),
            indexes: vec![IndexSpec::compound(&["t", "i"]), IndexSpec::field("i")],
            order_key: false,
        }
    }

    fn row(id: &str, t: &str, i: i64) -> Value {
        json!({ "id": id, "t": t, "i": i })
    }

    fn ids(rows: &[Value]) -> Vec<&str> {
        rows.iter().map(|r| r["id"].as_str().unwrap()).collect()
    }

    fn thread(t: &str) -> Query {
        Query {
            index: Some("[t+i]".into()),
            filter: Where::Equals(Key::Array(vec![Key::Str(t.into())])),
            ..Query::default()
        }
    }

    fn key(id: &str) -> Key {
        Key::Str(id.into())
    }

    #[test]
    fn an_update_in_place_a_move_an_insert_and_a_delete() {
        let before = vec![row("a", "x", 1), row("b", "x", 2), row("c", "x", 3)];
        let changed = vec![
            (key("b"), Some(json!({ "id": "b", "t": "x", "i": 2, "body": "new" }))),
            (key("a"), Some(row("a", "x", 9))),
            (key("d"), Some(row("d", "x", 0))),
            (key("c"), None),
            (key("e"), Some(row("e", "y", 1))),
        ];
        let out = patch(&table(), &thread("x"), &before, &changed).unwrap().unwrap();
        assert_eq!(ids(&out), ["d", "b", "a"]);
        assert_eq!(out[1]["body"], "new");
    }

    #[test]
    fn reverse_walks_keys_and_primary_keys_down() {
        let q = Query { index: Some("i".into()), reverse: true, ..Query::default() };
        let before = vec![row("b", "x", 2), row("a", "x", 1)];
        let out = patch(&table(), &q, &before, &[(key("c"), Some(row("c", "x", 2)))]).unwrap().unwrap();
        assert_eq!(ids(&out), ["c", "b", "a"]);
    }

    #[test]
    fn a_full_window_drops_what_lands_past_it_and_gives_up_when_it_shrinks() {
        let q = Query { limit: Some(2), ..thread("x") };
        let before = vec![row("a", "x", 1), row("b", "x", 2)];
        let past = patch(&table(), &q, &before, &[(key("z"), Some(row("z", "x", 5)))]).unwrap().unwrap();
        assert_eq!(ids(&past), ["a", "b"]);
        let inside = patch(&table(), &q, &before, &[(key("z"), Some(row("z", "x", 0)))]).unwrap().unwrap();
        assert_eq!(ids(&inside), ["z", "a"]);
        assert_eq!(patch(&table(), &q, &before, &[(key("a"), None)]).unwrap(), None);
        // A window that is not full is the whole result.
        let short = Query { limit: Some(5), ..thread("x") };
        let out = patch(&table(), &short, &before, &[(key("a"), None)]).unwrap().unwrap();
        assert_eq!(ids(&out), ["b"]);
    }

    #[test]
    fn rows_at_or_before_after_stay_out() {
        let q = Query {
            after: Some(crate::store::After {
                key: Key::Array(vec![Key::Str("x".into()), Key::Num(2.0)]),
                pk: key("b"),
            }),
            ..thread("x")
        };
        let before = vec![row("c", "x", 3)];
        let changed = [(key("a"), Some(row("a", "x", 1))), (key("d"), Some(row("d", "x", 4)))];
        let out = patch(&table(), &q, &before, &changed).unwrap().unwrap();
        assert_eq!(ids(&out), ["c", "d"]);
    }

    #[test]
    fn offset_and_multi_entry_are_left_to_a_full_read() {
        let q = Query { offset: 1, ..thread("x") };
        assert_eq!(patch::<Value>(&table(), &q, &[], &[]).unwrap(), None);
        let mut t = table();
        t.indexes.push(IndexSpec { multi_entry: true, ..IndexSpec::field("tags") });
        let q = Query { index: Some("tags".into()), ..Query::default() };
        assert_eq!(patch::<Value>(&t, &q, &[], &[]).unwrap(), None);
    }
}
