//! A pull's page, read and encoded as JSON in one pass.
//!
//! A bootstrap is pages of 1,000 changes, and most of a page's time used to
//! go to copies: every column into its own `String`, the key and each
//! payload parsed back from their stored JSON (to build typed changes),
//! and the typed changes encoded again. Here each row's cells are borrowed
//! from the driver and written straight into the page's text, and the key
//! and payload are spliced in as stored.
//!
//! The stored texts are JSON because the server wrote them: `pk` and
//! `payload` come from the parsed request ([`super::row`]). A first-byte
//! check still refuses a row that something else wrote (a key is a string
//! or a number, a payload an object), as a storage error.
//!
//! The page, `nextCursor`, `hasMore` and `remaining` follow the core's
//! `apply::pull` (its [`apply::pull_limit`] and [`apply::next_cursor`]), and
//! the server's tests compare the result with the memory server's.

use std::io::Write;

use tidesync::core::server::{apply, ScanFilter};
use tidesync::core::wire::PullRequest;
use tidesync::core::SyncError;

use super::row;
use super::sql::{scan_args, Arg, CellRef, Store, Tx, HEAD_OF_LOG};
use super::storage;

/// At most this much is reserved ahead for a page's text (a first row's
/// size times the page's length is only an estimate).
const MAX_RESERVE: usize = 4 << 20;

/// What the `/v1/pull` answer starts with; the `changes` array follows.
const HEAD: &str = r#"{"changes":"#;

/// A page as the server sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedPage {
    /// `{"changes":` and the `changes` array, as JSON text: the answer's
    /// start, so that [`EncodedPage::into_response_json`] only appends.
    text: String,
    /// How many changes it holds.
    pub len: usize,
    pub next_cursor: u64,
    pub has_more: bool,
    /// A cheap upper bound of the changes after the page, 0 exactly when
    /// none follows (see `row::page`).
    pub remaining: u64,
}

impl EncodedPage {
    /// A page of `changes_json` (a JSON array of `len` changes).
    pub fn new(changes_json: &str, len: usize, next_cursor: u64, has_more: bool, remaining: u64) -> EncodedPage {
        EncodedPage { text: format!("{HEAD}{changes_json}"), len, next_cursor, has_more, remaining }
    }

    /// The `changes` array as JSON text.
    pub fn changes_json(&self) -> &str {
        &self.text[HEAD.len()..]
    }

    /// The `/v1/pull` answer, `{ changes, nextCursor, hasMore, remaining }`,
    /// made in place: a page is about 225 KB, not copied again.
    pub fn into_response_json(self) -> String {
        let mut out = self.text;
        out.push_str(&format!(
            r#","nextCursor":{},"hasMore":{},"remaining":{}}}"#,
            self.next_cursor, self.has_more, self.remaining
        ));
        out
    }
}

/// The page `req` asks for, in the store's transaction (one snapshot, so
/// the version, the watermark and the rows agree).
pub fn pull<T: Tx>(store: &mut Store<'_, T>, req: &PullRequest) -> Result<EncodedPage, SyncError> {
    let (version, watermark) = head(store)?;
    let limit = apply::pull_limit(req, version, watermark)?;
    let filter = ScanFilter { tables: req.tables.as_deref(), project: req.scope.project_id.as_deref() };
    let args = scan_args(store.ws, req.cursor, limit, filter)?;
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    out.extend_from_slice(HEAD.as_bytes());
    out.push(b'[');
    let (mut len, mut last, mut has_more) = (0usize, None, false);
    store.tx.each_row(T::DIALECT.scan_sql(), &args, &mut |cells| {
        if len == limit {
            // The row past the page: more follow.
            has_more = true;
            return Ok(false);
        }
        let start = out.len();
        if len > 0 {
            out.push(b',');
        }
        last = Some(write_change(&mut out, cells)?);
        len += 1;
        if len == 1 {
            out.reserve(((out.len() - start) * limit).min(MAX_RESERVE));
        }
        Ok(true)
    })?;
    out.push(b']');
    // Room for the answer's tail (`into_response_json`).
    out.reserve(80);
    let remaining = match (has_more, last) {
        (true, Some(last)) => version.saturating_sub(last).max(1),
        _ => 0,
    };
    Ok(EncodedPage {
        text: String::from_utf8(out).map_err(storage)?,
        len,
        next_cursor: apply::next_cursor(last, has_more, version),
        has_more,
        remaining,
    })
}

/// The workspace's version and purge watermark (0 and 0 before its first write).
fn head<T: Tx>(store: &mut Store<'_, T>) -> Result<(u64, u64), SyncError> {
    let mut head = (0, 0);
    store.tx.each_row(HEAD_OF_LOG, &[Arg::Text(store.ws)], &mut |cells| {
        let [v, w] = cells else { return Err(storage("a workspace row has 2 columns")) };
        head = (row::to_u64(v.int()?)?, row::to_u64(w.int()?)?);
        Ok(false)
    })?;
    Ok(head)
}

/// Writes one change from its row (`row::CHANGE_COLUMNS`); returns its version.
fn write_change(out: &mut Vec<u8>, cells: &[CellRef<'_>]) -> Result<u64, SyncError> {
    let [table, pk, op, payload, version, clock, hlc, device, op_id] = cells else {
        return Err(SyncError::Storage(format!("a change row has the columns {}", row::CHANGE_COLUMNS)));
    };
    let (table, pk, payload) = (table.text()?, pk.text()?, payload.opt_text()?);
    let (hlc, device, op_id) = (hlc.text()?, device.text()?, op_id.text()?);
    if !pk.starts_with(|c: char| c == '"' || c == '-' || c.is_ascii_digit()) {
        return Err(SyncError::Storage(format!("the stored key {pk:?} is not a JSON string or number")));
    }
    if payload.is_some_and(|p| !p.starts_with('{')) {
        return Err(SyncError::Storage(format!("the stored payload of {pk} is not a JSON object")));
    }
    let op = match row::decode_op(op.text()?)? {
        tidesync::core::wire::OpKind::Put => r#""put""#,
        tidesync::core::wire::OpKind::Delete => r#""delete""#,
    };
    let version = row::to_u64(version.int()?)?;
    let clock = row::to_u64(clock.int()?)?;
    let w = |out: &mut Vec<u8>| -> std::io::Result<()> {
        out.write_all(br#"{"tableName":"#)?;
        serde_json::to_writer(&mut *out, table)?;
        // The stored texts are spliced in as bytes, not through `fmt`.
        out.write_all(br#","pk":"#)?;
        out.write_all(pk.as_bytes())?;
        out.write_all(br#","op":"#)?;
        out.write_all(op.as_bytes())?;
        if let Some(p) = payload {
            out.write_all(br#","payload":"#)?;
            out.write_all(p.as_bytes())?;
        }
        write!(out, r#","serverVersion":{version},"stamp":{{"clock":{clock},"hlc":"#)?;
        serde_json::to_writer(&mut *out, hlc)?;
        out.write_all(br#","deviceId":"#)?;
        serde_json::to_writer(&mut *out, device)?;
        out.write_all(br#","opId":"#)?;
        serde_json::to_writer(&mut *out, op_id)?;
        out.write_all(b"}}")
    };
    w(out).map_err(storage)?;
    Ok(version)
}
