//! The typed errors of the sync core and their stable codes.
//!
//! Every error that can reach an app carries one of the codes of docs/PROTOCOL.md
//! (`AUTH`, `FORBIDDEN`, `RATE_LIMIT`, `CURSOR_EXPIRED`, `INVALID`,
//! `UNAVAILABLE`) or one of the engine's own (`CLOCK_DRIFT`, `STORAGE`,
//! `QUOTA`, `CLOSED`). Provider errors keep the provider's message as is (the
//! code says what kind). The wasm layer turns them into JS `Error` objects with
//! `name = "TidesyncError"` and that `code`.

use std::fmt;

/// Why a wire value or an app value was rejected. Kept as data so tests (and
/// apps) can tell a missing field from a wrong type or an out-of-range number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidKind {
    /// A required field is absent (or `undefined`/`null`).
    Missing,
    /// The value has the wrong JSON type; `expected` names the right one.
    WrongType { expected: &'static str },
    /// A number outside its allowed range (negative, fractional, too large...).
    OutOfRange,
    /// A value of the right type that breaks a rule (empty string, unknown
    /// table, non-increasing cursor...).
    Rule(String),
}

/// A rejected value: where it was (a dotted path such as `changes[3].stamp.clock`)
/// and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub path: String,
    pub kind: InvalidKind,
}

impl Invalid {
    pub fn new(path: impl Into<String>, kind: InvalidKind) -> Self {
        Invalid { path: path.into(), kind }
    }

    pub fn rule(path: impl Into<String>, msg: impl Into<String>) -> Self {
        Invalid::new(path, InvalidKind::Rule(msg.into()))
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "value" } else { &self.path };
        match &self.kind {
            InvalidKind::Missing => write!(f, "{path} is missing"),
            InvalidKind::WrongType { expected } => write!(f, "{path} must be {expected}"),
            InvalidKind::OutOfRange => write!(f, "{path} is out of range"),
            InvalidKind::Rule(msg) => write!(f, "{path}: {msg}"),
        }
    }
}

/// The error type of the core, the engine and the stores.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyncError {
    #[error("invalid input: {0}")]
    Invalid(Invalid),
    /// A provider's answer that breaks the contract (code `INVALID`, with
    /// the path inside the answer). Unlike [`SyncError::Invalid`], the fault
    /// is the backend's, not the request's: the engine sends the same request
    /// again later instead of blaming the ops it sent.
    #[error("malformed provider answer: {0}")]
    BadAnswer(Invalid),
    #[error("{0}")]
    Auth(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    RateLimit { message: String, retry_after_ms: Option<u64> },
    #[error("{0}")]
    CursorExpired(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("clock drift: {0}")]
    ClockDrift(String),
    #[error("storage quota exceeded: {0}")]
    Quota(String),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("engine closed")]
    Closed,
}

impl SyncError {
    /// The stable code an app can switch on.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::Invalid(_) | SyncError::BadAnswer(_) => "INVALID",
            SyncError::Auth(_) => "AUTH",
            SyncError::Forbidden(_) => "FORBIDDEN",
            SyncError::RateLimit { .. } => "RATE_LIMIT",
            SyncError::CursorExpired(_) => "CURSOR_EXPIRED",
            SyncError::Unavailable(_) => "UNAVAILABLE",
            SyncError::ClockDrift(_) => "CLOCK_DRIFT",
            SyncError::Quota(_) => "QUOTA",
            SyncError::Storage(_) => "STORAGE",
            SyncError::Closed => "CLOSED",
        }
    }

    /// Whether retrying the same call later can succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, SyncError::RateLimit { .. } | SyncError::Unavailable(_) | SyncError::Storage(_))
    }

    /// `INVALID`: a table the config does not declare.
    pub fn unknown_table(name: &str) -> Self {
        SyncError::invalid("table", format!("unknown table {name:?}"))
    }

    /// Shorthand for an [`InvalidKind::Rule`] error.
    pub fn invalid(path: impl Into<String>, msg: impl Into<String>) -> Self {
        SyncError::Invalid(Invalid::rule(path, msg))
    }
}

impl From<Invalid> for SyncError {
    fn from(e: Invalid) -> Self {
        SyncError::Invalid(e)
    }
}

pub type Result<T, E = SyncError> = std::result::Result<T, E>;
