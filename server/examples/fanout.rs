//! Fan-out of writes to many WebSocket watchers, against running
//! tidesync-server processes on loopback only; bounded and self-stopping.
//!
//! ```text
//! cargo run --release --example fanout -- --url http://127.0.0.1:8787[,http://127.0.0.1:8788,...] \
//!     --token T --workspace W [--watchers 1000] [--writes 200] [--interval-ms 20]
//! ```
//!
//! Opens `--watchers` watches of workspace `W`, spread round-robin over the
//! `--url`s (several processes on one PostgreSQL), waits until every one is
//! ready, then makes `--writes` single-op pushes one after another, each
//! through the next URL, `--interval-ms` apart. Every watcher must receive
//! every version exactly once, in batches that follow on from each other
//! (`fromCursor` = the previous `nextCursor`). Latency is from a push's
//! start to a watcher's receipt of its version; it stops once every watcher
//! has the last version, or 20 s after the last write. Prints one JSON line:
//! p50, p99 and max latency, lost and duplicated versions, gaps.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tidesync::core::Hlc;
use tokio_tungstenite::tungstenite::Message;

#[path = "common/http.rs"]
mod http;

struct Args {
    urls: Vec<String>,
    token: String,
    workspace: String,
    watchers: usize,
    writes: usize,
    interval_ms: u64,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        urls: Vec::new(),
        token: String::new(),
        workspace: String::new(),
        watchers: 1000,
        writes: 200,
        interval_ms: 20,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let [flag, value] = pair else { return Err(format!("{} needs a value", pair[0])) };
        let n = || value.parse::<usize>().map_err(|_| format!("{flag}: not a number"));
        match flag.as_str() {
            "--url" => a.urls = value.split(',').map(|u| u.trim_end_matches('/').to_string()).collect(),
            "--token" => a.token = value.clone(),
            "--workspace" => a.workspace = value.clone(),
            "--watchers" => a.watchers = n()?.clamp(1, 20_000),
            "--writes" => a.writes = n()?.clamp(1, 100_000),
            "--interval-ms" => a.interval_ms = n()? as u64,
            other => return Err(format!("unknown option {other}")),
        }
    }
    let loopback = |u: &String| ["http://127.", "http://localhost", "http://[::1]"].iter().any(|p| u.starts_with(p));
    if a.urls.is_empty() || !a.urls.iter().all(loopback) {
        return Err("--url must list loopback addresses (http://127.x.x.x, localhost or [::1])".into());
    }
    if a.token.is_empty() || a.workspace.is_empty() {
        return Err("--token and --workspace are required".into());
    }
    Ok(a)
}

/// What one watcher saw: each version with when it arrived, and the gaps
/// between its batches.
struct Seen {
    got: Vec<(u64, Instant)>,
    gaps: usize,
}

async fn watcher(
    url: String,
    ready: tokio::sync::mpsc::Sender<()>,
    mut last: tokio::sync::watch::Receiver<u64>,
) -> Result<Seen, String> {
    // A small read buffer: tungstenite zeroes its free capacity (128 KiB by
    // default) before every read, and 1,000 sockets on the same cores as
    // the server would measure that memset more than the server.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(&url, Some(config), true)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut seen = Seen { got: Vec::new(), gaps: 0 };
    let mut sent: Option<u64> = None;
    loop {
        let target = *last.borrow();
        if target > 0 && seen.got.last().is_some_and(|(v, _)| *v >= target) {
            return Ok(seen);
        }
        let msg = tokio::select! {
            m = ws.next() => m,
            _ = last.changed() => continue,
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(f))) => return Err(format!("closed: {f:?}")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("the socket ended".into()),
        };
        let at = Instant::now();
        let m: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        match m["type"].as_str() {
            Some("ready") => {
                sent = m["cursor"].as_u64();
                let _ = ready.send(()).await;
            }
            Some("changes") => {
                if m["fromCursor"].as_u64() != sent {
                    seen.gaps += 1;
                }
                sent = m["nextCursor"].as_u64();
                for c in m["changes"].as_array().into_iter().flatten() {
                    seen.got.push((c["serverVersion"].as_u64().unwrap_or(0), at));
                }
            }
            _ => {}
        }
    }
}

fn push(a: &Args, url: &str, i: usize) -> Result<u64, String> {
    let op_id = format!("fanout-{}-{i}", std::process::id());
    let hlc = Hlc { ms: 1_700_000_000_000 + i as u64, counter: 0, device_id: "fanout".into() };
    let body = json!({ "scope": { "workspaceId": a.workspace }, "deviceId": "fanout", "ops": [{
        "opId": op_id, "tableName": "items", "op": "put", "pk": op_id, "payload": { "i": i },
        "stamp": { "clock": 1, "hlc": hlc.to_string(), "deviceId": "fanout", "opId": op_id } }] });
    let r: Value = http::post(&format!("{url}/v1/push"))
        .set("authorization", &format!("Bearer {}", a.token))
        .send_json(body)
        .map_err(|e| format!("push: {e}"))?
        .into_json()
        .map_err(|e| e.to_string())?;
    r["results"][0]["serverVersion"].as_u64().ok_or_else(|| format!("not applied: {r}"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn run(a: &Args) -> Result<Value, String> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(a.watchers);
    let (last_tx, last_rx) = tokio::sync::watch::channel(0u64);
    let tasks: Vec<_> = (0..a.watchers)
        .map(|i| {
            let base = a.urls[i % a.urls.len()].replacen("http://", "ws://", 1);
            let url = format!("{base}/v1/watch?token={}&workspaceId={}", a.token, a.workspace);
            rt.spawn(watcher(url, ready_tx.clone(), last_rx.clone()))
        })
        .collect();
    drop(ready_tx);
    let all_ready = rt.block_on(async {
        let mut n = 0;
        let deadline = tokio::time::sleep(Duration::from_secs(60));
        tokio::pin!(deadline);
        while n < a.watchers {
            tokio::select! {
                r = ready_rx.recv() => match r { Some(()) => n += 1, None => break },
                _ = &mut deadline => break,
            }
        }
        n
    });
    if all_ready < a.watchers {
        return Err(format!("only {all_ready} of {} watchers became ready", a.watchers));
    }
    let mut started: HashMap<u64, Instant> = HashMap::new();
    let mut last = 0;
    for i in 0..a.writes {
        let t = Instant::now();
        let v = push(a, &a.urls[i % a.urls.len()], i)?;
        started.insert(v, t);
        last = last.max(v);
        std::thread::sleep(Duration::from_millis(a.interval_ms));
    }
    last_tx.send_replace(last);
    let results = rt.block_on(async {
        let all = futures_util::future::join_all(tasks);
        tokio::time::timeout(Duration::from_secs(20), all).await
    });
    let results = results.map_err(|_| "watchers did not receive every write within 20 s of the last".to_string())?;
    let (mut lat, mut lost, mut dup, mut gaps, mut failed) = (Vec::new(), 0usize, 0usize, 0usize, 0usize);
    for r in results {
        let Ok(Ok(seen)) = r else {
            failed += 1;
            continue;
        };
        gaps += seen.gaps;
        let mut count: HashMap<u64, usize> = HashMap::new();
        for (v, at) in &seen.got {
            *count.entry(*v).or_default() += 1;
            if let Some(t) = started.get(v) {
                lat.push(at.duration_since(*t).as_secs_f64() * 1000.0);
            }
        }
        lost += started.keys().filter(|v| !count.contains_key(v)).count();
        dup += count.values().filter(|&&n| n > 1).map(|n| n - 1).sum::<usize>();
    }
    lat.sort_by(f64::total_cmp);
    let round = |x: f64| (x * 10.0).round() / 10.0;
    Ok(json!({
        "processes": a.urls.len(), "watchers": a.watchers, "writes": a.writes, "intervalMs": a.interval_ms,
        "deliveries": lat.len(), "p50Ms": round(percentile(&lat, 0.5)), "p99Ms": round(percentile(&lat, 0.99)),
        "maxMs": round(lat.last().copied().unwrap_or(f64::NAN)),
        "lost": lost, "duplicated": dup, "gaps": gaps, "failedWatchers": failed,
    }))
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fanout: {e}");
            std::process::exit(2);
        }
    };
    match run(&a) {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("fanout: {e}");
            std::process::exit(1);
        }
    }
}
