//! A large bootstrap through a running tidesync-server, beside the same
//! database read directly, on loopback only.
//!
//! ```text
//! cargo run --release --example bootstrap -- --url http://127.0.0.1:8787 --token T --workspace W \
//!     (--database FILE | --database-url postgres://...) [--changes 1000000] [--limit 1000]
//! ```
//!
//! 1. **Seed**: `--changes` records written straight into the (empty)
//!    workspace `W` with one `INSERT ... SELECT` (pushing a million ops
//!    through HTTP would only measure pushes again; `loadgen` does that).
//! 2. **Direct**: the same keyset query the server runs for a pull
//!    (`version > cursor ORDER BY version LIMIT n`), looped over the
//!    database's own client, reading every column: the floor.
//! 3. **Through the server**: one client pulls from cursor 0 with `--limit`
//!    until `hasMore` is false, timing every page. Every change must arrive
//!    once, in order; `remaining` must be 0 exactly on the last page.
//! 4. **Direct push**: 20 000 new records in batches of 100, one
//!    transaction per batch, writing what a push writes: the 100 record
//!    rows (one multi-row `INSERT`), the 100 opId rows (one multi-row
//!    `INSERT`) and the workspace's version, into workspace `W-direct`: the
//!    floor for `loadgen`'s pushes of the same size. The loop of the first
//!    figures (one `INSERT` per record row, no opIds) is printed beside it.
//!
//! The direct pull loop reads every column of every row into owned values
//! and decodes nothing; the client of the server's pages does the same
//! work: it parses each page into typed changes, every field owned, the
//! payload kept as JSON text (`RawValue`), as the direct loop keeps the
//! column's text.
//!
//! Prints one JSON line: changes/s of both pull loops, their ratio, the
//! mean page time of the first and of the last 10 % of pages (a pull that
//! counted the rest of the log would make the first pages the slowest),
//! and the direct push rows/s.

use std::time::Instant;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tidesync_server::config::Database;

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
/// Rows and batch size of the direct push loop (loadgen's defaults).
const PUSH_ROWS: i64 = 20_000;
const PUSH_BATCH: i64 = 100;

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
fn push_batch(b: i64) -> Vec<(String, String, String, i64)> {
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

/// Seeds the workspace, runs the direct pull loop, then the direct push
/// loops; returns the seed's seconds, pull changes/s, push records/s (with
/// their opIds) and records/s of the one-INSERT-per-row loop.
fn seed_and_direct(a: &Args) -> Result<(f64, f64, f64, f64), String> {
    let db = tidesync_server::open_db(a.database.as_ref().expect("checked"), 1).map_err(|e| e.to_string())?;
    if db.version(&a.workspace).map_err(|e| e.to_string())? != 0 {
        return Err(format!("workspace {} is not empty", a.workspace));
    }
    drop(db);
    let n = i64::try_from(a.changes).map_err(|_| "--changes is too large")?;
    let limit = i64::try_from(a.limit).map_err(|_| "--limit is too large")?;
    let seeded = Instant::now();
    let direct = match a.database.as_ref().expect("checked") {
        Database::Sqlite(path) => {
            let c = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
            c.busy_timeout(std::time::Duration::from_secs(30)).map_err(|e| e.to_string())?;
            // As the server's connections: WAL (the file's mode) with synchronous=NORMAL.
            c.pragma_update(None, "synchronous", "NORMAL").map_err(|e| e.to_string())?;
            c.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
            c.execute(SEED_SQLITE, rusqlite::params![a.workspace, n]).map_err(|e| e.to_string())?;
            c.execute(
                "INSERT INTO workspaces (id, version, applied) VALUES (?1, ?2, ?2)",
                rusqlite::params![a.workspace, n],
            )
            .map_err(|e| e.to_string())?;
            c.execute_batch("COMMIT").map_err(|e| e.to_string())?;
            let seed_s = seeded.elapsed().as_secs_f64();
            let started = Instant::now();
            let mut stmt = c.prepare(DIRECT_SQLITE).map_err(|e| e.to_string())?;
            let (mut cursor, mut total) = (0i64, 0u64);
            loop {
                let rows = stmt
                    .query_map(rusqlite::params![a.workspace, cursor, limit], |r| {
                        let cols: (String, String, String, Option<String>, i64, i64, String, String, String) = (
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
                    .map_err(|e| e.to_string())?;
                let versions: Vec<i64> = rows.collect::<Result<_, _>>().map_err(|e| e.to_string())?;
                total += versions.len() as u64;
                match versions.last() {
                    Some(&v) => cursor = v,
                    None => break,
                }
            }
            let pull = total as f64 / started.elapsed().as_secs_f64();
            let ws = format!("{}-direct", a.workspace);
            c.execute("INSERT INTO workspaces (id) VALUES (?1)", [&ws]).map_err(|e| e.to_string())?;
            let (records_sql, ops_sql) = multi_row_inserts();
            let started = Instant::now();
            for b in 0..PUSH_ROWS / PUSH_BATCH {
                let rows = push_batch(b);
                c.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
                let mut args: Vec<&dyn rusqlite::ToSql> = vec![&ws];
                for (pk, payload, op_id, v) in &rows {
                    args.extend([pk as &dyn rusqlite::ToSql, payload, op_id, v]);
                }
                c.prepare_cached(&records_sql).and_then(|mut s| s.execute(&args[..])).map_err(|e| e.to_string())?;
                let mut args: Vec<&dyn rusqlite::ToSql> = vec![&ws];
                for (_, _, op_id, v) in &rows {
                    args.extend([op_id as &dyn rusqlite::ToSql, v]);
                }
                c.prepare_cached(&ops_sql).and_then(|mut s| s.execute(&args[..])).map_err(|e| e.to_string())?;
                c.execute(
                    "UPDATE workspaces SET version = ?2, applied = applied + ?3 WHERE id = ?1",
                    rusqlite::params![ws, (b + 1) * PUSH_BATCH, PUSH_BATCH],
                )
                .map_err(|e| e.to_string())?;
                c.execute_batch("COMMIT").map_err(|e| e.to_string())?;
            }
            let push = PUSH_ROWS as f64 / started.elapsed().as_secs_f64();
            // The first figures' loop: one INSERT per record row, no opIds.
            let ws = format!("{}-direct-rows", a.workspace);
            c.execute("INSERT INTO workspaces (id) VALUES (?1)", [&ws]).map_err(|e| e.to_string())?;
            let started = Instant::now();
            for b in 0..PUSH_ROWS / PUSH_BATCH {
                c.execute_batch("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
                let mut ins = c.prepare_cached(INSERT_SQLITE).map_err(|e| e.to_string())?;
                for (pk, payload, op_id, i) in push_batch(b) {
                    ins.execute(rusqlite::params![ws, pk, payload, op_id, i]).map_err(|e| e.to_string())?;
                }
                drop(ins);
                c.execute(
                    "UPDATE workspaces SET version = ?2 WHERE id = ?1",
                    rusqlite::params![ws, (b + 1) * PUSH_BATCH],
                )
                .map_err(|e| e.to_string())?;
                c.execute_batch("COMMIT").map_err(|e| e.to_string())?;
            }
            (seed_s, pull, push, PUSH_ROWS as f64 / started.elapsed().as_secs_f64())
        }
        Database::Postgres(url) => {
            let mut c = postgres::Client::connect(url, postgres::NoTls).map_err(|e| e.to_string())?;
            let mut tx = c.transaction().map_err(|e| e.to_string())?;
            tx.execute(SEED_POSTGRES, &[&a.workspace, &n]).map_err(|e| e.to_string())?;
            tx.execute("INSERT INTO workspaces (id, version, applied) VALUES ($1, $2, $2)", &[&a.workspace, &n])
                .map_err(|e| e.to_string())?;
            tx.commit().map_err(|e| e.to_string())?;
            c.batch_execute("ANALYZE records").map_err(|e| e.to_string())?;
            let seed_s = seeded.elapsed().as_secs_f64();
            let started = Instant::now();
            let stmt = c.prepare(DIRECT_POSTGRES).map_err(|e| e.to_string())?;
            let (mut cursor, mut total) = (0i64, 0u64);
            loop {
                let rows = c.query(&stmt, &[&a.workspace, &cursor, &limit]).map_err(|e| e.to_string())?;
                let mut last = None;
                for r in &rows {
                    let cols: (String, String, String, Option<String>, i64, i64, String, String, String) =
                        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7), r.get(8));
                    last = Some(cols.4);
                }
                total += rows.len() as u64;
                match last {
                    Some(v) => cursor = v,
                    None => break,
                }
            }
            let pull = total as f64 / started.elapsed().as_secs_f64();
            let ws = format!("{}-direct", a.workspace);
            c.execute("INSERT INTO workspaces (id) VALUES ($1)", &[&ws]).map_err(|e| e.to_string())?;
            let (records_sql, ops_sql) = multi_row_inserts();
            let (records, ops) =
                (c.prepare(&records_sql).map_err(|e| e.to_string())?, c.prepare(&ops_sql).map_err(|e| e.to_string())?);
            let started = Instant::now();
            for b in 0..PUSH_ROWS / PUSH_BATCH {
                let rows = push_batch(b);
                let mut tx = c.transaction().map_err(|e| e.to_string())?;
                let mut args: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&ws];
                for (pk, payload, op_id, v) in &rows {
                    args.extend([pk as &(dyn postgres::types::ToSql + Sync), payload, op_id, v]);
                }
                tx.execute(&records, &args).map_err(|e| e.to_string())?;
                let mut args: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&ws];
                for (_, _, op_id, v) in &rows {
                    args.extend([op_id as &(dyn postgres::types::ToSql + Sync), v]);
                }
                tx.execute(&ops, &args).map_err(|e| e.to_string())?;
                tx.execute(
                    "UPDATE workspaces SET version = $2, applied = applied + $3 WHERE id = $1",
                    &[&ws, &((b + 1) * PUSH_BATCH), &PUSH_BATCH],
                )
                .map_err(|e| e.to_string())?;
                tx.commit().map_err(|e| e.to_string())?;
            }
            let push = PUSH_ROWS as f64 / started.elapsed().as_secs_f64();
            // The first figures' loop: one INSERT per record row, no opIds.
            let ws = format!("{}-direct-rows", a.workspace);
            c.execute("INSERT INTO workspaces (id) VALUES ($1)", &[&ws]).map_err(|e| e.to_string())?;
            let ins = c.prepare(INSERT_POSTGRES).map_err(|e| e.to_string())?;
            let started = Instant::now();
            for b in 0..PUSH_ROWS / PUSH_BATCH {
                let mut tx = c.transaction().map_err(|e| e.to_string())?;
                for (pk, payload, op_id, i) in push_batch(b) {
                    tx.execute(&ins, &[&ws, &pk, &payload, &op_id, &i]).map_err(|e| e.to_string())?;
                }
                tx.execute("UPDATE workspaces SET version = $2 WHERE id = $1", &[&ws, &((b + 1) * PUSH_BATCH)])
                    .map_err(|e| e.to_string())?;
                tx.commit().map_err(|e| e.to_string())?;
            }
            (seed_s, pull, push, PUSH_ROWS as f64 / started.elapsed().as_secs_f64())
        }
    };
    Ok(direct)
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

/// Pulls everything through the server; returns changes/s, page times
/// (ms) and the seconds the client spent parsing pages.
fn through_server(a: &Args) -> Result<(f64, Vec<f64>, f64), String> {
    let (mut cursor, mut expect, mut pages, mut parsing) = (0u64, 1u64, Vec::new(), 0.0);
    let started = Instant::now();
    loop {
        let body = json!({ "scope": { "workspaceId": a.workspace }, "cursor": cursor, "limit": a.limit });
        let t = Instant::now();
        let text = ureq::post(&format!("{}/v1/pull", a.url))
            .set("authorization", &format!("Bearer {}", a.token))
            .send_json(body)
            .map_err(|e| format!("pull from {cursor}: {e}"))?
            .into_string()
            .map_err(|e| e.to_string())?;
        let parse = Instant::now();
        let page: Page = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        parsing += parse.elapsed().as_secs_f64();
        pages.push(t.elapsed().as_secs_f64() * 1000.0);
        for c in &page.changes {
            if c.server_version != expect {
                return Err(format!("expected version {expect}, got {}", c.server_version));
            }
            if c.payload.is_none() {
                return Err(format!("version {expect} has no payload"));
            }
            expect += 1;
        }
        cursor = page.next_cursor;
        let more = page.has_more;
        if (page.remaining == Some(0)) == more {
            return Err(format!("remaining {:?} with hasMore {more}", page.remaining));
        }
        if !more {
            break;
        }
    }
    if expect != a.changes + 1 || cursor != a.changes {
        return Err(format!("{} changes arrived, cursor {cursor}; {} expected", expect - 1, a.changes));
    }
    Ok((a.changes as f64 / started.elapsed().as_secs_f64(), pages, parsing))
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
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
        let (seed_s, direct, direct_push, direct_rows) = seed_and_direct(&a)?;
        let (server, pages, parsing) = through_server(&a)?;
        let total_s: f64 = pages.iter().sum::<f64>() / 1000.0;
        let tenth = (pages.len() / 10).max(1);
        let (first, last) = (mean(&pages[..tenth]), mean(&pages[pages.len() - tenth..]));
        Ok(json!({
            "changes": a.changes, "limit": a.limit, "pages": pages.len(), "seedSeconds": (seed_s * 10.0).round() / 10.0,
            "directChangesPerSec": direct.round(), "serverChangesPerSec": server.round(),
            "directOverServer": (direct / server * 100.0).round() / 100.0,
            "firstTenthPageMs": (first * 100.0).round() / 100.0, "lastTenthPageMs": (last * 100.0).round() / 100.0,
            "clientParseShare": (parsing / total_s * 100.0).round() / 100.0,
            "directPushRowsPerSec": direct_push.round(), "directRowInsertsPerSec": direct_rows.round(),
        }))
    };
    match run() {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("bootstrap: {e}");
            std::process::exit(1);
        }
    }
}
