//! One workspace's server state: its version counter, the current state of
//! every record, the compacted change log, the opIds it has seen, the device
//! cursors and the purge watermark.
//!
//! The change log keeps only the latest change per record: when a record
//! changes again its older entry is removed. A pull from cursor 0 therefore
//! returns the full current state, one change per record, and the log never
//! holds more entries than there are records. The log is a
//! `BTreeMap<version, record key>`, so a pull is a range scan; each record
//! knows the version of its log entry, so replacing it is O(log n).
//!
//! Records are kept after their tombstone change is purged by GC (only the
//! stamp, no payload): a late put with an older stamp must still lose to the
//! delete (no resurrection, PROTOCOL.md section 1).

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use crate::core::error::SyncError;
use crate::core::lww::{decide, Decision, Held};
use crate::core::pk::Pk;
use crate::core::stamp::ChangeStamp;
use crate::core::wire::{OpKind, OpResult, PullRequest, PullResponse, PushOp, SyncChange};

/// The smallest tombstone retention [`Workspace::gc`] accepts, in milliseconds.
pub const MIN_RETENTION_MS: u64 = 60_000;

/// A record's identity: `(table name, primary key)`.
pub(crate) type RecordKey = (String, Pk);

/// The current state of one record: the last write that won LWW.
#[derive(Debug, Clone)]
pub(crate) struct Record<P> {
    /// `Put`: a live row; `Delete`: a tombstone.
    pub op: OpKind,
    /// The row for a put; `None` for a tombstone.
    pub payload: Option<P>,
    pub stamp: ChangeStamp,
    /// The serverVersion the write got; also the key of its log entry (if
    /// GC has not purged it).
    pub version: u64,
    /// The projectId of the batch that carried the write.
    pub project_id: Option<String>,
    /// The server time at which the write was applied (for tombstone GC).
    pub applied_at_ms: u64,
}

impl<P> Record<P> {
    fn held(&self) -> Held<'_> {
        match self.op {
            OpKind::Put => Held::Live(&self.stamp),
            OpKind::Delete => Held::Tombstone(&self.stamp),
        }
    }
}

impl<P: Clone> Record<P> {
    pub(crate) fn to_change(&self, key: &RecordKey) -> SyncChange<P> {
        SyncChange {
            table_name: key.0.clone(),
            pk: key.1.clone(),
            op: self.op,
            payload: self.payload.clone(),
            server_version: self.version,
            stamp: self.stamp.clone(),
        }
    }
}

/// The state of one workspace. Nothing here is shared with another workspace.
#[derive(Debug, Clone)]
pub(crate) struct Workspace<P> {
    /// The highest serverVersion assigned (0: nothing applied yet).
    version: u64,
    records: HashMap<RecordKey, Record<P>>,
    /// The compacted change log: version -> record, one entry per record at most.
    log: BTreeMap<u64, RecordKey>,
    /// Every opId seen, with the version it got (`None`: it lost LWW).
    ops: HashMap<String, Option<u64>>,
    /// How many ops won LWW and were applied.
    applied: u64,
    /// How far each device has pulled (the max it ever reported).
    cursors: HashMap<String, u64>,
    /// Cursors in `1..watermark` are expired.
    watermark: u64,
}

impl<P> Default for Workspace<P> {
    fn default() -> Self {
        Workspace {
            version: 0,
            records: HashMap::new(),
            log: BTreeMap::new(),
            ops: HashMap::new(),
            applied: 0,
            cursors: HashMap::new(),
            watermark: 0,
        }
    }
}

impl<P: Clone> Workspace<P> {
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    pub(crate) fn applied_ops(&self) -> u64 {
        self.applied
    }

    pub(crate) fn seen_ops(&self) -> u64 {
        self.ops.len() as u64
    }

    pub(crate) fn records(&self) -> impl Iterator<Item = (&RecordKey, &Record<P>)> {
        self.records.iter()
    }

    /// Applies one op (see `ServerState::push`). Returns its result and, when
    /// it won LWW, the change it produced.
    pub(crate) fn apply(
        &mut self,
        op: &PushOp<P>,
        project_id: Option<&str>,
        now_ms: u64,
    ) -> (OpResult, Option<SyncChange<P>>) {
        if let Some(version) = self.ops.get(&op.op_id) {
            return (acknowledged(&op.op_id, *version), None);
        }
        let key: RecordKey = (op.table_name.clone(), op.pk.clone());
        let held = self.records.get(&key).map_or(Held::Nothing, Record::held);
        let change = match decide(held, &op.stamp) {
            Decision::Apply => Some(self.write(key, op, project_id, now_ms)),
            Decision::Reject | Decision::AlreadyHeld => None,
        };
        let version = change.as_ref().map(|c| c.server_version);
        self.ops.insert(op.op_id.clone(), version);
        (acknowledged(&op.op_id, version), change)
    }

    /// Makes `op` the record's state under a new version and moves the
    /// record's log entry to that version.
    fn write(&mut self, key: RecordKey, op: &PushOp<P>, project_id: Option<&str>, now_ms: u64) -> SyncChange<P> {
        self.version += 1;
        self.applied += 1;
        let record = Record {
            op: op.op,
            payload: match op.op {
                OpKind::Put => op.payload.clone(),
                OpKind::Delete => None,
            },
            stamp: op.stamp.clone(),
            version: self.version,
            project_id: project_id.map(str::to_string),
            applied_at_ms: now_ms,
        };
        let change = record.to_change(&key);
        if let Some(old) = self.records.insert(key.clone(), record) {
            self.log.remove(&old.version);
        }
        self.log.insert(self.version, key);
        change
    }

    /// See `ServerState::pull`.
    pub(crate) fn pull(&self, req: &PullRequest) -> Result<PullResponse<P>, SyncError> {
        let cursor = req.cursor;
        if cursor > self.version {
            return Err(SyncError::invalid(
                "cursor",
                format!("{cursor} is above the server's version {}", self.version),
            ));
        }
        if cursor > 0 && cursor < self.watermark {
            return Err(SyncError::CursorExpired(format!(
                "history below version {} was purged; cursor {cursor} must rescan from 0",
                self.watermark
            )));
        }
        if req.limit == 0 {
            return Err(SyncError::invalid("limit", "must be at least 1"));
        }
        let limit = usize::try_from(req.limit).unwrap_or(usize::MAX);
        let tables = req.tables.as_deref();
        let project = req.scope.project_id.as_deref();
        let mut matching = self
            .log
            .range((Bound::Excluded(cursor), Bound::Unbounded))
            .filter_map(|(_, key)| self.records.get(key).map(|r| (key, r)))
            .filter(|(key, r)| {
                tables.is_none_or(|t| t.contains(&key.0)) && project.is_none_or(|p| r.project_id.as_deref() == Some(p))
            });
        let changes: Vec<SyncChange<P>> = matching.by_ref().take(limit).map(|(key, r)| r.to_change(key)).collect();
        let remaining = matching.count() as u64;
        let has_more = remaining > 0;
        let next_cursor = match changes.last() {
            Some(last) if has_more => last.server_version,
            _ => self.version,
        };
        Ok(PullResponse { changes, next_cursor, has_more, remaining: Some(remaining) })
    }

    /// See `ServerState::update_cursor`.
    pub(crate) fn update_cursor(&mut self, device_id: &str, version: u64) -> Result<(), SyncError> {
        if version > self.version {
            return Err(SyncError::invalid(
                "version",
                format!("{version} is above the server's version {}", self.version),
            ));
        }
        match self.cursors.get_mut(device_id) {
            Some(c) => *c = (*c).max(version),
            None => {
                self.cursors.insert(device_id.to_string(), version);
            }
        }
        Ok(())
    }

    /// See `ServerState::purge_history`. The watermark never exceeds the
    /// current version: a client that has pulled everything is never expired,
    /// so a rescan always ends.
    pub(crate) fn purge_history(&mut self, below: u64) {
        self.watermark = self.watermark.max(below.min(self.version));
    }

    /// See `ServerState::gc`.
    pub(crate) fn gc(&mut self, now_ms: u64, retention_ms: u64) -> usize {
        let retention = retention_ms.max(MIN_RETENTION_MS);
        // A device whose cursor is at or above a change's version has pulled
        // it. With no known device, every change is old enough by this rule;
        // unknown devices are protected by the watermark (CURSOR_EXPIRED).
        let bound = self.cursors.values().copied().min().unwrap_or(self.version);
        let purged: Vec<u64> = self
            .log
            .range(..=bound)
            .filter(|(_, key)| {
                self.records
                    .get(*key)
                    .is_some_and(|r| r.op == OpKind::Delete && now_ms.saturating_sub(r.applied_at_ms) >= retention)
            })
            .map(|(version, _)| *version)
            .collect();
        for version in &purged {
            self.log.remove(version);
        }
        if let Some(highest) = purged.last() {
            self.watermark = self.watermark.max(*highest);
        }
        purged.len()
    }
}

fn acknowledged(op_id: &str, server_version: Option<u64>) -> OpResult {
    OpResult { op_id: op_id.to_string(), success: true, server_version, error: None, code: None, retryable: None }
}
