//! The command line.
//!
//! ```text
//! tidesync-server [serve] [options]         run the server
//! tidesync-server token create --workspace W [--workspace W2 ...]
//!                 [--user NAME] [--token T] [database options]
//!                                            print a new bearer token
//! tidesync-server token revoke (--token T | --user NAME) [database options]
//!                                            revoke one token, or all of a user's
//! tidesync-server member remove --user NAME --workspace W [--workspace W2 ...]
//!                 [database options]         take workspaces away from a user
//! tidesync-server migrate [database options] create or upgrade the schema
//! ```
//!
//! Database options: `--database PATH` (SQLite, default
//! `./data/tidesync.db`) or `--database-url postgres://...` (PostgreSQL; also
//! read from `TIDESYNC_DATABASE_URL`), `--pool-size N` (PostgreSQL
//! connections per process, default 16).
//!
//! Serve options: `--listen ADDR` (default `127.0.0.1:8787`; port 0 picks a
//! free one, printed on start), `--static DIR` (the repository root: serves
//! its `www/`, `pkg/` and `tests/node_modules/`), `--cors-origin ORIGIN`
//! (repeatable; `*` for any: lets pages of other origins call the API),
//! `--max-body-bytes N`
//! (default 4 MiB), `--max-batch-ops N` (default 1000), `--rate-limit N`
//! (requests per second per token, default 100; 0 turns it off),
//! `--rate-burst N` (default 200), `--retention-ms N` (tombstone retention,
//! default 1 day, at least 60 000), `--gc-interval-ms N` (default 60 000).

use std::path::PathBuf;

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServeOptions {
    pub listen: String,
    pub static_root: Option<PathBuf>,
    pub cors_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub max_batch_ops: usize,
    pub rate_limit: f64,
    pub rate_burst: f64,
    pub retention_ms: u64,
    pub gc_interval_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Serve(ServeOptions),
    TokenCreate {
        workspaces: Vec<String>,
        user: Option<String>,
        token: Option<String>,
    },
    /// Exactly one of the two is set.
    TokenRevoke {
        token: Option<String>,
        user: Option<String>,
    },
    MemberRemove {
        user: String,
        workspaces: Vec<String>,
    },
    Migrate,
    Help,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub database: Database,
    pub pool_size: usize,
    pub command: Command,
}

pub const USAGE: &str = "usage:
  tidesync-server [serve] [--listen 127.0.0.1:8787] [--database PATH | --database-url URL]
                  [--static DIR] [--cors-origin ORIGIN ...] [--max-body-bytes N] [--max-batch-ops N] [--rate-limit N]
                  [--rate-burst N] [--retention-ms N] [--gc-interval-ms N] [--pool-size N]
  tidesync-server token create --workspace W [--workspace W2 ...] [--user NAME] [--token T]
                  [--database PATH | --database-url URL]
  tidesync-server token revoke (--token T | --user NAME) [--database PATH | --database-url URL]
  tidesync-server member remove --user NAME --workspace W [--workspace W2 ...]
                  [--database PATH | --database-url URL]
  tidesync-server migrate [--database PATH | --database-url URL]";

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Config, String> {
    let mut it = args.iter().peekable();
    let mut words = Vec::new();
    while let Some(a) = it.peek() {
        if a.starts_with("--") {
            break;
        }
        words.push(it.next().map(String::as_str).unwrap_or_default());
    }
    let mut database = std::env::var("TIDESYNC_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map_or_else(|| Database::Sqlite(PathBuf::from("data/tidesync.db")), Database::Postgres);
    let mut pool_size = 16;
    let mut serve = ServeOptions {
        listen: "127.0.0.1:8787".into(),
        static_root: None,
        cors_origins: Vec::new(),
        max_body_bytes: 4 * 1024 * 1024,
        max_batch_ops: 1000,
        rate_limit: 100.0,
        rate_burst: 200.0,
        retention_ms: 24 * 3600 * 1000,
        gc_interval_ms: 60_000,
    };
    let (mut workspaces, mut user, mut token) = (Vec::new(), None, None);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(Config { database, pool_size, command: Command::Help });
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|_| format!("{flag}: {value:?} is not a number"));
        match flag.as_str() {
            "--database" => database = Database::Sqlite(PathBuf::from(value)),
            "--database-url" => database = Database::Postgres(value.clone()),
            "--pool-size" => pool_size = number()?.max(1) as usize,
            "--listen" => serve.listen = value.clone(),
            "--static" => serve.static_root = Some(PathBuf::from(value)),
            "--cors-origin" => serve.cors_origins.push(value.clone()),
            "--max-body-bytes" => serve.max_body_bytes = number()? as usize,
            "--max-batch-ops" => serve.max_batch_ops = number()?.max(1) as usize,
            "--rate-limit" => serve.rate_limit = number()? as f64,
            "--rate-burst" => serve.rate_burst = number()? as f64,
            "--retention-ms" => serve.retention_ms = number()?,
            "--gc-interval-ms" => serve.gc_interval_ms = number()?.max(100),
            "--workspace" => workspaces.push(value.clone()),
            "--user" => user = Some(value.clone()),
            "--token" => token = Some(value.clone()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let command = match words.as_slice() {
        [] | ["serve"] => Command::Serve(serve),
        ["token", "create"] => {
            if workspaces.is_empty() {
                return Err("token create needs at least one --workspace".into());
            }
            Command::TokenCreate { workspaces, user, token }
        }
        ["token", "revoke"] if !workspaces.is_empty() => {
            return Err("token revoke takes no --workspace (see member remove)".into());
        }
        ["token", "revoke"] => match (token, user) {
            (Some(t), None) => Command::TokenRevoke { token: Some(t), user: None },
            (None, Some(u)) => Command::TokenRevoke { token: None, user: Some(u) },
            _ => return Err("token revoke needs exactly one of --token or --user".into()),
        },
        ["member", "remove"] => match user {
            Some(user) if !workspaces.is_empty() => Command::MemberRemove { user, workspaces },
            _ => return Err("member remove needs --user and at least one --workspace".into()),
        },
        ["migrate"] => Command::Migrate,
        ["help"] => Command::Help,
        other => return Err(format!("unknown command {:?}", other.join(" "))),
    };
    Ok(Config { database, pool_size, command })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn token_create_collects_workspaces() {
        let c = parse(&args("token create --workspace w1 --workspace w2 --database /tmp/x.db")).unwrap();
        assert_eq!(c.database, Database::Sqlite("/tmp/x.db".into()));
        assert_eq!(
            c.command,
            Command::TokenCreate { workspaces: vec!["w1".into(), "w2".into()], user: None, token: None }
        );
    }

    #[test]
    fn token_revoke_and_member_remove() {
        let c = parse(&args("token revoke --token abc")).unwrap();
        assert_eq!(c.command, Command::TokenRevoke { token: Some("abc".into()), user: None });
        let c = parse(&args("token revoke --user alice")).unwrap();
        assert_eq!(c.command, Command::TokenRevoke { token: None, user: Some("alice".into()) });
        let c = parse(&args("member remove --user alice --workspace w1 --workspace w2")).unwrap();
        assert_eq!(
            c.command,
            Command::MemberRemove { user: "alice".into(), workspaces: vec!["w1".into(), "w2".into()] }
        );
        assert!(parse(&args("token revoke")).is_err());
        assert!(parse(&args("token revoke --token abc --user alice")).is_err());
        assert!(parse(&args("member remove --user alice")).is_err());
        assert!(parse(&args("member remove --workspace w1")).is_err());
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(parse(&args("token create")).is_err());
        assert!(parse(&args("--listen")).is_err());
        assert!(parse(&args("--max-batch-ops ten")).is_err());
        assert!(parse(&args("frobnicate")).is_err());
    }
}
