//! The command line, parsed with `clap`: `tidesync-server --help` (and
//! `tidesync-server <command> --help`) lists every option with its default
//! and the environment variable that sets it.
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
//! An option given twice takes its last value (scripts append overrides).
//! `--database PATH` on the command line beats `TIDESYNC_DATABASE_URL` from
//! the environment; both on the command line is an error.

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::jwt::{JwksSource, JwtConfig};
use crate::tables::TableRules;

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
    /// JWT auth, when any JWT key is configured.
    pub jwt: Option<JwtConfig>,
    /// The table allow-list, when given.
    pub tables: Option<TableRules>,
    /// Logs as JSON lines instead of text.
    pub log_json: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Serve(Box<ServeOptions>),
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
    /// `--help` or `--version`: the text to print.
    Help(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub database: Database,
    pub pool_size: usize,
    pub command: Command,
}

/// The reference sync server for tidesync: HTTP push/pull and a WebSocket
/// watch over SQLite or PostgreSQL.
#[derive(Parser, Debug)]
#[command(name = "tidesync-server", version, args_override_self = true, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the server (the default command).
    Serve(Box<ServeArgs>),
    /// Create or revoke opaque bearer tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Change workspace memberships.
    #[command(subcommand)]
    Member(MemberCmd),
    /// Create or upgrade the schema, then exit.
    Migrate(DbArgs),
}

#[derive(Subcommand, Debug)]
enum TokenCmd {
    /// Print a new bearer token for a user that is a member of the workspaces.
    Create {
        /// A workspace the token's user may use (repeatable, at least one).
        #[arg(long = "workspace", required = true)]
        workspaces: Vec<String>,
        /// The user's name (default: derived from the token).
        #[arg(long)]
        user: Option<String>,
        /// Use this token (at least 8 characters) instead of a random one.
        #[arg(long)]
        token: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke one token, or every token of a user.
    #[command(group = clap::ArgGroup::new("which").required(true).args(["token", "user"]))]
    Revoke {
        /// The token to revoke.
        #[arg(long)]
        token: Option<String>,
        /// Revoke every token of this user.
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
enum MemberCmd {
    /// Take workspaces away from a user; its watches on them close (4403).
    Remove {
        /// The user.
        #[arg(long)]
        user: String,
        /// A workspace to remove the user from (repeatable, at least one).
        #[arg(long = "workspace", required = true)]
        workspaces: Vec<String>,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Args, Debug, Clone)]
struct DbArgs {
    /// SQLite database file (the default backend).
    #[arg(long, value_name = "PATH", env = "TIDESYNC_DATABASE", default_value = "data/tidesync.db")]
    database: PathBuf,
    /// PostgreSQL URL (postgres://...); several processes may share one.
    #[arg(long, value_name = "URL", env = "TIDESYNC_DATABASE_URL")]
    database_url: Option<String>,
    /// PostgreSQL connections per process.
    #[arg(long, value_name = "N", env = "TIDESYNC_POOL_SIZE", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..))]
    pool_size: u64,
}

#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free one (printed on start).
    #[arg(long, value_name = "ADDR", env = "TIDESYNC_LISTEN", default_value = "127.0.0.1:8787")]
    listen: String,
    /// The repository root: serves its www/, pkg/ and tests/node_modules/.
    #[arg(long = "static", value_name = "DIR", env = "TIDESYNC_STATIC")]
    static_root: Option<PathBuf>,
    /// An origin whose pages may call the API (repeatable; `*` for any).
    #[arg(long = "cors-origin", value_name = "ORIGIN", env = "TIDESYNC_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// Largest request body in bytes (413 above).
    #[arg(long, value_name = "N", env = "TIDESYNC_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Most ops in one push batch.
    #[arg(long, value_name = "N", env = "TIDESYNC_MAX_BATCH_OPS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    max_batch_ops: u64,
    /// Requests per second per token (0 turns the limit off).
    #[arg(long, value_name = "N", env = "TIDESYNC_RATE_LIMIT", default_value_t = 100)]
    rate_limit: u32,
    /// Requests a token may make at once before the limit applies.
    #[arg(long, value_name = "N", env = "TIDESYNC_RATE_BURST", default_value_t = 200)]
    rate_burst: u32,
    /// Tombstone (and opId) retention in ms; at least 60 000.
    #[arg(long, value_name = "MS", env = "TIDESYNC_RETENTION_MS", default_value_t = 24 * 3600 * 1000)]
    retention_ms: u64,
    /// How often GC runs, in ms (at least 100).
    #[arg(long, value_name = "MS", env = "TIDESYNC_GC_INTERVAL_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(100..))]
    gc_interval_ms: u64,
    /// A table that may be synced, optionally with its largest put payload in
    /// bytes (repeatable; every table when absent).
    #[arg(long = "table", value_name = "NAME[:MAX_BYTES]", env = "TIDESYNC_TABLES", value_delimiter = ',')]
    tables: Vec<String>,
    /// Log format on stderr (the level comes from TIDESYNC_LOG, default info).
    #[arg(long, value_name = "FORMAT", env = "TIDESYNC_LOG_FORMAT", default_value = "text",
          value_parser = ["text", "json"])]
    log_format: String,
    #[command(flatten)]
    jwt: JwtArgs,
    #[command(flatten)]
    db: DbArgs,
}

/// JWT auth (beside opaque tokens): any of the three key options turns it on.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "JWT auth")]
struct JwtArgs {
    /// HS256 shared secret (at least 32 bytes; prefer the variable).
    #[arg(long, value_name = "SECRET", env = "TIDESYNC_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// A JWKS file with the RS256/ES256 public keys.
    #[arg(long, value_name = "PATH", env = "TIDESYNC_JWT_JWKS_FILE", conflicts_with = "jwt_jwks_url")]
    jwt_jwks_file: Option<PathBuf>,
    /// A JWKS URL (the identity provider's .well-known/jwks.json).
    #[arg(long, value_name = "URL", env = "TIDESYNC_JWT_JWKS_URL")]
    jwt_jwks_url: Option<String>,
    /// How often the JWKS is fetched again, in seconds.
    #[arg(long, value_name = "S", env = "TIDESYNC_JWT_JWKS_REFRESH_S", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    jwt_jwks_refresh_s: u64,
    /// An accepted `iss` (repeatable; any issuer when absent).
    #[arg(long, value_name = "ISS", env = "TIDESYNC_JWT_ISSUER", value_delimiter = ',')]
    jwt_issuer: Vec<String>,
    /// An accepted `aud` (repeatable; not checked when absent).
    #[arg(long, value_name = "AUD", env = "TIDESYNC_JWT_AUDIENCE", value_delimiter = ',')]
    jwt_audience: Vec<String>,
    /// The claim listing the token's workspaces (a name or a dotted path).
    #[arg(long, value_name = "CLAIM", env = "TIDESYNC_JWT_WORKSPACES_CLAIM", default_value = "workspaces")]
    jwt_workspaces_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[arg(long, value_name = "S", env = "TIDESYNC_JWT_LEEWAY_S", default_value_t = 30)]
    jwt_leeway_s: u64,
}

impl JwtArgs {
    fn config(&self) -> Option<JwtConfig> {
        let jwks = match (&self.jwt_jwks_file, &self.jwt_jwks_url) {
            (Some(path), _) => Some(JwksSource::File(path.clone())),
            (None, Some(url)) => Some(JwksSource::Url(url.clone())),
            (None, None) => None,
        };
        if self.jwt_secret.is_none() && jwks.is_none() {
            return None;
        }
        Some(JwtConfig {
            secret: self.jwt_secret.clone(),
            jwks,
            issuers: self.jwt_issuer.clone(),
            audiences: self.jwt_audience.clone(),
            workspaces_claim: self.jwt_workspaces_claim.clone(),
            leeway_s: self.jwt_leeway_s,
            refresh: std::time::Duration::from_secs(self.jwt_jwks_refresh_s),
        })
    }
}

impl ServeArgs {
    fn options(&self) -> Result<ServeOptions, String> {
        Ok(ServeOptions {
            listen: self.listen.clone(),
            static_root: self.static_root.clone(),
            cors_origins: self.cors_origins.clone(),
            max_body_bytes: self.max_body_bytes,
            max_batch_ops: usize::try_from(self.max_batch_ops).unwrap_or(usize::MAX),
            rate_limit: f64::from(self.rate_limit),
            rate_burst: f64::from(self.rate_burst),
            retention_ms: self.retention_ms,
            gc_interval_ms: self.gc_interval_ms,
            jwt: self.jwt.config(),
            tables: TableRules::parse(&self.tables)?,
            log_json: self.log_format == "json",
        })
    }
}

/// The help text of the whole command line.
pub fn usage() -> String {
    Cli::command().render_help().to_string()
}

/// The matches of the leaf command (where the database options are).
fn leaf(m: &ArgMatches) -> &ArgMatches {
    match m.subcommand() {
        Some((_, sub)) => leaf(sub),
        None => m,
    }
}

fn database(args: &DbArgs, m: &ArgMatches) -> Result<Database, String> {
    let from_cli = |id: &str| m.value_source(id) == Some(ValueSource::CommandLine);
    match &args.database_url {
        Some(_) if from_cli("database") && from_cli("database_url") => {
            Err("--database and --database-url exclude each other".into())
        }
        Some(url) if !url.is_empty() && !from_cli("database") => Ok(Database::Postgres(url.clone())),
        _ => Ok(Database::Sqlite(args.database.clone())),
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Config, String> {
    let argv = std::iter::once("tidesync-server".to_string()).chain(args.iter().cloned());
    let matches = match Cli::command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let text = e.render().to_string();
            return Ok(Config {
                database: Database::Sqlite("data/tidesync.db".into()),
                pool_size: 16,
                command: Command::Help(text),
            });
        }
        Err(e) => return Err(e.render().to_string()),
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.render().to_string())?;
    let m = leaf(&matches);
    let (db, command) = match cli.command {
        None => (cli.serve.db.clone(), Command::Serve(Box::new(cli.serve.options()?))),
        Some(Cmd::Serve(s)) => (s.db.clone(), Command::Serve(Box::new(s.options()?))),
        Some(Cmd::Token(TokenCmd::Create { workspaces, user, token, db })) => {
            (db, Command::TokenCreate { workspaces, user, token })
        }
        Some(Cmd::Token(TokenCmd::Revoke { token, user, db })) => (db, Command::TokenRevoke { token, user }),
        Some(Cmd::Member(MemberCmd::Remove { user, workspaces, db })) => {
            (db, Command::MemberRemove { user, workspaces })
        }
        Some(Cmd::Migrate(db)) => (db, Command::Migrate),
    };
    Ok(Config { database: database(&db, m)?, pool_size: usize::try_from(db.pool_size).unwrap_or(usize::MAX), command })
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
        assert!(parse(&args("token revoke --token abc --workspace w1")).is_err());
        assert!(parse(&args("member remove --user alice")).is_err());
        assert!(parse(&args("member remove --workspace w1")).is_err());
    }

    #[test]
    fn serve_options_repeat_with_the_last_winning() {
        let c = parse(&args(
            "--rate-limit 0 --gc-interval-ms 600000 --gc-interval-ms 1000 --cors-origin a --cors-origin b",
        ))
        .unwrap();
        let Command::Serve(o) = c.command else { panic!("serve") };
        assert_eq!((o.rate_limit, o.gc_interval_ms), (0.0, 1000));
        assert_eq!(o.cors_origins, vec!["a".to_string(), "b".to_string()]);
        let c = parse(&args("serve --listen 127.0.0.1:0 --database-url postgres://x/y --pool-size 3")).unwrap();
        assert_eq!((c.database, c.pool_size), (Database::Postgres("postgres://x/y".into()), 3));
        assert!(matches!(parse(&args("--help")).unwrap().command, Command::Help(_)));
        let Command::Serve(o) = parse(&args("--jwt-jwks-url http://127.0.0.1:1/j --jwt-audience a,b")).unwrap().command
        else {
            panic!("serve")
        };
        let jwt = o.jwt.unwrap();
        assert_eq!(
            (jwt.jwks, jwt.audiences),
            (Some(JwksSource::Url("http://127.0.0.1:1/j".into())), vec!["a".into(), "b".into()])
        );
        let Command::Serve(o) = parse(&args("")).unwrap().command else { panic!("serve") };
        assert_eq!((o.jwt, o.tables), (None, None));
        let Command::Serve(o) = parse(&args("--table notes --table files:100")).unwrap().command else {
            panic!("serve")
        };
        assert_eq!(o.tables, TableRules::parse(&["notes".into(), "files:100".into()]).unwrap());
    }

    #[test]
    fn help_lists_every_option_and_its_environment_variable() {
        let serve = Cli::command().render_long_help().to_string();
        for word in [
            "--listen",
            "TIDESYNC_LISTEN",
            "--static",
            "--cors-origin",
            "--max-body-bytes",
            "--max-batch-ops",
            "--rate-limit",
            "--rate-burst",
            "--retention-ms",
            "--gc-interval-ms",
            "TIDESYNC_GC_INTERVAL_MS",
            "--database",
            "TIDESYNC_DATABASE_URL",
            "--pool-size",
            "token",
            "member",
            "migrate",
            "--jwt-secret",
            "TIDESYNC_JWT_SECRET",
            "--jwt-jwks-file",
            "--jwt-jwks-url",
            "--jwt-jwks-refresh-s",
            "--jwt-issuer",
            "--jwt-audience",
            "--jwt-workspaces-claim",
            "--jwt-leeway-s",
            "--table",
            "TIDESYNC_TABLES",
            "--log-format",
            "TIDESYNC_LOG_FORMAT",
        ] {
            assert!(serve.contains(word), "{word} missing from --help:\n{serve}");
        }
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(parse(&args("token create")).is_err());
        assert!(parse(&args("--listen")).is_err());
        assert!(parse(&args("--max-batch-ops ten")).is_err());
        assert!(parse(&args("--max-batch-ops 0")).is_err());
        assert!(parse(&args("frobnicate")).is_err());
        assert!(parse(&args("--database a.db --database-url postgres://x/y")).is_err());
        assert!(parse(&args("--table notes:0")).is_err());
    }
}
