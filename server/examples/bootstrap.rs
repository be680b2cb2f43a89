//! A large bootstrap, and pushes, through a running tidesync-server beside
//! the same database driven directly, interleaved so that both see the
//! same machine; on loopback only.
//!
//! ```text
//! cargo run --release --example bootstrap -- --url http://127.0.0.1:8787 --token T --workspace W \
//!     (--database FILE | --database-url postgres://...) [--changes 1000000] [--limit 1000]
//! ```
//!
//! 1. **Seed**: `--changes` records written straight into the (empty)
//!    workspace `W` with one `INSERT ... SELECT` (pushing a million ops
//!    through HTTP would only measure pushes again).
//! 2. **Pull, page by page, both ways**: for each page, the same keyset
//!    query the server runs (`version > cursor ORDER BY version LIMIT n`)
//!    over the database's own client, reading every column into owned
//!    values and decoding nothing, then the page through the server from
//!    the same cursor (`--limit`), which the client parses into typed
//!    changes, every field owned and the payload kept as JSON text
//!    (`RawValue`): the same work on the rows. Every change must arrive
//!    once, in order; `remaining` must be 0 exactly on the last page.
//! 3. **Push, round by round, both ways**: 20 000 new records in batches
//!    of 100, in 10 rounds of 2 000: the direct loop writes what a push
//!    writes, one transaction per batch (the 100 record rows and their 100
//!    opIds, one multi-row `INSERT` each, and the workspace's version, into
//!    `W-direct`); then the server takes 2 000 ops from 4 devices at once
//!    (5 batches each, into `W`). The loop of the first figures (one
//!    `INSERT` per record row, no opIds, into `W-direct-rows`) runs in each
//!    round too and is printed beside them.
//!
//! Interleaving matters on a shared machine: run one after the other, a
//! burst of someone else's work lands on one side only.
//!
//! Prints one JSON line: changes/s and ops/s of both sides and their
//! ratios, the mean page time (through the server) of the first and of the
//! last 10 % of pages (a pull that counted the rest of the log would make
//! the first pages the slowest), the share of it the client spent
//! parsing, and the server's own handling time (its `/metrics` histogram)
//! of the pulls against the direct read and of a push batch.

use std::collections::HashMap;
use std::time::Instant;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tidesync::core::Hlc;
use tidesync_server::config::Database;

#[path = "common/http.rs"]
mod http;

struct Args {
    url: String,
    token: String,
    workspace: String,
    database: Option<Database>,
    changes: u64,
    limit: u64,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        url: String::new(),
        token: String::new(),
        workspace: String::new(),
        database: None,
        changes: 1_000_000,
        limit: 1000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let [flag, value] = pair else { return Err(format!("{} needs a value", pair[0])) };
        let n = || value.parse::<u64>().map_err(|_| format!("{flag}: not a number"));
        match flag.as_str() {
            "--url" => a.url = value.trim_end_matches('/').to_string(),
            "--token" => a.token = value.clone(),
            "--workspace" => a.workspace = value.clone(),
            "--database" => a.database = Some(Database::Sqlite(value.into())),
            "--database-url" => a.database = Some(Database::Postgres(value.clone())),
            "--changes" => a.changes = n()?.max(1),
            "--limit" => a.limit = n()?.max(1),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let host_ok = ["http://127.", "http://localhost", "http://[::1]"].iter().any(|p| a.url.starts_with(p));
    if !host_ok {
        return Err("--url must be a loopback address (http://127.x.x.x, localhost or [::1])".into());
    }
    if a.token.is_empty() || a.workspace.is_empty() || a.database.is_none() {
        return Err("--token, --workspace and --database or --database-url are required".into());
    }
    Ok(a)
}

const SEED_SQLITE: &str = "
INSERT INTO records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id,
                     version, project_id, applied_at_ms, in_log)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
SELECT ?1, 'items', json_quote('k' || i), 'put',
       json_object('id', 'k' || i, 'n', i, 'text', 'bootstrap row'),
       1, '001700000000000:00000:seed', 'seed', 'seed-' || i, i, NULL, 1700000000000, 1
FROM n";

const SEED_POSTGRES: &str = "
INSERT INTO records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id,
                     version, project_id, applied_at_ms, in_log)
SELECT $1, 'items', to_json('k' || i)::text, 'put',
       json_build_object('id', 'k' || i, 'n', i, 'text', 'bootstrap row')::text,
       1, '001700000000000:00000:seed', 'seed', 'seed-' || i, i, NULL, 1700000000000, TRUE
FROM generate_series(1, $2::bigint) AS i";

const INSERT_SQLITE: &str = "INSERT INTO records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id,
                     version, project_id, applied_at_ms, in_log)
  VALUES (?1, 'items', ?2, 'put', ?3, 1, '001700000000000:00000:direct', 'direct', ?4, ?5, NULL, 1700000000000, 1)";
const INSERT_POSTGRES: &str =
    "INSERT INTO records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id,
                     version, project_id, applied_at_ms, in_log)
  VALUES ($1, 'items', $2, 'put', $3, 1, '001700000000000:00000:direct', 'direct', $4, $5, NULL, 1700000000000, TRUE)";
/// Rows and batch size of the push loops; rounds they are interleaved in.
const PUSH_ROWS: i64 = 20_000;
const PUSH_BATCH: i64 = 100;
const ROUNDS: i64 = 10;
/// Devices pushing to the server at once (loadgen's default).
const DEVICES: i64 = 4;

/// One row of the direct push loop: pk, payload, opId.
fn push_row(i: i64) -> (String, String, String) {
    let id = format!("direct-{i}");
    (format!("{id:?}"), json!({ "id": id, "n": i, "text": "load generator row" }).to_string(), id)
}

/// The multi-row `INSERT`s of one batch of the direct push loop: `PUSH_BATCH`
/// records (`$1` workspace, then pk, payload, opId, version per row) and
/// their opIds (`$1` workspace, then opId, version per row).
fn multi_row_inserts() -> (String, String) {
    let (mut records, mut ops) = (Vec::new(), Vec::new());
    for r in 0..PUSH_BATCH {
        let p = 2 + r * 4;
        records.push(format!(
            "($1, 'items', ${p}, 'put', ${}, 1, '001700000000000:00000:direct', 'direct', ${}, ${}, NULL, 1700000000000, TRUE)",
            p + 1,
            p + 2,
            p + 3
        ));
        ops.push(format!("($1, ${}, ${}, 1700000000000)", 2 + r * 2, 3 + r * 2));
    }
    (
        format!(
            "INSERT INTO records (workspace, table_name, pk, op, payload, clock, hlc, device_id, op_id,
                     version, project_id, applied_at_ms, in_log) VALUES {}",
            records.join(", ")
        ),
        format!("INSERT INTO ops (workspace, op_id, version, seen_at_ms) VALUES {}", ops.join(", ")),
    )
}

/// One batch of the direct push loop: its rows and opIds (owned).
/// A direct push row: pk, payload, opId, version.
type PushRow = (String, String, String, i64);

fn push_batch(b: i64) -> Vec<PushRow> {
    (b * PUSH_BATCH + 1..=(b + 1) * PUSH_BATCH)
        .map(|i| {
            let (pk, payload, op_id) = push_row(i);
            (pk, payload, op_id, i)
        })
        .collect()
}

const DIRECT_SQLITE: &str = "SELECT table_name, pk, op, payload, version, clock, hlc, device_id, op_id
  FROM records WHERE workspace = ?1 AND version > ?2 AND in_log = 1 ORDER BY version LIMIT ?3";
const DIRECT_POSTGRES: &str = "SELECT table_name, pk, op, payload, version, clock, hlc, device_id, op_id
  FROM records WHERE workspace = $1 AND version > $2 AND in_log ORDER BY version LIMIT $3";

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

/// The database, driven directly.
#[allow(clippy::large_enum_variant)] // one value, alive for the whole run
enum Direct {
    Sqlite(rusqlite::Connection),
    /// The client, and its statements prepared once.
    Postgres(postgres::Client, HashMap<String, postgres::Statement>),
}

fn prep(
    c: &mut postgres::Client,
    stmts: &mut HashMap<String, postgres::Statement>,
    sql: &str,
) -> Result<postgres::Statement, String> {
    if let Some(s) = stmts.get(sql) {
        return Ok(s.clone());
    }
    let s = c.prepare(sql).map_err(e)?;
    stmts.insert(sql.to_string(), s.clone());
    Ok(s)
}

impl Direct {
    fn open(db: &Database) -> Result<Direct, String> {
        Ok(match db {
            Database::Sqlite(path) => {
                let c = rusqlite::Connection::open(path).map_err(e)?;
                c.busy_timeout(std::time::Duration::from_secs(30)).map_err(e)?;
                // As the server's connections: WAL (the file's mode) with synchronous=NORMAL.
                c.pragma_update(None, "synchronous", "NORMAL").map_err(e)?;
                Direct::Sqlite(c)
            }
            Database::Postgres(url) => {
                Direct::Postgres(postgres::Client::connect(url, postgres::NoTls).map_err(e)?, HashMap::new())
            }
        })
    }

    /// Seeds `n` records into `ws`; creates `ws-direct` and `ws-direct-rows`.
    fn seed(&mut self, ws: &str, n: i64) -> Result<(), String> {
        let (direct, rows) = (format!("{ws}-direct"), format!("{ws}-direct-rows"));
        match self {
            Direct::Sqlite(c) => {
                c.execute_batch("BEGIN IMMEDIATE").map_err(e)?;
                c.execute(SEED_SQLITE, rusqlite::params![ws, n]).map_err(e)?;
                c.execute(
                    "INSERT INTO workspaces (id, version, applied) VALUES (?1, ?2, ?2)",
                    rusqlite::params![ws, n],
                )
                .map_err(e)?;
                c.execute("INSERT INTO workspaces (id) VALUES (?1), (?2)", [&direct, &rows]).map_err(e)?;
                c.execute_batch("COMMIT").map_err(e)
            }
            Direct::Postgres(c, _) => {
                let mut tx = c.transaction().map_err(e)?;
                tx.execute(SEED_POSTGRES, &[&ws, &n]).map_err(e)?;
                tx.execute("INSERT INTO workspaces (id, version, applied) VALUES ($1, $2, $2)", &[&ws, &n])
                    .map_err(e)?;
                tx.execute("INSERT INTO workspaces (id) VALUES ($1), ($2)", &[&direct, &rows]).map_err(e)?;
                tx.commit().map_err(e)?;
                c.batch_execute("ANALYZE records").map_err(e)
            }
        }
    }

    /// One page above `cursor`, every column read; its versions.
    fn page(&mut self, ws: &str, cursor: i64, limit: i64) -> Result<Vec<i64>, String> {
        type Cols = (String, String, String, Option<String>, i64, i64, String, String, String);
        match self {
            Direct::Sqlite(c) => {
                let mut stmt = c.prepare_cached(DIRECT_SQLITE).map_err(e)?;
                let rows = stmt
                    .query_map(rusqlite::params![ws, cursor, limit], |r| {
                        let cols: Cols = (
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                            r.get(8)?,
                        );
                        Ok(cols.4)
                    })
                    .map_err(e)?;
                rows.collect::<Result<_, _>>().map_err(e)
            }
            Direct::Postgres(c, stmts) => {
                let stmt = prep(c, stmts, DIRECT_POSTGRES)?;
                let rows = c.query(&stmt, &[&ws, &cursor, &limit]).map_err(e)?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        let cols: Cols =
                            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7), r.get(8));
                        cols.4
                    })
                    .collect())
            }
        }
    }

    /// Batch `b` of the direct push loop into `ws-direct`: records and
    /// opIds (one multi-row INSERT each) and the version, one transaction.
    fn push(&mut self, ws: &str, b: i64, rows: &[PushRow], sql: &(String, String)) -> Result<(), String> {
        let ws = format!("{ws}-direct");
        let version = (b + 1) * PUSH_BATCH;
        match self {
            Direct::Sqlite(c) => {
                c.execute_batch("BEGIN IMMEDIATE").map_err(e)?;
                let mut args: Vec<&dyn rusqlite::ToSql> = vec![&ws];
                for (pk, payload, op_id, v) in rows {
                    args.extend([pk as &dyn rusqlite::ToSql, payload, op_id, v]);
                }
                c.prepare_cached(&sql.0).and_then(|mut s| s.execute(&args[..])).map_err(e)?;
                let mut args: Vec<&dyn rusqlite::ToSql> = vec![&ws];
                for (_, _, op_id, v) in rows {
                    args.extend([op_id as &dyn rusqlite::ToSql, v]);
                }
                c.prepare_cached(&sql.1).and_then(|mut s| s.execute(&args[..])).map_err(e)?;
                c.execute(
                    "UPDATE workspaces SET version = ?2, applied = applied + ?3 WHERE id = ?1",
                    rusqlite::params![ws, version, PUSH_BATCH],
                )
                .map_err(e)?;
                c.execute_batch("COMMIT").map_err(e)
            }
            Direct::Postgres(c, stmts) => {
                let (records, ops) = (prep(c, stmts, &sql.0)?, prep(c, stmts, &sql.1)?);
                let mut tx = c.transaction().map_err(e)?;
                let mut args: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&ws];
                for (pk, payload, op_id, v) in rows {
                    args.extend([pk as &(dyn postgres::types::ToSql + Sync), payload, op_id, v]);
                }
                tx.execute(&records, &args).map_err(e)?;
                let mut args: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&ws];
                for (_, _, op_id, v) in rows {
                    args.extend([op_id as &(dyn postgres::types::ToSql + Sync), v]);
                }
                tx.execute(&ops, &args).map_err(e)?;
                tx.execute(
                    "UPDATE workspaces SET version = $2, applied = applied + $3 WHERE id = $1",
                    &[&ws, &version, &PUSH_BATCH],
                )
                .map_err(e)?;
                tx.commit().map_err(e)
            }
        }
    }

    /// Batch `b` of the first figures' loop into `ws-direct-rows`: one
    /// INSERT per record row, no opIds.
    fn insert_rows(&mut self, ws: &str, b: i64) -> Result<(), String> {
        let ws = format!("{ws}-direct-rows");
        let version = (b + 1) * PUSH_BATCH;
        match self {
            Direct::Sqlite(c) => {
                c.execute_batch("BEGIN IMMEDIATE").map_err(e)?;
                let mut ins = c.prepare_cached(INSERT_SQLITE).map_err(e)?;
                for (pk, payload, op_id, i) in push_batch(b) {
                    ins.execute(rusqlite::params![ws, pk, payload, op_id, i]).map_err(e)?;
                }
                drop(ins);
                c.execute("UPDATE workspaces SET version = ?2 WHERE id = ?1", rusqlite::params![ws, version])
                    .map_err(e)?;
                c.execute_batch("COMMIT").map_err(e)
            }
            Direct::Postgres(c, stmts) => {
                let ins = prep(c, stmts, INSERT_POSTGRES)?;
                let mut tx = c.transaction().map_err(e)?;
                for (pk, payload, op_id, i) in push_batch(b) {
                    tx.execute(&ins, &[&ws, &pk, &payload, &op_id, &i]).map_err(e)?;
                }
                tx.execute("UPDATE workspaces SET version = $2 WHERE id = $1", &[&ws, &version]).map_err(e)?;
                tx.commit().map_err(e)
            }
        }
    }
}

/// A pull's answer, every field owned, the payload as its JSON text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    changes: Vec<Change>,
    next_cursor: u64,
    has_more: bool,
    remaining: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // read as the direct loop reads its columns
struct Change {
    table_name: String,
    pk: Value,
    op: String,
    payload: Option<Box<RawValue>>,
    server_version: u64,
    stamp: Stamp,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Stamp {
    clock: u64,
    hlc: String,
    device_id: String,
    op_id: String,
}

/// One page through the server from `cursor`; the parse's seconds.
fn server_page(a: &Args, cursor: u64) -> Result<(Page, f64), String> {
    let body = json!({ "scope": { "workspaceId": a.workspace }, "cursor": cursor, "limit": a.limit });
    let text = http::post(&format!("{}/v1/pull", a.url))
        .set("authorization", &format!("Bearer {}", a.token))
        .send_json(body)
        .map_err(|x| format!("pull from {cursor}: {x}"))?
        .into_string()
        .map_err(e)?;
    let parse = Instant::now();
    let page: Page = serde_json::from_str(&text).map_err(e)?;
    Ok((page, parse.elapsed().as_secs_f64()))
}

/// Pull figures: direct and server seconds, server page times (ms), parse seconds.
struct Pulls {
    direct_s: f64,
    server_s: f64,
    pages: Vec<f64>,
    parse_s: f64,
}

/// Both sides page by page from the same cursor.
fn pulls(a: &Args, direct: &mut Direct) -> Result<Pulls, String> {
    let limit = i64::try_from(a.limit).map_err(|_| "--limit is too large")?;
    let (mut cursor, mut expect) = (0u64, 1u64);
    let mut p = Pulls { direct_s: 0.0, server_s: 0.0, pages: Vec::new(), parse_s: 0.0 };
    loop {
        let t = Instant::now();
        let versions = direct.page(&a.workspace, cursor as i64, limit)?;
        p.direct_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (page, parse) = server_page(a, cursor)?;
        let ms = t.elapsed().as_secs_f64();
        p.server_s += ms;
        p.pages.push(ms * 1000.0);
        p.parse_s += parse;
        if page.changes.iter().map(|c| c.server_version as i64).ne(versions.iter().copied()) {
            return Err(format!("the page from {cursor} differs from the direct query's"));
        }
        for c in &page.changes {
            if c.server_version != expect || c.payload.is_none() {
                return Err(format!("expected version {expect} with a payload, got {}", c.server_version));
            }
            expect += 1;
        }
        cursor = page.next_cursor;
        if (page.remaining == Some(0)) == page.has_more {
            return Err(format!("remaining {:?} with hasMore {}", page.remaining, page.has_more));
        }
        if !page.has_more {
            break;
        }
    }
    if expect != a.changes + 1 || cursor != a.changes {
        return Err(format!("{} changes arrived, cursor {cursor}; {} expected", expect - 1, a.changes));
    }
    Ok(p)
}

/// The body of server push batch `b` of `device`: 100 new records.
fn push_body(a: &Args, device: i64, b: i64) -> String {
    let dev = format!("boot-dev-{device}");
    let ops: Vec<Value> = (0..PUSH_BATCH)
        .map(|i| {
            let op_id = format!("{dev}-{}", b * PUSH_BATCH + i);
            let hlc =
                Hlc { ms: 1_700_000_000_000, counter: ((b * PUSH_BATCH + i) % 99_999) as u32, device_id: dev.clone() };
            json!({ "opId": op_id, "tableName": "pushed", "op": "put", "pk": op_id,
                    "payload": { "id": op_id, "n": i, "text": "load generator row" },
                    "stamp": { "clock": 1, "hlc": hlc.to_string(), "deviceId": dev, "opId": op_id } })
        })
        .collect();
    json!({ "scope": { "workspaceId": a.workspace }, "deviceId": dev, "ops": ops }).to_string()
}

/// Sends one push body; every op must apply.
fn server_push(a: &Args, body: &str) -> Result<(), String> {
    let r: Value = http::post(&format!("{}/v1/push", a.url))
        .set("authorization", &format!("Bearer {}", a.token))
        .set("content-type", "application/json")
        .send_string(body)
        .map_err(|x| format!("push: {x}"))?
        .into_json()
        .map_err(e)?;
    let applied = r["results"].as_array().map_or(0, |rs| rs.iter().filter(|r| r["serverVersion"].is_u64()).count());
    if applied as i64 != PUSH_BATCH {
        return Err(format!("every op applies: {r}"));
    }
    Ok(())
}

/// Push seconds: direct (records and opIds), server, direct one INSERT per row.
fn pushes(a: &Args, direct: &mut Direct) -> Result<(f64, f64, f64), String> {
    let sql = multi_row_inserts();
    let per_round = PUSH_ROWS / PUSH_BATCH / ROUNDS;
    let (mut direct_s, mut server_s, mut rows_s) = (0.0, 0.0, 0.0);
    for round in 0..ROUNDS {
        let batches = round * per_round..(round + 1) * per_round;
        let rows: Vec<Vec<PushRow>> = batches.clone().map(push_batch).collect();
        let t = Instant::now();
        for (b, rows) in batches.clone().zip(&rows) {
            direct.push(&a.workspace, b, rows, &sql)?;
        }
        direct_s += t.elapsed().as_secs_f64();
        // The bodies are built before the clock starts, as the direct
        // loop's rows are (push_batch): both sides time only the writing.
        let bodies: Vec<Vec<String>> = (0..DEVICES)
            .map(|d| (0..per_round / DEVICES).map(|k| push_body(a, d, round * per_round / DEVICES + k)).collect())
            .collect();
        let t = Instant::now();
        std::thread::scope(|s| {
            let handles: Vec<_> = bodies
                .iter()
                .map(|device| s.spawn(move || device.iter().try_for_each(|body| server_push(a, body))))
                .collect();
            handles.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| Err("a pusher panicked".into())))
        })?;
        server_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        for b in batches {
            direct.insert_rows(&a.workspace, b)?;
        }
        rows_s += t.elapsed().as_secs_f64();
    }
    Ok((direct_s, server_s, rows_s))
}

/// The server's own seconds handling `route` so far, from its
/// `tidesync_http_request_seconds` histogram (0 before the first request).
fn handled_seconds(a: &Args, route: &str) -> Result<f64, String> {
    let text = http::get(&format!("{}/metrics", a.url)).call().map_err(e)?.into_string().map_err(e)?;
    let series = format!("tidesync_http_request_seconds_sum{{route=\"{route}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(series.as_str())).map_or(Ok(0.0), |v| v.parse().map_err(e))
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bootstrap: {e}");
            std::process::exit(2);
        }
    };
    let run = || -> Result<Value, String> {
        let db = a.database.as_ref().expect("checked");
        let server_db = tidesync_server::open_db(db, 1).map_err(e)?;
        if server_db.version(&a.workspace).map_err(e)? != 0 {
            return Err(format!("workspace {} is not empty", a.workspace));
        }
        drop(server_db);
        let mut direct = Direct::open(db)?;
        let seeded = Instant::now();
        direct.seed(&a.workspace, i64::try_from(a.changes).map_err(|_| "--changes is too large")?)?;
        let seed_s = seeded.elapsed().as_secs_f64();
        let before = handled_seconds(&a, "/v1/pull")?;
        let p = pulls(&a, &mut direct)?;
        let pull_handled_s = handled_seconds(&a, "/v1/pull")? - before;
        let before = handled_seconds(&a, "/v1/push")?;
        let (push_direct_s, push_server_s, push_rows_s) = pushes(&a, &mut direct)?;
        let push_handled_s = handled_seconds(&a, "/v1/push")? - before;
        let batch_ms = |s: f64| round2(s * 1000.0 / (PUSH_ROWS / PUSH_BATCH) as f64);
        let tenth = (p.pages.len() / 10).max(1);
        let (first, last) = (mean(&p.pages[..tenth]), mean(&p.pages[p.pages.len() - tenth..]));
        let n = a.changes as f64;
        let rows = PUSH_ROWS as f64;
        Ok(json!({
            "changes": a.changes, "limit": a.limit, "pages": p.pages.len(), "seedSeconds": (seed_s * 10.0).round() / 10.0,
            "directChangesPerSec": (n / p.direct_s).round(), "serverChangesPerSec": (n / p.server_s).round(),
            "directOverServer": round2(p.server_s / p.direct_s),
            "firstTenthPageMs": round2(first), "lastTenthPageMs": round2(last),
            "clientParseShare": round2(p.parse_s / p.server_s),
            // The client's parse alone against the direct read: the pull's
            // ratio cannot go below 1 plus this, however fast the server.
            "clientParseOverDirect": round2(p.parse_s / p.direct_s),
            // The server's own handling of the pages (its histogram) against
            // the direct read: the rest of the server's time is the wire.
            "serverHandlingOverDirect": round2(pull_handled_s / p.direct_s),
            // A push batch's handling (with DEVICES at once: the wait for the
            // writer too) beside a batch of the direct loop.
            "pushHandlingMsPerBatch": batch_ms(push_handled_s), "directPushMsPerBatch": batch_ms(push_direct_s),
            "directPushRowsPerSec": (rows / push_direct_s).round(), "serverPushOpsPerSec": (rows / push_server_s).round(),
            "directOverServerPush": round2(push_server_s / push_direct_s),
            "directRowInsertsPerSec": (rows / push_rows_s).round(),
        }))
    };
    match run() {
        Ok(v) => println!("{v}"),
        Err(x) => {
            eprintln!("bootstrap: {x}");
            std::process::exit(1);
        }
    }
}
