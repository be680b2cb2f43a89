//! A load generator for a running tidesync-server, on loopback only.
//!
//! ```text
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8787 --token T \
//!     [--workspace W] [--ops 20000] [--batch 100] [--concurrency 4] [--pull-limit 500]
//! ```
//!
//! 1. **Push**: `--ops` new records in batches of `--batch` ops, from
//!    `--concurrency` devices at once (each device pushes its batches one
//!    after another): applied ops per second.
//! 2. **Pull**: one client pages the whole log from cursor 0 with
//!    `--pull-limit` (a bootstrap), then `--concurrency` clients do the same
//!    at once: changes per second.
//!
//! Every request must succeed and every op must be applied; the run stops
//! at the first failure. Prints one JSON line with the figures.

use std::time::Instant;

use serde_json::{json, Value};
use tidesync::core::Hlc;

#[path = "common/http.rs"]
mod http;

struct Args {
    url: String,
    token: String,
    workspace: String,
    ops: usize,
    batch: usize,
    concurrency: usize,
    pull_limit: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        url: String::new(),
        token: String::new(),
        workspace: format!("load-{}", std::process::id()),
        ops: 20_000,
        batch: 100,
        concurrency: 4,
        pull_limit: 500,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let [flag, value] = pair else { return Err(format!("{} needs a value", pair[0])) };
        let n = || value.parse::<usize>().map_err(|_| format!("{flag}: not a number"));
        match flag.as_str() {
            "--url" => a.url = value.trim_end_matches('/').to_string(),
            "--token" => a.token = value.clone(),
            "--workspace" => a.workspace = value.clone(),
            "--ops" => a.ops = n()?,
            "--batch" => a.batch = n()?.max(1),
            "--concurrency" => a.concurrency = n()?.max(1),
            "--pull-limit" => a.pull_limit = n()?.max(1),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let host_ok = ["http://127.", "http://localhost", "http://[::1]"].iter().any(|p| a.url.starts_with(p));
    if !host_ok {
        return Err("--url must be a loopback address (http://127.x.x.x, localhost or [::1])".into());
    }
    if a.token.is_empty() {
        return Err("--token is required".into());
    }
    Ok(a)
}

fn post(a: &Args, path: &str, body: &Value) -> Value {
    let res = http::post(&format!("{}{path}", a.url))
        .set("authorization", &format!("Bearer {}", a.token))
        .send_json(body)
        .unwrap_or_else(|e| panic!("{path} failed: {e}"));
    res.into_json().expect("a JSON answer")
}

fn push_phase(a: &Args) -> f64 {
    let per_device = a.ops / a.concurrency;
    let started = Instant::now();
    std::thread::scope(|s| {
        for d in 0..a.concurrency {
            s.spawn(move || {
                let device = format!("load-dev-{d}");
                let mut done = 0;
                let mut counter = 0u32;
                while done < per_device {
                    let n = a.batch.min(per_device - done);
                    let ops: Vec<Value> = (0..n)
                        .map(|i| {
                            counter += 1;
                            let op_id = format!("{device}-{}", done + i);
                            let hlc = Hlc { ms: 1_700_000_000_000, counter: counter % 99_999, device_id: device.clone() };
                            json!({ "opId": op_id, "tableName": "items", "op": "put", "pk": op_id,
                                    "payload": { "id": op_id, "n": done + i, "text": "load generator row" },
                                    "stamp": { "clock": 1, "hlc": hlc.to_string(), "deviceId": device, "opId": op_id } })
                        })
                        .collect();
                    let body = json!({ "scope": { "workspaceId": a.workspace }, "deviceId": device, "ops": ops });
                    let r = post(a, "/v1/push", &body);
                    let applied = r["results"].as_array().map_or(0, |rs| rs.iter().filter(|r| r["serverVersion"].is_u64()).count());
                    assert_eq!(applied, n, "every op applies: {r}");
                    done += n;
                }
            });
        }
    });
    (per_device * a.concurrency) as f64 / started.elapsed().as_secs_f64()
}

/// Pages the whole log; returns how many changes came.
fn bootstrap(a: &Args) -> usize {
    let mut cursor = 0;
    let mut total = 0;
    loop {
        let body = json!({ "scope": { "workspaceId": a.workspace }, "cursor": cursor, "limit": a.pull_limit });
        let page = post(a, "/v1/pull", &body);
        total += page["changes"].as_array().expect("changes").len();
        cursor = page["nextCursor"].as_u64().expect("nextCursor");
        if !page["hasMore"].as_bool().expect("hasMore") {
            return total;
        }
    }
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let push_ops_per_s = push_phase(&a);
    let started = Instant::now();
    let n = bootstrap(&a);
    let pull_one = n as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let total: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..a.concurrency).map(|_| s.spawn(|| bootstrap(&a))).collect();
        handles.into_iter().map(|h| h.join().expect("a puller")).sum()
    });
    let pull_many = total as f64 / started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "ops": n, "batch": a.batch, "concurrency": a.concurrency, "pullLimit": a.pull_limit,
            "pushOpsPerSec": push_ops_per_s.round(),
            "pullChangesPerSec": pull_one.round(),
            "pullChangesPerSecConcurrent": pull_many.round(),
        })
    );
}
