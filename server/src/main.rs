//! The `tidesync-server` binary: parses the command line ([`config`]) and
//! runs the server, creates or revokes tokens, removes members, or migrates.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tidesync_server::app::{self, App, Limits};
use tidesync_server::config::{self, Command, Database};
use tidesync_server::jwt::JwtVerifier;
use tidesync_server::rate::RateLimiter;
use tidesync_server::{create_token, gc, open_db, remove_member, revoke_tokens, Revoke};

/// mimalloc: a request allocates and frees many small strings and JSON
/// values across tokio's worker and blocking threads, where glibc's malloc
/// spent a quarter of the server's CPU in a push and pull profile.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Structured logs on stderr: `TIDESYNC_LOG` filters them (default
/// `info`; e.g. `tidesync_server=debug` logs every request), `--log-format
/// json` writes one JSON object a line.
fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TIDESYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn stop_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match config::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Help(text) = &config.command {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    let db = match open_db(&config.database, config.pool_size) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("tidesync-server: cannot open the database: {e}");
            return ExitCode::FAILURE;
        }
    };
    match config.command {
        Command::Help(_) => ExitCode::SUCCESS,
        Command::Migrate => {
            println!("schema up to date ({})", db.backend());
            ExitCode::SUCCESS
        }
        Command::TokenCreate { workspaces, user, token } => {
            match create_token(&*db, &workspaces, user.as_deref(), token.as_deref()) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tidesync-server: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::TokenRevoke { token, user } => {
            let which = match (token, user) {
                (Some(t), _) => Revoke::Token(t),
                (None, u) => Revoke::User(u.unwrap_or_default()),
            };
            match revoke_tokens(&*db, &which) {
                Ok(0) => {
                    eprintln!("tidesync-server: no token matched");
                    ExitCode::FAILURE
                }
                Ok(n) => {
                    println!("revoked {n} token(s)");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tidesync-server: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::MemberRemove { user, workspaces } => {
            let mut code = ExitCode::SUCCESS;
            for ws in &workspaces {
                match remove_member(&*db, &user, ws) {
                    Ok(true) => println!("removed {user} from {ws}"),
                    Ok(false) => {
                        eprintln!("tidesync-server: {user} is not a member of {ws}");
                        code = ExitCode::FAILURE;
                    }
                    Err(e) => {
                        eprintln!("tidesync-server: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            code
        }
        Command::Serve(opts) => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("tidesync-server: {e}");
                    return ExitCode::FAILURE;
                }
            };
            init_logs(opts.log_json);
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::bind(&opts.listen).await {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("tidesync-server: cannot listen on {}: {e}", opts.listen);
                        return ExitCode::FAILURE;
                    }
                };
                let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
                let limits = Limits {
                    max_body_bytes: opts.max_body_bytes,
                    max_batch_ops: opts.max_batch_ops,
                    tables: opts.tables.clone(),
                };
                let jwt = match opts.jwt.clone().map(JwtVerifier::new).transpose() {
                    Ok(j) => j,
                    Err(e) => {
                        eprintln!("tidesync-server: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                let limiter = RateLimiter::new(opts.rate_limit, opts.rate_burst);
                let app = App::with_jwt(db.clone(), limits, limiter, jwt);
                gc::spawn(
                    db.clone(),
                    Duration::from_millis(opts.gc_interval_ms),
                    opts.retention_ms,
                    app.metrics.clone(),
                );
                let listen_url = match &config.database {
                    Database::Postgres(url) => Some(url.clone()),
                    Database::Sqlite(_) => None,
                };
                let where_ = match &config.database {
                    Database::Sqlite(p) => format!("sqlite {}", p.display()),
                    Database::Postgres(_) => "postgres".to_string(),
                };
                println!("tidesync-server listening on http://{addr}/ ({where_})");
                tracing::info!(addr, backend = db.backend(), "listening");
                let router = app::router(app.clone(), opts.static_root.clone(), &opts.cors_origins);
                app::serve_until(listener, Arc::clone(&app), router, listen_url, stop_signal()).await;
                ExitCode::SUCCESS
            })
        }
    }
}
