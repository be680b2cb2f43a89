//! The storage the server-side apply algorithm runs over, as two traits.
//!
//! [`super::apply`] holds the algorithm (idempotency, LWW, versions, paging,
//! cursors, GC); a backend only stores and finds. The in-memory
//! [`super::ServerState`] implements these traits for one workspace, and the
//! reference server (`server/`) implements them over a SQLite or PostgreSQL
//! transaction, so every backend runs the very same algorithm.
//!
//! Every method is scoped to one workspace: a backend binds the workspace id
//! when it opens the store, and no method can reach another workspace.
//! Methods are fallible so that a database error surfaces as a typed
//! [`SyncError`] (the memory store never fails).

use crate::core::error::SyncError;
use crate::core::pk::Pk;
use crate::core::stamp::ChangeStamp;
use crate::core::wire::{OpKind, SyncChange};

/// Which changes a scan keeps: `tables` (all when `None`) and `project`
/// (all when `None`; otherwise only changes pushed with that project id).
#[derive(Debug, Clone, Copy)]
pub struct ScanFilter<'a> {
    pub tables: Option<&'a [String]>,
    pub project: Option<&'a str>,
}

impl ScanFilter<'_> {
    /// Whether a change of `table`, pushed with `project`, passes.
    pub fn keeps(&self, table: &str, project: Option<&str>) -> bool {
        self.tables.is_none_or(|t| t.iter().any(|x| x == table)) && self.project.is_none_or(|p| project == Some(p))
    }
}

/// One page of the compacted change log.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan<P> {
    /// Matching changes with a version above the scan's start, ascending.
    pub changes: Vec<SyncChange<P>>,
    /// How many matching changes come after the page: 0 exactly when none
    /// does; otherwise the exact count or a cheap upper bound (at least 1).
    /// The memory store counts; the reference server's SQL stores report
    /// `version - the page's last version`, since counting the rest of the
    /// log on every page makes a bootstrap quadratic.
    pub remaining: u64,
}

/// What a pull reads: the version counter, the purge watermark and the log.
pub trait LogRead<P> {
    /// The highest serverVersion assigned (0: nothing applied yet).
    fn version(&mut self) -> Result<u64, SyncError>;
    /// Cursors in `1..watermark` are expired.
    fn watermark(&mut self) -> Result<u64, SyncError>;
    /// At most `limit` log entries with a version above `after` that pass
    /// `filter`, in ascending version order, each as the change its record
    /// holds, and how many more pass after them.
    fn scan(&mut self, after: u64, limit: usize, filter: ScanFilter<'_>) -> Result<Scan<P>, SyncError>;
}

/// What push, cursors and GC also need: records, opIds, device cursors.
pub trait WorkspaceStore<P>: LogRead<P> {
    /// The version an opId got when first seen: `Some(Some(v))` applied at
    /// `v`, `Some(None)` seen but lost LWW, `None` never seen.
    fn seen_op(&mut self, op_id: &str) -> Result<Option<Option<u64>>, SyncError>;
    /// Remembers an opId with the version it got (`None`: it lost LWW).
    fn remember_op(&mut self, op_id: &str, version: Option<u64>) -> Result<(), SyncError>;
    /// The op and stamp of the write a record currently holds (a live row or
    /// a tombstone), even after GC purged its log entry.
    fn head(&mut self, table: &str, pk: &Pk) -> Result<Option<(OpKind, ChangeStamp)>, SyncError>;
    /// The record's current state as a change (its op, payload, stamp and
    /// version), even after GC purged its log entry. Read only for ops that
    /// did not become the record's state, to tell the device what did.
    fn current(&mut self, table: &str, pk: &Pk) -> Result<Option<SyncChange<P>>, SyncError>;
    /// Makes `change` the record's state: its payload (none for a delete),
    /// stamp, version, `project_id` and `applied_at_ms`. The record's log
    /// entry moves to `change.server_version`, which becomes the workspace's
    /// version; the applied-op count goes up by one.
    fn write(&mut self, change: &SyncChange<P>, project_id: Option<&str>, applied_at_ms: u64) -> Result<(), SyncError>;
    /// Sets a device's cursor to `version` if that is higher than the one kept.
    fn raise_cursor(&mut self, device_id: &str, version: u64) -> Result<(), SyncError>;
    /// The lowest cursor of the devices that count for GC (`None`: none).
    fn min_cursor(&mut self) -> Result<Option<u64>, SyncError>;
    /// Raises the watermark to `watermark` (never lowers it).
    fn raise_watermark(&mut self, watermark: u64) -> Result<(), SyncError>;
    /// Removes from the log the entries of tombstones (op delete) with a
    /// version at or below `max_version` applied at or before
    /// `applied_until_ms`; the records keep their stamps. Returns how many
    /// were removed and the highest version removed.
    fn purge_tombstones(&mut self, max_version: u64, applied_until_ms: u64) -> Result<(usize, Option<u64>), SyncError>;
}
