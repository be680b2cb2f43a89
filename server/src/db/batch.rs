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
//! 4. at the end ([`Batched::flush`]): the records written (the last write
//!    of each), one update of the workspace's version and applied count,
//!    the opIds. On PostgreSQL that is one statement (a multi-row upsert, a
//!    multi-row insert and the update as data-modifying `WITH` parts, then
//!    `pg_notify`): with the lock and the two reads, a push holds its
//!    workspace's lock for four round trips, not about 5n. On SQLite a statement is a function call,
//!    not a round trip, and one prepared single-row statement per row is
//!    cheaper than decoding the rows from JSON (`->>` parses a row's text
//!    again for every column): there, only the reads are set-based.
//!
//! Keys and rows travel as list parameters ([`Arg::Texts`], ...): arrays
//! that PostgreSQL unnests (`= ANY($2)`, `UNNEST`), JSON arrays that SQLite
//! reads with `json_each`. Each statement has a fixed text, prepared once
//! per connection, whatever the batch size.
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

use super::row::{self, Payload};
use super::sql::{Arg, Cell, Dialect, Store, Tx, REMEMBER_OP, WRITE};
use super::storage;

/// `$1` workspace, `$2` the batch's opIds: `(op_id, version)` rows. On
/// PostgreSQL `= ANY($2)` probes the primary key once per opId.
const SEEN_SQLITE: &str =
    "SELECT op_id, version FROM ops WHERE workspace = $1 AND op_id IN (SELECT value FROM json_each($2))";
const SEEN_POSTGRES: &str = "SELECT op_id, version FROM ops WHERE workspace = $1 AND op_id = ANY($2)";
/// `$1` workspace, `$2` tables, `$3` pks (each distinct): the heads of the
/// records with one of those tables and one of those pks, a superset of
/// the batch's records when it names several tables (every row read is a
/// real head, so the extra ones do no harm).
const HEADS_SQLITE: &str = "SELECT table_name, pk, op, clock, hlc, device_id, op_id FROM records
   WHERE workspace = $1 AND table_name IN (SELECT value FROM json_each($2))
     AND pk IN (SELECT value FROM json_each($3))";
const HEADS_POSTGRES: &str = "SELECT table_name, pk, op, clock, hlc, device_id, op_id FROM records
   WHERE workspace = $1 AND table_name = ANY($2) AND pk = ANY($3)";
/// PostgreSQL's whole write of a batch that applied something, one round
/// trip: `$1` workspace; `$2`..`$12` the records, one array per column
/// (the last write of each record); `$13` seen at, `$14` opIds, `$15`
/// their versions; `$16` the new version, `$17` how many ops were applied.
/// Then it notifies the other processes (at the commit; see
/// `super::postgres::CHANNEL`).
const FLUSH_POSTGRES: &str = "WITH w AS (
     INSERT INTO records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id,
                          version, project_id, applied_at_ms, in_log)
     SELECT $1, u.*, TRUE FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[],
                                      $8::text[], $9::text[], $10::bigint[], $11::text[], $12::bigint[]) AS u
     ON CONFLICT (workspace, table_name, pk) DO UPDATE SET
       op = excluded.op, payload = excluded.payload, clock = excluded.clock, hlc = excluded.hlc,
       device_id = excluded.device_id, op_id = excluded.op_id, version = excluded.version,
       project_id = excluded.project_id, applied_at_ms = excluded.applied_at_ms, in_log = TRUE
     RETURNING 1
   ), o AS (
     INSERT INTO ops (workspace, op_id, version, seen_at_ms)
     SELECT $1, u.op_id, u.version, $13 FROM UNNEST($14::text[], $15::bigint[]) AS u (op_id, version)
     RETURNING 1
   ), b AS (
     UPDATE workspaces SET version = $16, applied = applied + $17 WHERE id = $1 RETURNING id
   )
   SELECT pg_notify('tidesync_changes', id)::text FROM b";
/// `$1` version, `$2` how many ops were applied, `$3` workspace.
const BUMP: &str = "UPDATE workspaces SET version = $1, applied = applied + $2 WHERE id = $3";
/// `$1` workspace, `$2` seen at, `$3` opIds, `$4` their versions (PostgreSQL).
const REMEMBER_POSTGRES: &str = "INSERT INTO ops (workspace, op_id, version, seen_at_ms)
   SELECT $1, u.op_id, u.version, $2 FROM UNNEST($3::text[], $4::bigint[]) AS u (op_id, version)";

/// The batched reads of `dialect`: seen, heads.
fn reads(dialect: Dialect) -> [&'static str; 2] {
    match dialect {
        Dialect::Sqlite => [SEEN_SQLITE, HEADS_SQLITE],
        Dialect::Postgres => [SEEN_POSTGRES, HEADS_POSTGRES],
    }
}

/// A record: table name and pk as stored (the key's JSON text).
type Key = (String, String);

/// A write the batch made, kept until [`Batched::flush`] (its payload as
/// the text to store: the change itself is the caller's).
struct Written {
    table: String,
    pk: Pk,
    pk_text: String,
    op: OpKind,
    payload: Option<String>,
    version: u64,
    stamp: ChangeStamp,
    project_id: Option<String>,
    applied_at_ms: u64,
}

impl Written {
    fn change(&self) -> Result<SyncChange<Value>, SyncError> {
        Ok(SyncChange {
            table_name: self.table.clone(),
            pk: self.pk.clone(),
            op: self.op,
            payload: self.payload.clone().map(Value::from_stored).transpose()?,
            server_version: self.version,
            stamp: self.stamp.clone(),
        })
    }
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
///
/// `version`: the workspace's version if the caller read it under the lock
/// (otherwise it is read here). On PostgreSQL the last statement also
/// notifies the other processes (`pg_notify`) when the batch applied
/// anything.
pub fn push<T: Tx>(
    store: &mut Store<'_, T>,
    batch: &PushBatch<Value>,
    now_ms: u64,
    version: Option<u64>,
) -> Result<PushOutcome<Value>, SyncError> {
    let mut b = Batched::prefetch(store, batch, version)?;
    let out = apply::push(&mut b, batch, now_ms)?;
    b.flush()?;
    Ok(out)
}

impl<'s, 'a, T: Tx> Batched<'s, 'a, T> {
    /// Reads the workspace's version, every opId of `batch` and the head of
    /// every record it names.
    pub fn prefetch(
        store: &'s mut Store<'a, T>,
        batch: &PushBatch<Value>,
        version: Option<u64>,
    ) -> Result<Self, SyncError> {
        let [seen_sql, heads_sql] = reads(T::DIALECT);
        let version = match version {
            Some(v) => v,
            None => store.version()?,
        };
        let ws = store.ws;
        let asked: HashSet<String> = batch.ops.iter().map(|op| op.op_id.clone()).collect();
        let mut seen = HashMap::new();
        if !asked.is_empty() {
            let ids: Vec<&str> = asked.iter().map(String::as_str).collect();
            for r in store.tx.query(seen_sql, &[Arg::Text(ws), Arg::Texts(&ids)])? {
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
            let (tables, pks): (Vec<&str>, Vec<&str>) = (tables.into_iter().collect(), pks.into_iter().collect());
            for r in store.tx.query(heads_sql, &[Arg::Text(ws), Arg::Texts(&tables), Arg::Texts(&pks)])? {
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
        match T::DIALECT {
            Dialect::Sqlite => self.flush_rows(),
            Dialect::Postgres => self.flush_arrays(),
        }?;
        self.written.clear();
        self.index.clear();
        self.applied = 0;
        self.remembered.clear();
        Ok(())
    }

    /// SQLite: one prepared statement per row.
    fn flush_rows(&mut self) -> Result<(), SyncError> {
        let ws = self.store.ws;
        for w in &self.written {
            let args = [
                Arg::Text(ws),
                Arg::Text(&w.table),
                Arg::Text(&w.pk_text),
                Arg::Text(w.op.as_str()),
                Arg::OptText(w.payload.as_deref()),
                Arg::Int(row::to_i64(w.stamp.clock)?),
                Arg::Text(&w.stamp.hlc),
                Arg::Text(&w.stamp.device_id),
                Arg::Text(&w.stamp.op_id),
                Arg::Int(row::to_i64(w.version)?),
                Arg::OptText(w.project_id.as_deref()),
                Arg::Int(row::to_i64(w.applied_at_ms)?),
            ];
            self.store.tx.execute(WRITE, &args)?;
        }
        if !self.written.is_empty() {
            let args = [Arg::Int(row::to_i64(self.version)?), Arg::Int(row::to_i64(self.applied)?), Arg::Text(ws)];
            self.store.tx.execute(BUMP, &args)?;
        }
        let now = row::to_i64(self.store.now_ms)?;
        for (op_id, version) in &self.remembered {
            self.store
                .tx
                .execute(REMEMBER_OP, &[Arg::Text(ws), Arg::Text(op_id), Arg::OptInt(*version), Arg::Int(now)])?;
        }
        Ok(())
    }

    /// PostgreSQL: one statement, its rows as arrays.
    fn flush_arrays(&mut self) -> Result<(), SyncError> {
        let ws = self.store.ws;
        let now = row::to_i64(self.store.now_ms)?;
        let ids: Vec<&str> = self.remembered.iter().map(|(id, _)| id.as_str()).collect();
        let versions: Vec<Option<i64>> = self.remembered.iter().map(|(_, v)| *v).collect();
        if self.written.is_empty() {
            if !ids.is_empty() {
                let args = [Arg::Text(ws), Arg::Int(now), Arg::Texts(&ids), Arg::OptInts(&versions)];
                self.store.tx.execute(REMEMBER_POSTGRES, &args)?;
            }
            return Ok(());
        }
        let w = &self.written;
        let texts = |f: fn(&Written) -> &str| w.iter().map(f).collect::<Vec<_>>();
        let ints = |f: fn(&Written) -> u64| w.iter().map(|w| row::to_i64(f(w))).collect::<Result<Vec<_>, _>>();
        let (table, pk, op) = (texts(|w| &w.table), texts(|w| &w.pk_text), texts(|w| w.op.as_str()));
        let payload: Vec<Option<&str>> = w.iter().map(|w| w.payload.as_deref()).collect();
        let (hlc, device, op_id) = (texts(|w| &w.stamp.hlc), texts(|w| &w.stamp.device_id), texts(|w| &w.stamp.op_id));
        let project: Vec<Option<&str>> = w.iter().map(|w| w.project_id.as_deref()).collect();
        let (clock, version, at) = (ints(|w| w.stamp.clock)?, ints(|w| w.version)?, ints(|w| w.applied_at_ms)?);
        let args = [
            Arg::Text(ws),
            Arg::Texts(&table),
            Arg::Texts(&pk),
            Arg::Texts(&op),
            Arg::OptTexts(&payload),
            Arg::Ints(&clock),
            Arg::Texts(&hlc),
            Arg::Texts(&device),
            Arg::Texts(&op_id),
            Arg::Ints(&version),
            Arg::OptTexts(&project),
            Arg::Ints(&at),
            Arg::Int(now),
            Arg::Texts(&ids),
            Arg::OptInts(&versions),
            Arg::Int(row::to_i64(self.version)?),
            Arg::Int(row::to_i64(self.applied)?),
        ];
        self.store.tx.query(FLUSH_POSTGRES, &args)?;
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
        LogRead::<Value>::scan(self.store, after, limit, filter)
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
            return Ok(Some((w.op, w.stamp.clone())));
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
            return w.change().map(Some);
        }
        // This batch has not written the record: the database's row is current.
        self.store.current(table, pk)
    }

    fn write(&mut self, c: &SyncChange<Value>, project_id: Option<&str>, applied_at_ms: u64) -> Result<(), SyncError> {
        let pk_text = row::encode_pk(&c.pk)?;
        let key = (c.table_name.clone(), pk_text.clone());
        let w = Written {
            table: c.table_name.clone(),
            pk: c.pk.clone(),
            pk_text,
            op: c.op,
            payload: row::encode_payload(c.payload.as_ref())?,
            version: c.server_version,
            stamp: c.stamp.clone(),
            project_id: project_id.map(str::to_string),
            applied_at_ms,
        };
        match self.index.get(&key) {
            Some(&i) => self.written[i] = w,
            None => {
                self.index.insert(key, self.written.len());
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
    fn the_flush_notifies_on_the_listened_channel() {
        assert!(FLUSH_POSTGRES.contains(&format!("pg_notify('{}', id)", super::super::postgres::CHANNEL)));
    }

    #[test]
    fn every_statement_first_uses_its_parameters_in_ascending_order() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for sql in reads(dialect).into_iter().chain([BUMP, FLUSH_POSTGRES, REMEMBER_POSTGRES]) {
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
