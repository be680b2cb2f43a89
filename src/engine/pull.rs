//! Pulling: the cursor in `sync_state`, one page per step, and what follows
//! an applied batch (events, other tabs, the `resolve` hooks).
//!
//! A step asks the provider for the changes after the cursor (`pullLimit` at
//! most, the engine's tables only), checks the page against the request, and
//! applies it together with the cursor advance in one transaction. Until the
//! first pull has caught up (`hasMore: false`), each page also reports
//! `sync.bootstrap:action:progress`; a reload resumes from the last committed
//! page. A malformed page is rejected as a whole with `INVALID`: nothing of it
//! is applied and the cursor stays.

use serde_json::Value;

use super::apply::Applied;
use super::cursors::{Cursors, STATE_CURSORS};
use super::events::{ChangeSource, Event, ProgressEvent, PullEvent};
use super::provider::Provider;
use super::{Engine, Platform, STATE_BOOTSTRAPPED};
use crate::core::decode::Path;
use crate::core::wire::{self, PullRequest, PullResponse, SyncChange, SyncScope};
use crate::core::{Invalid, Result, SyncError};
use crate::store::{Access, Store, StoreTx};

/// What one pull step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PullStep {
    pub received: u64,
    pub applied: u64,
    pub conflicts: u64,
    /// More pages wait (or the page was applied by someone else: pull again).
    pub has_more: bool,
    pub cursor: u64,
    /// The stored cursor had moved: nothing was applied.
    pub stale: bool,
}

/// Checks a batch of changes (typed, from any provider) against this
/// engine's `tables` ([`crate::core::wire::check_changes`]); `path` names
/// where they came from in errors.
pub fn check_changes<R>(changes: &[SyncChange<R>], after: u64, tables: &[String], path: &str) -> Result<(), Invalid> {
    wire::check_changes(changes, after, &|t| tables.iter().any(|x| x == t), &Path::Root(path))
}

/// Checks a pull page against the cursor it was asked from and this
/// engine's `tables` ([`crate::core::wire::check_page`]).
pub fn check_page<R>(page: &PullResponse<R>, cursor: u64, tables: &[String]) -> Result<(), Invalid> {
    wire::check_page(page, cursor, &|t| tables.iter().any(|x| x == t), &Path::Root("pullResponse"))
}

impl<S: Store, P: Platform> Engine<S, P> {
    pub fn scope(&self) -> SyncScope {
        SyncScope { workspace_id: self.config.workspace_id.clone(), project_id: self.config.project_id.clone() }
    }

    pub fn table_names(&self) -> Vec<String> {
        self.config.tables.iter().map(|t| t.name.clone()).collect()
    }

    /// The lowest cursor of this engine's tables and whether bootstrap has
    /// completed, as stored. Also picks the tables the next pull asks for
    /// (those at that cursor, see [`super::cursors`]).
    pub async fn cursor_state(&self) -> Result<(u64, bool)> {
        self.check_open()?;
        let tx = self.store.begin(Access::System, None).await?;
        let (cursors, boot) = crate::try_join!(tx.get_state(STATE_CURSORS), tx.get_state(STATE_BOOTSTRAPPED))?;
        tx.commit().await?;
        let cursors = Cursors::decode(cursors.as_ref()).unwrap_or_default();
        let bootstrapped = boot.as_ref().and_then(Value::as_bool) == Some(true);
        self.set_cursor_hint(cursors, Some(bootstrapped));
        Ok(self.pull_position())
    }

    /// [`Engine::cursor_state`] as this engine last applied it, without a
    /// transaction. A stale value is harmless: applying checks the stored
    /// cursors.
    pub async fn pull_cursor(&self) -> Result<(u64, bool)> {
        if self.cursor_hint.borrow().is_none() {
            return self.cursor_state().await;
        }
        Ok(self.pull_position())
    }

    /// The cursor of one table, as this engine last read or applied it.
    pub fn table_cursor(&self, table: &str) -> u64 {
        self.cursor_hint.borrow().as_ref().map_or(0, |(c, _)| c.get(table))
    }

    /// Sets the hint, and the pull group from it.
    pub(crate) fn set_cursor_hint(&self, cursors: Cursors, bootstrapped: Option<bool>) {
        let mut hint = self.cursor_hint.borrow_mut();
        let boot = bootstrapped.unwrap_or_else(|| hint.as_ref().is_some_and(|(_, b)| *b));
        *self.pull_group.borrow_mut() = cursors.group(&self.table_names()).1;
        *hint = Some((cursors, boot));
    }

    /// Whether a pull from cursor 0 must be a rescan: the database has
    /// captured a write (any engine's: the `hlc` row) and a table being
    /// pulled holds a row, which may be a record whose delete the server
    /// has purged (cursor 0 never expires). One transaction; on error: yes,
    /// the careful answer.
    pub async fn must_rescan_from_zero(&self) -> bool {
        let Ok(tx) = self.store.begin(Access::All, None).await else { return true };
        let tables = self.rescan_tables();
        let checks = async {
            let ((_, captured), counts) = crate::try_join!(
                super::load_hlc(&tx),
                crate::core::join::try_join_all(tables.iter().map(|t| tx.count(t))),
            )?;
            Ok::<_, SyncError>(captured && counts.iter().any(|&n| n > 0))
        };
        let answer = checks.await.unwrap_or(true);
        let _ = tx.commit().await;
        answer
    }

    /// The tables a rescan covers: the pull group (all tables when unset).
    pub(crate) fn rescan_tables(&self) -> Vec<String> {
        let group = self.pull_group.borrow().clone();
        if group.is_empty() {
            self.table_names()
        } else {
            group
        }
    }

    pub(crate) fn cursor_hint_cursors(&self) -> Option<Cursors> {
        self.cursor_hint.borrow().as_ref().map(|(c, _)| c.clone())
    }

    /// The lowest cursor and the bootstrap flag, from the hint.
    fn pull_position(&self) -> (u64, bool) {
        match self.cursor_hint.borrow().as_ref() {
            Some((c, boot)) => (c.group(&self.table_names()).0, *boot),
            None => (0, false),
        }
    }

    /// The lowest cursor, and whether every table is at it.
    pub(crate) fn pull_progress(&self) -> (u64, bool) {
        (self.pull_position().0, self.cursors_level())
    }

    /// Whether every table of this engine is at one cursor (no backfill).
    fn cursors_level(&self) -> bool {
        match self.cursor_hint.borrow().as_ref() {
            Some((c, _)) => {
                let names = self.table_names();
                let (low, _) = c.group(&names);
                c.all_at(&names, low)
            }
            None => false,
        }
    }

    pub(crate) async fn mark_bootstrapped(&self) -> Result<()> {
        let tx = self.store.begin(Access::System, None).await?;
        tx.put_state(STATE_BOOTSTRAPPED, Value::Bool(true)).await?;
        tx.commit().await?;
        if let Some((_, boot)) = self.cursor_hint.borrow_mut().as_mut() {
            *boot = true;
        }
        Ok(())
    }

    /// Asks for the page after `cursor` and checks it.
    pub async fn fetch_page<V: Provider<Rec = S::Rec>>(
        &self,
        provider: &V,
        cursor: u64,
    ) -> Result<PullResponse<S::Rec>> {
        self.fetch(provider, cursor, false).await
    }

    /// One page after `cursor` (of a rescan, when `rescan`), checked.
    pub(crate) async fn fetch<V: Provider<Rec = S::Rec>>(
        &self,
        provider: &V,
        cursor: u64,
        rescan: bool,
    ) -> Result<PullResponse<S::Rec>> {
        let tables = if rescan { self.rescan_tables() } else { self.pull_group.borrow().clone() };
        let req = PullRequest {
            scope: self.scope(),
            cursor,
            limit: self.config.pull_limit as u64,
            tables: Some(tables.clone()),
            rescan,
        };
        let page = provider.pull(req).await?;
        check_page(&page, cursor, &tables).map_err(SyncError::BadAnswer)?;
        Ok(page)
    }

    /// Pulls and applies one page.
    pub async fn pull_step<V: Provider<Rec = S::Rec>>(&self, provider: &V) -> Result<PullStep> {
        let (cursor, _) = self.pull_cursor().await?;
        let page = self.fetch_page(provider, cursor).await?;
        self.apply_page(page, cursor).await
    }

    /// Applies a page fetched from `cursor` for the pull group. When a
    /// stored cursor has moved meanwhile (another engine applied it),
    /// nothing is applied and the step says to pull again. `has_more` also
    /// holds while another group of tables is still behind.
    pub async fn apply_page(&self, page: PullResponse<S::Rec>, cursor: u64) -> Result<PullStep> {
        let (_, bootstrapped) = self.pull_cursor().await?;
        let received = page.changes.len() as u64;
        let group = self.pull_group.borrow().clone();
        let Some(applied) = self.apply_batch(&page.changes, &group, cursor, page.next_cursor).await? else {
            *self.cursor_hint.borrow_mut() = None;
            return Ok(PullStep { received, has_more: true, cursor, stale: true, ..Default::default() });
        };
        // Within a group's pages the group stays; after its last page the
        // next group (if any table is still behind) is pulled.
        let (cursor_after, has_more) = if page.has_more {
            *self.pull_group.borrow_mut() = group;
            (page.next_cursor, true)
        } else {
            let (low, _) = self.pull_position();
            (low, !self.cursors_level())
        };
        if !bootstrapped {
            self.emit_all(vec![Event::Progress(ProgressEvent {
                applied: received,
                remaining: page.remaining,
                cursor: page.next_cursor,
            })]);
            if !has_more {
                self.mark_bootstrapped().await?;
            }
        }
        let step = PullStep {
            received,
            applied: applied.applied,
            conflicts: applied.conflicts.len() as u64,
            has_more,
            cursor: cursor_after,
            stale: false,
        };
        self.after_apply(applied, received, page.next_cursor, "pull").await;
        Ok(step)
    }

    /// A subscription batch whose `fromCursor` is the cursor: applied as a
    /// page. `None` when it does not follow the cursor (the caller pulls).
    pub async fn apply_subscription(&self, changes: &[SyncChange<S::Rec>], from: u64) -> Result<Option<PullStep>> {
        let (cursor, _) = self.pull_cursor().await?;
        // While a table is being backfilled the batches are left to pulls.
        if from != cursor || !self.cursors_level() {
            return Ok(None);
        }
        let tables = self.table_names();
        check_changes(changes, from, &tables, "subscription.changes").map_err(SyncError::BadAnswer)?;
        let to = changes.last().map_or(from, |c| c.server_version);
        let received = changes.len() as u64;
        let Some(applied) = self.apply_batch(changes, &tables, from, to).await? else {
            *self.cursor_hint.borrow_mut() = None;
            return Ok(None);
        };
        let step = PullStep {
            received,
            applied: applied.applied,
            conflicts: applied.conflicts.len() as u64,
            has_more: false,
            cursor: to,
            stale: false,
        };
        self.after_apply(applied, received, to, "subscription").await;
        Ok(Some(step))
    }

    /// Reports an applied batch: `change` per table (also to other tabs),
    /// `sync.pull:action:received`, conflicts, a clock-drift warning; then
    /// runs the `resolve` hooks, whose merged records are new local writes.
    pub(crate) async fn after_apply(&self, applied: Applied<S::Rec>, received: u64, cursor: u64, source: &'static str) {
        let mut events = self.announce(applied.changed, ChangeSource::Remote, &applied.seqs);
        events.push(Event::Pull(PullEvent { changes: received, applied: applied.applied, cursor, source }));
        events.extend(applied.conflicts.into_iter().map(|c| Event::Conflict(Box::new(c))));
        if let Some(ahead) = applied.drift_ms {
            let e = SyncError::ClockDrift(format!("a remote clock is {ahead} ms ahead of this device's"));
            events.push(Event::error(&e, None));
        }
        self.emit_all(events);
        for m in applied.merges {
            let Some(resolve) = self.resolvers.borrow().get(&m.table).cloned() else { continue };
            let merged = match resolve(m.local.as_ref(), m.remote.as_ref()) {
                Ok(merged) => merged,
                Err(e) => {
                    self.emit_all(vec![Event::error(&e, None)]);
                    continue;
                }
            };
            if let Some(record) = merged {
                if let Err(e) = self.put_merged(&m.table, record).await {
                    self.emit_all(vec![Event::error(&e, None)]);
                }
            }
        }
    }
}
