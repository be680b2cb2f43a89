//! The workspace store, written once for both SQL dialects.
//!
//! [`Store`] implements the core's storage traits (`LogRead`,
//! `WorkspaceStore`) and the token and membership queries over any [`Tx`]:
//! one open transaction of SQLite ([`super::sqlite`]) or PostgreSQL
//! ([`super::postgres`]). A backend only opens and commits transactions and
//! runs statements; every query the sync algorithm and the accounts need is
//! here, in the SQL both databases understand:
//!
//! - parameters are `$1`, `$2`, ... and each statement first uses them in
//!   ascending order (SQLite numbers `$n` parameters by first appearance;
//!   the unit test below checks every statement);
//! - booleans are `TRUE`/`FALSE` (SQLite stores `in_log` as 0/1);
//! - "the larger of" is a `CASE` (SQLite has no `GREATEST`);
//! - the one statement that differs, the log scan's table filter (a JSON
//!   array through `json_each` on SQLite, a `text[]` on PostgreSQL), comes
//!   from [`Dialect::scan_sql`].

use serde_json::Value;
use tidesync::core::server::{LogRead, Scan, ScanFilter, WorkspaceStore};
use tidesync::core::wire::{OpKind, SyncChange};
use tidesync::core::{ChangeStamp, Pk, SyncError};

use super::row::{self, ChangeRow, Payload};
use super::{storage, Grant, DEVICE_TTL_MS};

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Text(&'a str),
    OptText(Option<&'a str>),
    /// A table filter (`None`: every table).
    Tables(Option<&'a [String]>),
    /// Lists (a batch's keys and rows): a JSON array on SQLite (read with
    /// `json_each`), an array (`text[]`, `bigint[]`) on PostgreSQL.
    Texts(&'a [&'a str]),
    OptTexts(&'a [Option<&'a str>]),
    Ints(&'a [i64]),
    OptInts(&'a [Option<i64>]),
}

/// A column value as read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    pub fn int(&self) -> Result<i64, SyncError> {
        self.opt_int()?.ok_or_else(|| SyncError::Storage("unexpected NULL in the database".into()))
    }

    pub fn opt_int(&self) -> Result<Option<i64>, SyncError> {
        match self {
            Cell::Null => Ok(None),
            Cell::Int(n) => Ok(Some(*n)),
            Cell::Text(t) => Err(SyncError::Storage(format!("expected a number in the database, found {t:?}"))),
        }
    }

    pub fn text(self) -> Result<String, SyncError> {
        self.opt_text()?.ok_or_else(|| SyncError::Storage("unexpected NULL in the database".into()))
    }

    pub fn opt_text(self) -> Result<Option<String>, SyncError> {
        match self {
            Cell::Null => Ok(None),
            Cell::Text(t) => Ok(Some(t)),
            Cell::Int(n) => Err(SyncError::Storage(format!("expected text in the database, found {n}"))),
        }
    }
}

/// Which SQL a backend speaks, where the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The log scan: `$1` workspace, `$2` after, `$3` tables, `$4` project, `$5` limit.
    pub fn scan_sql(self) -> &'static str {
        match self {
            Dialect::Sqlite => SCAN_SQLITE,
            Dialect::Postgres => SCAN_POSTGRES,
        }
    }
}

/// A column value borrowed from the row being read ([`Tx::each_row`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellRef<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

impl<'a> CellRef<'a> {
    pub fn into_cell(self) -> Cell {
        match self {
            CellRef::Null => Cell::Null,
            CellRef::Int(n) => Cell::Int(n),
            CellRef::Text(t) => Cell::Text(t.to_string()),
        }
    }

    pub fn int(self) -> Result<i64, SyncError> {
        match self {
            CellRef::Int(n) => Ok(n),
            other => Err(SyncError::Storage(format!("expected a number in the database, found {other:?}"))),
        }
    }

    pub fn text(self) -> Result<&'a str, SyncError> {
        self.opt_text()?.ok_or_else(|| SyncError::Storage("unexpected NULL in the database".into()))
    }

    pub fn opt_text(self) -> Result<Option<&'a str>, SyncError> {
        match self {
            CellRef::Null => Ok(None),
            CellRef::Text(t) => Ok(Some(t)),
            CellRef::Int(n) => Err(SyncError::Storage(format!("expected text in the database, found {n}"))),
        }
    }
}

/// The most columns a statement of this store reads.
pub const MAX_COLUMNS: usize = 16;

/// What [`Tx::each_row`] hands each row to; `false` stops the query.
pub type EachRow<'f> = dyn FnMut(&[CellRef<'_>]) -> Result<bool, SyncError> + 'f;

/// For a backend's `each_row`: the `n` cells of one row, read by
/// `cell(i)` into an array on the stack, handed to `each`.
pub fn hand_row<'r>(
    n: usize,
    mut cell: impl FnMut(usize) -> Result<CellRef<'r>, SyncError>,
    each: &mut EachRow<'_>,
) -> Result<bool, SyncError> {
    if n > MAX_COLUMNS {
        return Err(SyncError::Storage(format!("a statement reads {n} columns, at most {MAX_COLUMNS}")));
    }
    let mut cells = [CellRef::Null; MAX_COLUMNS];
    for (i, c) in cells.iter_mut().enumerate().take(n) {
        *c = cell(i)?;
    }
    each(&cells[..n])
}

/// One open transaction: runs statements, prepared once per connection.
pub trait Tx {
    const DIALECT: Dialect;
    /// Runs a statement; returns how many rows it changed.
    fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, SyncError>;
    /// Runs a query and hands `each` its rows one by one, the cells
    /// borrowed from the driver (at most [`MAX_COLUMNS`]); stops when
    /// `each` returns `false`.
    fn each_row(&mut self, sql: &'static str, args: &[Arg<'_>], each: &mut EachRow<'_>) -> Result<(), SyncError>;
    /// Runs a query; returns its rows.
    fn query(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<Vec<Vec<Cell>>, SyncError> {
        let mut rows = Vec::new();
        self.each_row(sql, args, &mut |cells| {
            rows.push(cells.iter().map(|&c| c.into_cell()).collect());
            Ok(true)
        })?;
        Ok(rows)
    }
    /// Runs several statements without parameters (migrations).
    fn batch(&mut self, sql: &str) -> Result<(), SyncError>;
}

impl<T: Tx> Tx for &mut T {
    const DIALECT: Dialect = T::DIALECT;

    fn execute(&mut self, sql: &'static str, args: &[Arg<'_>]) -> Result<u64, SyncError> {
        (**self).execute(sql, args)
    }

    fn each_row(&mut self, sql: &'static str, args: &[Arg<'_>], each: &mut EachRow<'_>) -> Result<(), SyncError> {
        (**self).each_row(sql, args, each)
    }

    fn batch(&mut self, sql: &str) -> Result<(), SyncError> {
        (**self).batch(sql)
    }
}

/// The first column of the first row, if any.
fn scalar<T: Tx>(tx: &mut T, sql: &'static str, args: &[Arg<'_>]) -> Result<Option<Cell>, SyncError> {
    Ok(tx.query(sql, args)?.into_iter().next().and_then(|r| r.into_iter().next()))
}

const COLS: &str = "table_name, pk, op, payload, version, clock, hlc, device_id, op_id";

const SCAN_SQLITE: &str = "SELECT table_name, pk, op, payload, version, clock, hlc, device_id, op_id FROM records
   WHERE workspace = $1 AND version > $2 AND in_log
     AND ($3 IS NULL OR table_name IN (SELECT value FROM json_each($3))) AND ($4 IS NULL OR project_id = $4)
   ORDER BY version LIMIT $5";
const SCAN_POSTGRES: &str = "SELECT table_name, pk, op, payload, version, clock, hlc, device_id, op_id FROM records
   WHERE workspace = $1 AND version > $2 AND in_log
     AND ($3::text[] IS NULL OR table_name = ANY($3)) AND ($4::text IS NULL OR project_id = $4)
   ORDER BY version LIMIT $5";
const CURRENT: &str = "SELECT table_name, pk, op, payload, version, clock, hlc, device_id, op_id
   FROM records WHERE workspace = $1 AND table_name = $2 AND pk = $3";
const HEAD: &str =
    "SELECT op, clock, hlc, device_id, op_id FROM records WHERE workspace = $1 AND table_name = $2 AND pk = $3";
const VERSION: &str = "SELECT version FROM workspaces WHERE id = $1";
const WATERMARK: &str = "SELECT watermark FROM workspaces WHERE id = $1";
pub(super) const HEAD_OF_LOG: &str = "SELECT version, watermark FROM workspaces WHERE id = $1";
const ENSURE_WORKSPACE: &str = "INSERT INTO workspaces (id) VALUES ($1) ON CONFLICT DO NOTHING";
const SEEN_OP: &str = "SELECT version FROM ops WHERE workspace = $1 AND op_id = $2";
pub(super) const REMEMBER_OP: &str = "INSERT INTO ops (workspace, op_id, version, seen_at_ms) VALUES ($1, $2, $3, $4)";
pub(super) const WRITE: &str =
    "INSERT INTO records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id,
                         version, project_id, applied_at_ms, in_log)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, TRUE)
   ON CONFLICT (workspace, table_name, pk) DO UPDATE SET
     op = excluded.op, payload = excluded.payload, clock = excluded.clock, hlc = excluded.hlc,
     device_id = excluded.device_id, op_id = excluded.op_id, version = excluded.version,
     project_id = excluded.project_id, applied_at_ms = excluded.applied_at_ms, in_log = TRUE";
const BUMP_VERSION: &str = "UPDATE workspaces SET version = $1, applied = applied + 1 WHERE id = $2";
const RAISE_CURSOR: &str = "INSERT INTO cursors (workspace, device_id, version, updated_at_ms) VALUES ($1, $2, $3, $4)
   ON CONFLICT (workspace, device_id) DO UPDATE SET
     version = CASE WHEN excluded.version > cursors.version THEN excluded.version ELSE cursors.version END,
     updated_at_ms = excluded.updated_at_ms";
const MIN_CURSOR: &str = "SELECT MIN(version) FROM cursors WHERE workspace = $1 AND updated_at_ms >= $2";
const RAISE_WATERMARK: &str =
    "UPDATE workspaces SET watermark = CASE WHEN $1 > watermark THEN $1 ELSE watermark END WHERE id = $2";
const PURGE: &str = "UPDATE records SET in_log = FALSE, payload = NULL
   WHERE workspace = $1 AND in_log AND op = 'delete' AND version <= $2 AND applied_at_ms <= $3
   RETURNING version";
const PRUNE_OPS: &str = "DELETE FROM ops WHERE workspace = $1 AND op_id IN
   (SELECT op_id FROM ops WHERE workspace = $1 AND seen_at_ms <= $2 LIMIT $3)";
const WORKSPACES: &str = "SELECT id FROM workspaces ORDER BY id";
const TOKEN_USER: &str = "SELECT user_id FROM tokens WHERE hash = $1";
/// A token's user and its workspaces (one row per membership; one with a
/// NULL workspace for a user without any; none for an unknown token).
const GRANT: &str = "SELECT t.user_id, m.workspace FROM tokens t LEFT JOIN memberships m ON m.user_id = t.user_id
   WHERE t.hash = $1 ORDER BY m.workspace";
const ADD_USER: &str = "INSERT INTO users (id, created_at_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const ADD_TOKEN: &str = "INSERT INTO tokens (hash, user_id, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const ADD_MEMBER: &str = "INSERT INTO memberships (user_id, workspace) VALUES ($1, $2) ON CONFLICT DO NOTHING";
const REVOKE_TOKEN: &str = "DELETE FROM tokens WHERE hash = $1";
const REVOKE_USER: &str = "DELETE FROM tokens WHERE user_id = $1";
const REMOVE_MEMBER: &str = "DELETE FROM memberships WHERE user_id = $1 AND workspace = $2";

/// The arguments of [`Dialect::scan_sql`]: up to `limit + 1` rows above
/// `after`, since one row past the page says whether more follow without
/// counting them.
pub fn scan_args<'a>(ws: &'a str, after: u64, limit: usize, filter: ScanFilter<'a>) -> Result<[Arg<'a>; 5], SyncError> {
    let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    Ok([
        Arg::Text(ws),
        Arg::Int(row::to_i64(after)?),
        Arg::Tables(filter.tables),
        Arg::OptText(filter.project),
        Arg::Int(fetch),
    ])
}

/// One workspace inside one transaction.
pub struct Store<'a, T: Tx> {
    pub tx: T,
    pub ws: &'a str,
    pub now_ms: u64,
}

fn change<P: Payload>(row: Vec<Cell>) -> Result<SyncChange<P>, SyncError> {
    let [table_name, pk, op, payload, version, clock, hlc, device_id, op_id]: [Cell; 9] =
        row.try_into().map_err(|_| SyncError::Storage(format!("a change row has the columns {COLS}")))?;
    ChangeRow {
        table_name: table_name.text()?,
        pk: pk.text()?,
        op: op.text()?,
        payload: payload.opt_text()?,
        version: version.int()?,
        clock: clock.int()?,
        hlc: hlc.text()?,
        device_id: device_id.text()?,
        op_id: op_id.text()?,
    }
    .into_change()
}

impl<T: Tx> Store<'_, T> {
    /// The workspace's serverVersion (0 before its first write).
    pub fn version(&mut self) -> Result<u64, SyncError> {
        self.number(VERSION)
    }

    fn number(&mut self, sql: &'static str) -> Result<u64, SyncError> {
        let n = scalar(&mut self.tx, sql, &[Arg::Text(self.ws)])?;
        row::to_u64(n.map(|c| c.opt_int()).transpose()?.flatten().unwrap_or(0))
    }

    /// Creates the workspace's row if it has none (before a write).
    pub fn ensure(&mut self) -> Result<(), SyncError> {
        self.tx.execute(ENSURE_WORKSPACE, &[Arg::Text(self.ws)]).map(drop)
    }

    /// Forgets at most `limit` opIds remembered at or before `until_ms`.
    pub fn prune_ops(&mut self, until_ms: u64, limit: usize) -> Result<usize, SyncError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let args = [Arg::Text(self.ws), Arg::Int(row::to_i64(until_ms)?), Arg::Int(limit)];
        Ok(self.tx.execute(PRUNE_OPS, &args)? as usize)
    }
}

/// The log as typed changes (the push path and GC read payloads as
/// `Value`); pulls read it encoded ([`super::page`]).
impl<T: Tx, P: Payload> LogRead<P> for Store<'_, T> {
    fn version(&mut self) -> Result<u64, SyncError> {
        self.number(VERSION)
    }

    fn watermark(&mut self) -> Result<u64, SyncError> {
        self.number(WATERMARK)
    }

    fn scan(&mut self, after: u64, limit: usize, filter: ScanFilter<'_>) -> Result<Scan<P>, SyncError> {
        let args = scan_args(self.ws, after, limit, filter)?;
        let rows = self.tx.query(T::DIALECT.scan_sql(), &args)?;
        let changes = rows.into_iter().map(change).collect::<Result<Vec<_>, _>>()?;
        let version = self.number(VERSION)?;
        Ok(row::page(changes, limit, version))
    }
}

impl<T: Tx> WorkspaceStore<Value> for Store<'_, T> {
    fn seen_op(&mut self, op_id: &str) -> Result<Option<Option<u64>>, SyncError> {
        let got = scalar(&mut self.tx, SEEN_OP, &[Arg::Text(self.ws), Arg::Text(op_id)])?;
        got.map(|c| c.opt_int()?.map(row::to_u64).transpose()).transpose()
    }

    fn remember_op(&mut self, op_id: &str, version: Option<u64>) -> Result<(), SyncError> {
        let version = version.map(row::to_i64).transpose()?;
        let args = [Arg::Text(self.ws), Arg::Text(op_id), Arg::OptInt(version), Arg::Int(row::to_i64(self.now_ms)?)];
        self.tx.execute(REMEMBER_OP, &args).map(drop)
    }

    fn head(&mut self, table: &str, pk: &Pk) -> Result<Option<(OpKind, ChangeStamp)>, SyncError> {
        let pk = row::encode_pk(pk)?;
        let rows = self.tx.query(HEAD, &[Arg::Text(self.ws), Arg::Text(table), Arg::Text(&pk)])?;
        let Some(r) = rows.into_iter().next() else { return Ok(None) };
        let [op, clock, hlc, device, op_id]: [Cell; 5] =
            r.try_into().map_err(|_| SyncError::Storage("a head row has 5 columns".into()))?;
        let stamp = row::stamp(clock.int()?, hlc.text()?, device.text()?, op_id.text()?)?;
        Ok(Some((row::decode_op(&op.text()?)?, stamp)))
    }

    fn current(&mut self, table: &str, pk: &Pk) -> Result<Option<SyncChange<Value>>, SyncError> {
        let pk = row::encode_pk(pk)?;
        let rows = self.tx.query(CURRENT, &[Arg::Text(self.ws), Arg::Text(table), Arg::Text(&pk)])?;
        rows.into_iter().next().map(change).transpose()
    }

    fn write(&mut self, c: &SyncChange<Value>, project_id: Option<&str>, applied_at_ms: u64) -> Result<(), SyncError> {
        let version = row::to_i64(c.server_version)?;
        let pk = row::encode_pk(&c.pk)?;
        let payload = row::encode_payload(c.payload.as_ref())?;
        let args = [
            Arg::Text(self.ws),
            Arg::Text(&c.table_name),
            Arg::Text(&pk),
            Arg::Text(c.op.as_str()),
            Arg::OptText(payload.as_deref()),
            Arg::Int(row::to_i64(c.stamp.clock)?),
            Arg::Text(&c.stamp.hlc),
            Arg::Text(&c.stamp.device_id),
            Arg::Text(&c.stamp.op_id),
            Arg::Int(version),
            Arg::OptText(project_id),
            Arg::Int(row::to_i64(applied_at_ms)?),
        ];
        self.tx.execute(WRITE, &args)?;
        self.tx.execute(BUMP_VERSION, &[Arg::Int(version), Arg::Text(self.ws)]).map(drop)
    }

    fn raise_cursor(&mut self, device_id: &str, version: u64) -> Result<(), SyncError> {
        let args = [
            Arg::Text(self.ws),
            Arg::Text(device_id),
            Arg::Int(row::to_i64(version)?),
            Arg::Int(row::to_i64(self.now_ms)?),
        ];
        self.tx.execute(RAISE_CURSOR, &args).map(drop)
    }

    fn min_cursor(&mut self) -> Result<Option<u64>, SyncError> {
        let since = row::to_i64(self.now_ms.saturating_sub(DEVICE_TTL_MS))?;
        let n = scalar(&mut self.tx, MIN_CURSOR, &[Arg::Text(self.ws), Arg::Int(since)])?;
        n.map(|c| c.opt_int()).transpose().map(Option::flatten)?.map(row::to_u64).transpose()
    }

    fn raise_watermark(&mut self, watermark: u64) -> Result<(), SyncError> {
        self.tx.execute(RAISE_WATERMARK, &[Arg::Int(row::to_i64(watermark)?), Arg::Text(self.ws)]).map(drop)
    }

    fn purge_tombstones(&mut self, max_version: u64, applied_until_ms: u64) -> Result<(usize, Option<u64>), SyncError> {
        let args = [Arg::Text(self.ws), Arg::Int(row::to_i64(max_version)?), Arg::Int(row::to_i64(applied_until_ms)?)];
        let rows = self.tx.query(PURGE, &args)?;
        let mut highest = None;
        for r in &rows {
            let v = r.first().ok_or_else(|| storage("RETURNING gave no column"))?.int()?;
            highest = highest.max(Some(v));
        }
        Ok((rows.len(), highest.map(row::to_u64).transpose()?))
    }
}

/// The version the pre-refinery migration runner recorded in
/// `schema_migrations`, or `None` when the database has no such table.
pub fn legacy_version<T: Tx>(tx: &mut T) -> Result<Option<i64>, SyncError> {
    let exists = match T::DIALECT {
        Dialect::Sqlite => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
        Dialect::Postgres => {
            "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'"
        }
    };
    if tx.query(exists, &[])?.is_empty() {
        return Ok(None);
    }
    let version = scalar(tx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?;
    Ok(Some(version.map(|c| c.int()).transpose()?.unwrap_or(0)))
}

/// Drops the pre-refinery runner's table, once refinery is baselined.
pub fn drop_legacy<T: Tx>(tx: &mut T) -> Result<(), SyncError> {
    tx.batch("DROP TABLE IF EXISTS schema_migrations")
}

/// Every workspace that has a row.
pub fn workspaces<T: Tx>(tx: &mut T) -> Result<Vec<String>, SyncError> {
    tx.query(WORKSPACES, &[])?.into_iter().map(|r| r.into_iter().next().unwrap_or(Cell::Null).text()).collect()
}

/// The grant of the token whose hash is `token_hash`, in one statement.
pub fn grant<T: Tx>(tx: &mut T, token_hash: &str) -> Result<Option<Grant>, SyncError> {
    let mut grant: Option<Grant> = None;
    for r in tx.query(GRANT, &[Arg::Text(token_hash)])? {
        let [user, workspace]: [Cell; 2] = r.try_into().map_err(|_| storage("a grant row has 2 columns"))?;
        let g = match &mut grant {
            Some(g) => g,
            None => grant.insert(Grant { user_id: user.text()?, workspaces: Vec::new() }),
        };
        g.workspaces.extend(workspace.opt_text()?);
    }
    Ok(grant)
}

/// Stores a token for `user_id` (creating the user) and adds the user to
/// `workspaces`; `INVALID` when the token belongs to another user (the
/// caller then drops the transaction: nothing changes).
pub fn create_token<T: Tx>(
    tx: &mut T,
    token_hash: &str,
    user_id: &str,
    workspaces: &[String],
    now_ms: u64,
) -> Result<(), SyncError> {
    let now = row::to_i64(now_ms)?;
    tx.execute(ADD_USER, &[Arg::Text(user_id), Arg::Int(now)])?;
    tx.execute(ADD_TOKEN, &[Arg::Text(token_hash), Arg::Text(user_id), Arg::Int(now)])?;
    let owner = scalar(tx, TOKEN_USER, &[Arg::Text(token_hash)])?.unwrap_or(Cell::Null).text()?;
    if owner != user_id {
        return Err(SyncError::invalid("token", "this token already belongs to another user"));
    }
    for ws in workspaces {
        tx.execute(ADD_MEMBER, &[Arg::Text(user_id), Arg::Text(ws)])?;
    }
    Ok(())
}

pub fn revoke_token<T: Tx>(tx: &mut T, token_hash: &str) -> Result<usize, SyncError> {
    Ok(tx.execute(REVOKE_TOKEN, &[Arg::Text(token_hash)])? as usize)
}

pub fn revoke_user_tokens<T: Tx>(tx: &mut T, user_id: &str) -> Result<usize, SyncError> {
    Ok(tx.execute(REVOKE_USER, &[Arg::Text(user_id)])? as usize)
}

pub fn remove_member<T: Tx>(tx: &mut T, user_id: &str, workspace: &str) -> Result<bool, SyncError> {
    Ok(tx.execute(REMOVE_MEMBER, &[Arg::Text(user_id), Arg::Text(workspace)])? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite numbers `$n` by first appearance: each statement must use
    /// `$1`, `$2`, ... first in that order for both databases to agree.
    #[test]
    fn every_statement_first_uses_its_parameters_in_ascending_order() {
        let all = [
            SCAN_SQLITE,
            SCAN_POSTGRES,
            CURRENT,
            HEAD,
            VERSION,
            WATERMARK,
            HEAD_OF_LOG,
            ENSURE_WORKSPACE,
            SEEN_OP,
            REMEMBER_OP,
            WRITE,
            BUMP_VERSION,
            RAISE_CURSOR,
            MIN_CURSOR,
            RAISE_WATERMARK,
            PURGE,
            PRUNE_OPS,
            WORKSPACES,
            TOKEN_USER,
            GRANT,
            ADD_USER,
            ADD_TOKEN,
            ADD_MEMBER,
            REVOKE_TOKEN,
            REVOKE_USER,
            REMOVE_MEMBER,
        ];
        for sql in all {
            let mut seen: Vec<u32> = Vec::new();
            for part in sql.split('$').skip(1) {
                let n: u32 = part.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap();
                if !seen.contains(&n) {
                    assert_eq!(n as usize, seen.len() + 1, "{sql}");
                    seen.push(n);
                }
            }
        }
    }

    #[test]
    fn the_scans_read_the_change_columns() {
        for sql in [SCAN_SQLITE, SCAN_POSTGRES, CURRENT] {
            assert!(sql.contains(COLS), "{sql}");
        }
        assert_eq!(COLS, row::CHANGE_COLUMNS);
    }
}
