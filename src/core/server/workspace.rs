//! One workspace's server state in memory: its version counter, the current
//! state of every record, the compacted change log, the opIds it has seen,
//! the device cursors and the purge watermark. It implements the storage
//! traits of [`super::store`]; the algorithm is in [`super::apply`].
//!
//! The change log keeps only the latest change per record: when a record
//! changes again its older entry is removed. A pull from cursor 0 therefore
//! returns the full current state, one change per record, and the log never
//! holds more entries than there are records. The log is a
//! `BTreeMap<version, record key>`, so a pull is a range scan; each record
//! knows the version of its log entry, so replacing it is O(log n). A page
//! also reports how many matching changes remain; paging on through an
//! unchanged log takes that from the page before instead of walking the
//! rest of the log each time (a bootstrap would be quadratic otherwise).
//!
//! Records are kept after their tombstone change is purged by GC (only the
//! stamp, no payload): a late put with an older stamp must still lose to the
//! delete (no resurrection, docs/PROTOCOL.md section 1).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use super::store::{LogRead, Scan, ScanFilter, WorkspaceStore};
use crate::core::error::SyncError;
use crate::core::pk::Pk;
use crate::core::stamp::ChangeStamp;
use crate::core::wire::{OpKind, SyncChange};

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
    /// What the last scan left to count, so that paging on through an
    /// unchanged log does not walk the rest of it again for every page.
    memo: RefCell<Option<ScanMemo>>,
}

/// A scan's count of the matching entries after its page.
#[derive(Debug, Clone, PartialEq)]
struct ScanMemo {
    tables: Option<Vec<String>>,
    project: Option<String>,
    /// The version of the page's last entry: where the next page starts.
    end: u64,
    remaining: u64,
}

impl ScanMemo {
    fn of(filter: &ScanFilter<'_>, end: u64, remaining: u64) -> ScanMemo {
        ScanMemo {
            tables: filter.tables.map(<[String]>::to_vec),
            project: filter.project.map(str::to_string),
            end,
            remaining,
        }
    }

    /// Whether this memo counts what follows a scan from `after` with `filter`.
    fn continues(&self, filter: &ScanFilter<'_>, after: u64) -> bool {
        self.end == after && self.tables.as_deref() == filter.tables && self.project.as_deref() == filter.project
    }
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
            memo: RefCell::new(None),
        }
    }
}

impl<P> Workspace<P> {
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
}

/// Reads go through a shared reference, so `ServerState::pull` needs no `&mut`.
impl<P: Clone> LogRead<P> for &Workspace<P> {
    fn version(&mut self) -> Result<u64, SyncError> {
        Ok(self.version)
    }

    fn watermark(&mut self) -> Result<u64, SyncError> {
        Ok(self.watermark)
    }

    fn scan(&mut self, after: u64, limit: usize, filter: ScanFilter<'_>) -> Result<Scan<P>, SyncError> {
        let log = self.log.range((Bound::Excluded(after), Bound::Unbounded));
        let records = &self.records;
        // The log names each entry's table: without a project filter no
        // record lookup is needed to filter.
        let keeps = |key: &RecordKey| match filter.project {
            None => filter.keeps(&key.0, None),
            Some(_) => records.get(key).is_some_and(|r| filter.keeps(&key.0, r.project_id.as_deref())),
        };
        let mut matching = log.filter(|(_, key)| keeps(key));
        let page: Vec<(&u64, &RecordKey)> = matching.by_ref().take(limit).collect();
        let changes = page.iter().filter_map(|(_, key)| records.get(*key).map(|r| r.to_change(key))).collect();
        let end = page.last().map_or(after, |(v, _)| **v);
        let mut memo = self.memo.borrow_mut();
        let remaining = match memo.as_ref().filter(|m| m.continues(&filter, after)) {
            Some(m) => m.remaining.saturating_sub(page.len() as u64),
            None => matching.count() as u64,
        };
        *memo = Some(ScanMemo::of(&filter, end, remaining));
        Ok(Scan { changes, remaining })
    }
}

impl<P: Clone> LogRead<P> for Workspace<P> {
    fn version(&mut self) -> Result<u64, SyncError> {
        Ok(self.version)
    }

    fn watermark(&mut self) -> Result<u64, SyncError> {
        Ok(self.watermark)
    }

    fn scan(&mut self, after: u64, limit: usize, filter: ScanFilter<'_>) -> Result<Scan<P>, SyncError> {
        (&*self).scan(after, limit, filter)
    }
}

impl<P: Clone> WorkspaceStore<P> for Workspace<P> {
    fn seen_op(&mut self, op_id: &str) -> Result<Option<Option<u64>>, SyncError> {
        Ok(self.ops.get(op_id).copied())
    }

    fn remember_op(&mut self, op_id: &str, version: Option<u64>) -> Result<(), SyncError> {
        self.ops.insert(op_id.to_string(), version);
        Ok(())
    }

    fn head(&mut self, table: &str, pk: &Pk) -> Result<Option<(OpKind, ChangeStamp)>, SyncError> {
        let key: RecordKey = (table.to_string(), pk.clone());
        Ok(self.records.get(&key).map(|r| (r.op, r.stamp.clone())))
    }

    fn current(&mut self, table: &str, pk: &Pk) -> Result<Option<SyncChange<P>>, SyncError> {
        let key: RecordKey = (table.to_string(), pk.clone());
        Ok(self.records.get(&key).map(|r| r.to_change(&key)))
    }

    fn write(&mut self, change: &SyncChange<P>, project_id: Option<&str>, applied_at_ms: u64) -> Result<(), SyncError> {
        let key: RecordKey = (change.table_name.clone(), change.pk.clone());
        let record = Record {
            op: change.op,
            payload: change.payload.clone(),
            stamp: change.stamp.clone(),
            version: change.server_version,
            project_id: project_id.map(str::to_string),
            applied_at_ms,
        };
        self.memo.get_mut().take();
        if let Some(old) = self.records.insert(key.clone(), record) {
            self.log.remove(&old.version);
        }
        self.log.insert(change.server_version, key);
        self.version = change.server_version;
        self.applied += 1;
        Ok(())
    }

    fn raise_cursor(&mut self, device_id: &str, version: u64) -> Result<(), SyncError> {
        let c = self.cursors.entry(device_id.to_string()).or_insert(version);
        *c = (*c).max(version);
        Ok(())
    }

    fn min_cursor(&mut self) -> Result<Option<u64>, SyncError> {
        Ok(self.cursors.values().copied().min())
    }

    fn raise_watermark(&mut self, watermark: u64) -> Result<(), SyncError> {
        self.watermark = self.watermark.max(watermark);
        Ok(())
    }

    fn purge_tombstones(&mut self, max_version: u64, applied_until_ms: u64) -> Result<(usize, Option<u64>), SyncError> {
        let purged: Vec<u64> = self
            .log
            .range(..=max_version)
            .filter(|(_, key)| {
                self.records.get(*key).is_some_and(|r| r.op == OpKind::Delete && r.applied_at_ms <= applied_until_ms)
            })
            .map(|(version, _)| *version)
            .collect();
        self.memo.get_mut().take();
        for version in &purged {
            self.log.remove(version);
        }
        Ok((purged.len(), purged.last().copied()))
    }
}
