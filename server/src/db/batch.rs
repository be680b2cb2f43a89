//! A push batch in a few set-based statements.
//!
//! The core's apply algorithm (`tidesync::core::server::apply::push`) asks
//! its store one question at a time: has this opId been seen, what does
//! this record hold, write this change, remember this opId. Answered one
//! statement each, a batch of n ops costs about 5n statements (and on
//! PostgreSQL as many network round trips). [`Batched`] answers the same
//! questions for the whole batch with:
//!
//! 1. one read of every opId of the batch (`op_id IN (...)`);
//! 2. one read of the head (op and stamp) of every record the batch names;
//! 3. the algorithm, unchanged, over those answers in memory, which also
//!    see the batch's own earlier ops (an opId sent twice, a record written
//!    twice in one batch);
//! 4. at the end ([`Batched::flush`]): one multi-row upsert of the records
//!    written (the last write of each), one update of the workspace's
//!    version and applied count, one multi-row insert of the opIds.
//!
//! The rows travel as one JSON array parameter, which SQLite reads with
//! `json_each` and PostgreSQL with `json_array_elements`, so each statement
//! has a fixed text (prepared once per connection) whatever the batch size.
//! A rejected op's `current` is still read one record at a time: from the
//! batch's own write of that record if it has one, otherwise from the
//! database (which the batch has not changed for that record).
//!
//! Everything runs in the caller's transaction, under the workspace's write
//! lock, so the result is exactly the op-at-a-time one: same results, same
//! versions, same rows.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use tidesync::core::server::{apply, LogRead, PushOutcome, Scan, ScanFilter, WorkspaceStore};
use tidesync::core::wire::{OpKind, PushBatch, SyncChange};
use tidesync::core::{ChangeStamp, Pk, SyncError};

use super::row;
use super::sql::{Arg, Cell, Dialect, Store, Tx};
use super::storage;

/// `$1` workspace, `$2` a JSON array of opIds: `(op_id, version)` rows.
/// Written as `= ANY(ARRAY(...))` on PostgreSQL so that the plan probes the
/// primary key once per opId (an `IN (SELECT ...)` can become a hash join
/// over every opId of the workspace).
const SEEN_SQLITE: &str =
    "SELECT op_id, version FROM ops WHERE workspace = $1 AND op_id IN (SELECT value FROM json_each($2))";
const SEEN_POSTGRES: &str = "SELECT op_id, version FROM ops
   WHERE workspace = $1 AND op_id = ANY(ARRAY(SELECT json_array_elements_text($2::text::json)))";
/// `$1` workspace, `$2` `[[table, ...], [pk, ...]]` (each distinct): the
/// heads of the records with one of those tables and one of those pks, a
/// superset of the batch's records when it names several tables (every row
/// read is a real head, so the extra ones do no harm).
const HEADS_SQLITE: &str = "SELECT table_name, pk, op, clock, hlc, device_id, op_id FROM records
   WHERE workspace = $1 AND table_name IN (SELECT value FROM json_each($2 -> 0))
     AND pk IN (SELECT value FROM json_each($2 -> 1))";
const HEADS_POSTGRES: &str = "SELECT table_name, pk, op, clock, hlc, device_id, op_id FROM records
   WHERE workspace = $1 AND table_name = ANY(ARRAY(SELECT json_array_elements_text($2::text::json -> 0)))
     AND pk = ANY(ARRAY(SELECT json_array_elements_text($2::text::json -> 1)))";
/// `$1` workspace, `$2` a JSON array of rows (see [`WriteRow`]).
const WRITE_SQLITE: &str = "INSERT INTO records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id,
                         version, project_id, applied_at_ms, in_log)
   SELECT $1, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6,
          value ->> 7, value ->> 8, value ->> 9, value ->> 10, TRUE
   FROM json_each($2) WHERE TRUE
   ON CONFLICT (workspace, table_name, pk) DO UPDATE SET
     op = excluded.op, payload = excluded.payload, clock = excluded.clock, hlc = excluded.hlc,
     device_id = excluded.device_id, op_id = excluded.op_id, version = excluded.version,
     project_id = excluded.project_id, applied_at_ms = excluded.applied_at_ms, in_log = TRUE";
const WRITE_POSTGRES: &str = "INSERT INTO records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id,
                         version, project_id, applied_at_ms, in_log)
   SELECT $1, e ->> 0, e ->> 1, e ->> 2, e ->> 3, (e ->> 4)::bigint, e ->> 5, e ->> 6,
          e ->> 7, (e ->> 8)::bigint, e ->> 9, (e ->> 10)::bigint, TRUE
   FROM json_array_elements($2::text::json) AS e
   ON CONFLICT (workspace, table_name, pk) DO UPDATE SET
     op = excluded.op, payload = excluded.payload, clock = excluded.clock, hlc = excluded.hlc,
     device_id = excluded.device_id, op_id = excluded.op_id, version = excluded.version,
     project_id = excluded.project_id, applied_at_ms = excluded.applied_at_ms, in_log = TRUE";
/// `$1` version, `$2` how many ops were applied, `$3` workspace.
const BUMP: &str = "UPDATE workspaces SET version = $1, applied = applied + $2 WHERE id = $3";
/// `$1` workspace, `$2` seen at, `$3` a JSON array of `[opId, version or null]`.
const REMEMBER_SQLITE: &str = "INSERT INTO ops (workspace, op_id, version, seen_at_ms)
   SELECT $1, value ->> 0, value ->> 1, $2 FROM json_each($3)";
const REMEMBER_POSTGRES: &str = "INSERT INTO ops (workspace, op_id, version, seen_at_ms)
   SELECT $1, e ->> 0, (e ->> 1)::bigint, $2 FROM json_array_elements($3::text::json) AS e";

/// The batched statements of `dialect`: seen, heads, write, remember.
fn statements(dialect: Dialect) -> [&'static str; 4] {
    match dialect {
        Dialect::Sqlite => [SEEN_SQLITE, HEADS_SQLITE, WRITE_SQLITE, REMEMBER_SQLITE],
        Dialect::Postgres => [SEEN_POSTGRES, HEADS_POSTGRES, WRITE_POSTGRES, REMEMBER_POSTGRES],
    }
}

/// A record: table name and pk as stored (the key's JSON text).
type Key = (String, String);

/// One record row of the upsert, as a JSON array: table, pk, op, payload,
/// clock, hlc, device, opId, version, project, applied at.
type WriteRow<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, i64, &'a str, &'a str, &'a str, i64, Option<&'a str>, i64);

/// A write the batch made, kept until [`Batched::flush`].
struct Written {
    change: SyncChange<Value>,
    pk: String,
    payload: Option<String>,
    project_id: Option<String>,
    applied_at_ms: u64,
}

/// The store of one push: the batch's reads made up front, its writes
/// buffered (see the module docs).
pub struct Batched<'s, 'a, T: Tx> {
    store: &'s mut Store<'a, T>,
    version: u64,
    /// opIds looked up, with what the database (or this batch) holds.
    asked: HashSet<String>,
    seen: HashMap<String, Option<u64>>,
    /// Records looked up; those with a row, with their head.
    looked_up: HashSet<Key>,
    heads: HashMap<Key, (OpKind, ChangeStamp)>,
    /// The last write of each record, in first-write order.
    written: Vec<Written>,
    index: HashMap<Key, usize>,
    applied: u64,
    remembered: Vec<(String, Option<i64>)>,
}

/// Applies `batch` over `store` with the batch's reads and writes made set
/// at a time; the caller's transaction makes it atomic.
pub fn push<T: Tx>(store: &mut Store<'_, T>, batch: &PushBatch<Value>, now_ms: u64) -> Result<PushOutcome<Value>, SyncError> {
    let mut b = Batched::prefetch(store, batch)?;
    let out = apply::push(&mut b, batch, now_ms)?;
    b.flush()?;
    Ok(out)
}

fn json(v: &impl serde::Serialize) -> Result<String, SyncError> {
    serde_json::to_string(v).map_err(storage)
}

impl<'s, 'a, T: Tx> Batched<'s, 'a, T> {
    /// Reads the workspace's version, every opId of `batch` and the head of
    /// every record it names.
    pub fn prefetch(store: &'s mut Store<'a, T>, batch: &PushBatch<Value>) -> Result<Self, SyncError> {
        let [seen_sql, heads_sql, _, _] = statements(T::DIALECT);
        let version = LogRead::<Value>::version(store)?;
        let ws = store.ws;
        let asked: HashSet<String> = batch.ops.iter().map(|op| op.op_id.clone()).collect();
        let mut seen = HashMap::new();
        if !asked.is_empty() {
            let ids: Vec<&str> = asked.iter().map(String::as_str).collect();
            for r in store.tx.query(seen_sql, &[Arg::Text(ws), Arg::Text(&json(&ids)?)])? {
                let [op_id, v]: [Cell; 2] = r.try_into().map_err(|_| storage("an ops row has 2 columns"))?;
                seen.insert(op_id.text()?, v.opt_int()?.map(row::to_u64).transpose()?);
            }
        }
        let mut looked_up = HashSet::new();
        for op in &batch.ops {
            looked_up.insert((op.table_name.clone(), row::encode_pk(&op.pk)?));
        }
        let mut heads = HashMap::new();
        if !looked_up.is_empty() {
            let tables: HashSet<&str> = looked_up.iter().map(|(t, _)| t.as_str()).collect();
            let pks: HashSet<&str> = looked_up.iter().map(|(_, p)| p.as_str()).collect();
            for r in store.tx.query(heads_sql, &[Arg::Text(ws), Arg::Text(&json(&(tables, pks))?)])? {
                let [table, pk, op, clock, hlc, device, op_id]: [Cell; 7] =
                    r.try_into().map_err(|_| storage("a head row has 7 columns"))?;
                let stamp = row::stamp(clock.int()?, hlc.text()?, device.text()?, op_id.text()?)?;
                heads.insert((table.text()?, pk.text()?), (row::decode_op(&op.text()?)?, stamp));
            }
        }
        Ok(Batched {
            store,
            version,
            asked,
            seen,
            looked_up,
            heads,
            written: Vec::new(),
            index: HashMap::new(),
            applied: 0,
            remembered: Vec::new(),
        })
    }

    fn written(&self, table: &str, pk: &str) -> Option<&Written> {
        // A borrowed two-part key cannot be looked up without a copy.
        self.index.get(&(table.to_string(), pk.to_string())).map(|&i| &self.written[i])
    }

    /// Writes what the batch buffered: the records (the last write of
    /// each), the workspace's version, the opIds. Idempotent.
    pub fn flush(&mut self) -> Result<(), SyncError> {
        let [_, _, write_sql, remember_sql] = statements(T::DIALECT);
        let ws = self.store.ws;
        if !self.written.is_empty() {
            let rows = self
                .written
                .iter()
                .map(|w| {
                    let c = &w.change;
                    Ok((
                        c.table_name.as_str(),
                        w.pk.as_str(),
                        c.op.as_str(),
                        w.payload.as_deref(),
                        row::to_i64(c.stamp.clock)?,
                        c.stamp.hlc.as_str(),
                        c.stamp.device_id.as_str(),
                        c.stamp.op_id.as_str(),
                        row::to_i64(c.server_version)?,
                        w.project_id.as_deref(),
                        row::to_i64(w.applied_at_ms)?,
                    ))
                })
                .collect::<Result<Vec<WriteRow<'_>>, SyncError>>()?;
            self.store.tx.execute(write_sql, &[Arg::Text(ws), Arg::Text(&json(&rows)?)])?;
            let args = [Arg::Int(row::to_i64(self.version)?), Arg::Int(row::to_i64(self.applied)?), Arg::Text(ws)];
            self.store.tx.execute(BUMP, &args)?;
            self.written.clear();
            self.index.clear();
            self.applied = 0;
        }
        if !self.remembered.is_empty() {
            let now = row::to_i64(self.store.now_ms)?;
            let rows = json(&self.remembered)?;
            self.store.tx.execute(remember_sql, &[Arg::Text(ws), Arg::Int(now), Arg::Text(&rows)])?;
            self.remembered.clear();
        }
        Ok(())
    }
}

impl<T: Tx> LogRead<Value> for Batched<'_, '_, T> {
    fn version(&mut self) -> Result<u64, SyncError> {
        Ok(self.version)
    }

    fn watermark(&mut self) -> Result<u64, SyncError> {
        self.flush()?;
        LogRead::<Value>::watermark(self.store)
    }

    fn scan(&mut self, after: u64, limit: usize, filter: ScanFilter<'_>) -> Result<Scan<Value>, SyncError> {
        self.flush()?;
        self.store.scan(after, limit, filter)
    }
}

impl<T: Tx> WorkspaceStore<Value> for Batched<'_, '_, T> {
    fn seen_op(&mut self, op_id: &str) -> Result<Option<Option<u64>>, SyncError> {
        if let Some(&v) = self.seen.get(op_id) {
            return Ok(Some(v));
        }
        if self.asked.contains(op_id) {
            return Ok(None);
        }
        self.store.seen_op(op_id)
    }

    fn remember_op(&mut self, op_id: &str, version: Option<u64>) -> Result<(), SyncError> {
        self.remembered.push((op_id.to_string(), version.map(row::to_i64).transpose()?));
        self.seen.insert(op_id.to_string(), version);
        self.asked.insert(op_id.to_string());
        Ok(())
    }

    fn head(&mut self, table: &str, pk: &Pk) -> Result<Option<(OpKind, ChangeStamp)>, SyncError> {
        let pk_text = row::encode_pk(pk)?;
        if let Some(w) = self.written(table, &pk_text) {
            return Ok(Some((w.change.op, w.change.stamp.clone())));
        }
        let key = (table.to_string(), pk_text);
        if let Some(h) = self.heads.get(&key) {
            return Ok(Some(h.clone()));
        }
        if self.looked_up.contains(&key) {
            return Ok(None);
        }
        self.store.head(table, pk)
    }

    fn current(&mut self, table: &str, pk: &Pk) -> Result<Option<SyncChange<Value>>, SyncError> {
        if let Some(w) = self.written(table, &row::encode_pk(pk)?) {
            return Ok(Some(w.change.clone()));
        }
        // This batch has not written the record: the database's row is current.
        self.store.current(table, pk)
    }

    fn write(&mut self, c: &SyncChange<Value>, project_id: Option<&str>, applied_at_ms: u64) -> Result<(), SyncError> {
        let pk = row::encode_pk(&c.pk)?;
        let w = Written {
            change: c.clone(),
            payload: row::encode_payload(c.payload.as_ref())?,
            pk: pk.clone(),
            project_id: project_id.map(str::to_string),
            applied_at_ms,
        };
        match self.index.get(&(c.table_name.clone(), pk.clone())) {
            Some(&i) => self.written[i] = w,
            None => {
                self.index.insert((c.table_name.clone(), pk), self.written.len());
                self.written.push(w);
            }
        }
        self.version = c.server_version;
        self.applied += 1;
        Ok(())
    }

    fn raise_cursor(&mut self, device_id: &str, version: u64) -> Result<(), SyncError> {
        self.flush()?;
        self.store.raise_cursor(device_id, version)
    }

    fn min_cursor(&mut self) -> Result<Option<u64>, SyncError> {
        self.flush()?;
        self.store.min_cursor()
    }

    fn raise_watermark(&mut self, watermark: u64) -> Result<(), SyncError> {
        self.flush()?;
        self.store.raise_watermark(watermark)
    }

    fn purge_tombstones(&mut self, max_version: u64, applied_until_ms: u64) -> Result<(usize, Option<u64>), SyncError> {
        self.flush()?;
        self.store.purge_tombstones(max_version, applied_until_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_first_uses_its_parameters_in_ascending_order() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for sql in statements(dialect).into_iter().chain([BUMP]) {
                let mut seen: Vec<u32> = Vec::new();
                for part in sql.split('$').skip(1) {
                    let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                    let Ok(n) = digits.parse::<u32>() else { continue };
                    if !seen.contains(&n) {
                        assert_eq!(n as usize, seen.len() + 1, "{sql}");
                        seen.push(n);
                    }
                }
            }
        }
    }
}
