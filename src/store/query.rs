//! Queries over one app table, written once above the storage trait: a
//! condition on the primary key or an index (`equals`, `anyOf`, a range,
//! `startsWith`, a prefix of a compound index), in that key's order or
//! reversed, with `offset`, `limit` and keyset pages. Each becomes one scan
//! of the store (or one per `anyOf` key), so IndexedDB does the work; no
//! table is read into memory to be filtered.
//!
//! Keyset pages: a page says where it stopped ([`After`]: the last row's
//! index key and primary key) and the next query continues from there, so a
//! page costs the same at the end of a table as at its start, and rows
//! written meanwhile are neither skipped nor repeated.

use super::schema::{IndexSpec, TableSchema};
use super::{Key, KeyPath, KeyRange, Scan, StoreTx};
use crate::core::key::Bound;
use crate::core::{Invalid, Result, SyncError};

/// Which rows of the key a query walks.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Where {
    /// Every row.
    #[default]
    All,
    /// Rows whose key equals this (for a compound index, an array of its
    /// first fields selects every row with that prefix).
    Equals(Key),
    /// Rows whose key equals any of these.
    AnyOf(Vec<Key>),
    /// Rows whose key is in the range. For a compound index, a bound shorter
    /// than the index covers every key with that prefix.
    Range(KeyRange),
    /// Rows whose string key starts with this.
    StartsWith(String),
}

/// Where a page stopped: the last row's key in the walked index (its
/// primary key when the walk is along the primary key) and its primary key.
#[derive(Debug, Clone, PartialEq)]
pub struct After {
    pub key: Key,
    pub pk: Key,
}

/// A query over one table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// The index to walk (its name: a field, or `[a+b]`); the primary key when `None`.
    pub index: Option<String>,
    pub filter: Where,
    pub reverse: bool,
    pub offset: u32,
    pub limit: Option<u32>,
    /// Continue after this position (from a previous page's `next`).
    pub after: Option<After>,
}

/// One page of a query's rows, and where the next page starts (`None` when
/// the query has no more rows, or when it had no limit).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<R> {
    pub rows: Vec<R>,
    pub next: Option<After>,
}

/// A key above every key whose first element is not a nested array: the
/// upper end of a prefix (as Dexie's `maxKey`).
fn max_key() -> Key {
    Key::Array(vec![Key::Array(vec![])])
}

/// What a query walks, resolved against the table.
pub(super) struct Walk {
    pub(super) index: Option<IndexSpec>,
    /// The number of fields of a compound index (1 otherwise).
    arity: usize,
}

impl Walk {
    pub(super) fn of(table: &TableSchema, query: &Query) -> Result<Walk, Invalid> {
        let index = match &query.index {
            None => None,
            Some(name) => Some(table.index(name).ok_or_else(|| {
                let known: Vec<String> = table.all_indexes().into_iter().map(|i| i.name).collect();
                Invalid::rule(
                    "index",
                    format!("table {:?} has no index {name:?}; it has: {}", table.name, known.join(", ")),
                )
            })?),
        };
        let arity = match index.as_ref().map(|i| &i.key_path) {
            Some(KeyPath::Compound(fields)) => fields.len(),
            _ => 1,
        };
        if query.after.is_some() && index.as_ref().is_some_and(|i| i.multi_entry) {
            return Err(Invalid::rule(
                "after",
                "keyset pages cannot walk a multi-entry index (a row has several keys there)",
            ));
        }
        Ok(Walk { index, arity })
    }

    /// Whether two rows can share a key in this walk.
    fn unique(&self) -> bool {
        self.index.as_ref().is_none_or(|i| i.unique)
    }

    /// Widens a bound shorter than a compound index to its whole prefix.
    fn widen(&self, b: Bound, upper: bool) -> Bound {
        match &b.key {
            Key::Array(items) if self.arity > 1 && items.len() < self.arity && (upper != b.open) => {
                let mut items = items.clone();
                items.push(max_key());
                Bound { key: Key::Array(items), open: b.open }
            }
            _ => b,
        }
    }

    /// The ranges to scan (several for `anyOf`).
    pub(super) fn ranges(&self, filter: &Where) -> Vec<KeyRange> {
        let range = |r: KeyRange| KeyRange {
            lower: r.lower.map(|b| self.widen(b, false)),
            upper: r.upper.map(|b| self.widen(b, true)),
        };
        match filter {
            Where::All => vec![KeyRange::all()],
            Where::Equals(k) => vec![range(KeyRange::only(k.clone()))],
            Where::AnyOf(keys) => {
                let mut keys = keys.clone();
                keys.sort();
                keys.dedup();
                keys.into_iter().map(|k| range(KeyRange::only(k))).collect()
            }
            Where::Range(r) => vec![range(r.clone())],
            Where::StartsWith(s) => {
                vec![KeyRange::between(Key::Str(s.clone()), Key::Str(format!("{s}\u{FFFF}")))]
            }
        }
    }
}

/// Narrows a range to what lies at or past `after` in the walk's direction.
fn past(range: KeyRange, after: &After, reverse: bool, unique: bool) -> KeyRange {
    let at = Bound { key: after.key.clone(), open: unique };
    if reverse {
        match &range.upper {
            Some(u) if u.key < after.key => range,
            _ => KeyRange { upper: Some(at), ..range },
        }
    } else {
        match &range.lower {
            Some(l) if l.key > after.key => range,
            _ => KeyRange { lower: Some(at), ..range },
        }
    }
}

/// The key of `row` in the walk, and its primary key.
pub(super) fn position<R: super::Row>(row: &R, walk: &Walk, table: &TableSchema) -> Option<After> {
    let pk = Key::at(row, &KeyPath::Field(table.primary_key.clone()))?;
    let key = match &walk.index {
        Some(i) => Key::at(row, &i.key_path)?,
        None => pk.clone(),
    };
    Some(After { key, pk })
}

/// Runs `query` in `tx`.
pub async fn run<T: StoreTx + ?Sized>(tx: &T, table: &TableSchema, query: &Query) -> Result<Page<T::Rec>> {
    let walk = Walk::of(table, query).map_err(SyncError::Invalid)?;
    let mut ranges = walk.ranges(&query.filter);
    if let Some(after) = &query.after {
        ranges = ranges.into_iter().map(|r| past(r, after, query.reverse, walk.unique())).collect();
    }
    // A page of a non-unique walk resumes at the `after` key itself, whose
    // rows up to the `after` row were on earlier pages. One row of slack
    // covers the usual case (only the `after` row has that key); a longer
    // run of equal keys takes a second read, sized by counting them.
    let resumes = query.after.as_ref().filter(|_| !walk.unique());
    let (rows, short) = window(tx, table, &walk, &ranges, query, resumes.map_or(0, |_| 1)).await?;
    let rows = match resumes {
        Some(after) if short => {
            let index = walk.index.as_ref().map(|i| i.name.as_str());
            let equal = tx.count_in(&table.name, index, &KeyRange::only(after.key.clone())).await?;
            window(tx, table, &walk, &ranges, query, equal).await?.0
        }
        _ => rows,
    };
    let full = query.limit.is_some_and(|l| rows.len() as u64 >= l as u64);
    let next = if full { rows.last().and_then(|r| position(r, &walk, table)) } else { None };
    Ok(Page { rows, next })
}

/// The query's rows from `ranges`, reading `slack` more than it needs to
/// skip the rows a resumed page has already returned; and whether the rows
/// fell short of the limit while a scan had more to give.
async fn window<T: StoreTx + ?Sized>(
    tx: &T,
    table: &TableSchema,
    walk: &Walk,
    ranges: &[KeyRange],
    query: &Query,
    slack: u64,
) -> Result<(Vec<T::Rec>, bool)> {
    let index = walk.index.as_ref().map(|i| i.name.as_str());
    let several = ranges.len() > 1;
    let merged = several || slack > 0;
    let want = query.limit.map(|l| (l as u64 + query.offset as u64 + slack).min(u32::MAX as u64) as u32);
    let scans: Vec<Scan<'_>> = ranges
        .iter()
        .map(|range| Scan {
            index,
            range: range.clone(),
            reverse: query.reverse,
            // One plain scan applies the offset and limit itself; merged
            // scans read enough for the window, which is cut below.
            offset: if merged { 0 } else { query.offset },
            limit: if merged { want } else { query.limit },
        })
        .collect();
    let reads = scans.iter().map(|s| tx.scan(&table.name, s));
    let results = crate::core::join::try_join_all(reads).await?;
    let more = results.iter().any(|rows| want.is_some_and(|w| rows.len() as u64 >= w as u64));
    let mut rows: Vec<T::Rec> = results.into_iter().flatten().collect();
    if !merged {
        return Ok((rows, false));
    }
    let seen = |p: &After| {
        query.after.as_ref().is_some_and(|after| {
            slack > 0 && p.key == after.key && if query.reverse { p.pk >= after.pk } else { p.pk <= after.pk }
        })
    };
    if several {
        let mut keyed: Vec<(After, T::Rec)> =
            rows.into_iter().filter_map(|r| Some((position(&r, walk, table)?, r))).collect();
        keyed.retain(|(p, _)| !seen(p));
        keyed.sort_by(|a, b| (&a.0.key, &a.0.pk).cmp(&(&b.0.key, &b.0.pk)));
        if query.reverse {
            keyed.reverse();
        }
        rows = keyed.into_iter().map(|(_, r)| r).collect();
    } else {
        // One scan, in order: the rows earlier pages returned come first.
        let repeated = rows.iter().take_while(|r| position(*r, walk, table).is_some_and(|p| seen(&p))).count();
        rows.drain(..repeated);
    }
    let limit = query.limit.map_or(usize::MAX, |l| l as usize);
    let rows: Vec<T::Rec> = rows.into_iter().skip(query.offset as usize).take(limit).collect();
    let short = rows.len() < limit && more;
    Ok((rows, short))
}

/// How many rows `query`'s condition selects (its offset, limit and
/// `after` aside). For `anyOf` on a multi-entry index a row holding two of
/// the keys counts twice, as IndexedDB counts it.
pub async fn count<T: StoreTx + ?Sized>(tx: &T, table: &TableSchema, query: &Query) -> Result<u64> {
    let walk = Walk::of(table, query).map_err(SyncError::Invalid)?;
    let index = walk.index.as_ref().map(|i| i.name.as_str());
    let ranges = walk.ranges(&query.filter);
    let counts = ranges.iter().map(|r| tx.count_in(&table.name, index, r));
    Ok(crate::core::join::try_join_all(counts).await?.into_iter().sum())
}
