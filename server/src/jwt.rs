//! JWT bearer tokens from an identity provider (`jsonwebtoken`).
//!
//! - **HS256** with a shared secret (`--jwt-secret`), and/or **RS256 and
//!   ES256** with the public keys of a JWKS read from a file or fetched from
//!   a URL (`--jwt-jwks-file`, `--jwt-jwks-url`). The JWKS is loaded at
//!   start (a server that cannot read it does not start), fetched again
//!   every `refresh` (a failed fetch keeps the keys it had), and at most
//!   once a second when a token names a key id it does not know (a key the
//!   provider just rotated in).
//! - A token's `alg` must be one of those: `none`, and an `alg` whose key
//!   is not configured, is refused.
//! - `exp` and `sub` are required; `exp` and `nbf` are checked with
//!   `leeway` seconds of clock skew; `iss` and `aud` when configured.
//! - The workspaces the token may use come from one claim (`workspaces` by
//!   default): an array of workspace ids, or one id as a string. A claim
//!   name that is not a top-level key is read as a dotted path
//!   (`metadata.workspaces`).
//!
//! Every failure is `AUTH` (401: the client gets a fresh token and
//! retries); a valid token whose claim lacks the workspace is `FORBIDDEN`
//! (403). A watch re-checks its token every 2 s, so one that expires closes
//! with 4401 (refresh) within [`crate::watch::RECHECK`] of `exp + leeway`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tidesync::core::SyncError;

use crate::db::Grant;

/// Where the JWKS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
}

/// How JWTs are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The HS256 shared secret.
    pub secret: Option<String>,
    /// The RS256/ES256 public keys.
    pub jwks: Option<JwksSource>,
    /// Accepted `iss` values (any when empty).
    pub issuers: Vec<String>,
    /// Accepted `aud` values (not checked when empty).
    pub audiences: Vec<String>,
    /// The claim that lists the token's workspaces.
    pub workspaces_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_s: u64,
    /// How often the JWKS is fetched again.
    pub refresh: Duration,
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            secret: None,
            jwks: None,
            issuers: Vec::new(),
            audiences: Vec::new(),
            workspaces_claim: "workspaces".into(),
            leeway_s: 30,
            refresh: Duration::from_secs(300),
        }
    }
}

/// A public key of the JWKS.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

struct Keys {
    keys: Arc<Vec<Key>>,
    fetched: Instant,
    attempted: Instant,
}

/// Verifies JWTs against a [`JwtConfig`].
pub struct JwtVerifier {
    config: JwtConfig,
    secret: Option<DecodingKey>,
    keys: Mutex<Keys>,
}

/// The least time between two fetches for an unknown key id.
const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(1);

fn auth(msg: impl std::fmt::Display) -> SyncError {
    SyncError::Auth(format!("JWT: {msg}"))
}

/// Whether a bearer token has a JWT's shape (three dot-separated parts).
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

fn fetch(source: &JwksSource) -> Result<Vec<Key>, String> {
    let text = match source {
        JwksSource::File(path) => std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
        JwksSource::Url(url) => ureq::get(url)
            .timeout(Duration::from_secs(5))
            .call()
            .map_err(|e| format!("{url}: {e}"))?
            .into_string()
            .map_err(|e| format!("{url}: {e}"))?,
    };
    let set: JwkSet = serde_json::from_str(&text).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
            continue;
        }
        let alg = match (&jwk.common.key_algorithm, &jwk.algorithm) {
            (Some(KeyAlgorithm::RS256), AlgorithmParameters::RSA(_)) | (None, AlgorithmParameters::RSA(_)) => {
                Algorithm::RS256
            }
            (Some(KeyAlgorithm::ES256), AlgorithmParameters::EllipticCurve(p))
            | (None, AlgorithmParameters::EllipticCurve(p))
                if p.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            _ => continue, // another algorithm: never accepted
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {:?}: {e}", jwk.common.key_id))?;
        keys.push(Key { kid: jwk.common.key_id.clone(), alg, key });
    }
    Ok(keys)
}

impl JwtVerifier {
    /// Reads the JWKS once; an error says why the configuration is unusable.
    pub fn new(config: JwtConfig) -> Result<JwtVerifier, String> {
        if config.secret.is_none() && config.jwks.is_none() {
            return Err("JWT auth needs --jwt-secret or a JWKS (--jwt-jwks-file, --jwt-jwks-url)".into());
        }
        if config.secret.as_deref().is_some_and(|s| s.len() < 32) {
            return Err("--jwt-secret must be at least 32 bytes".into());
        }
        let keys = match &config.jwks {
            Some(source) => fetch(source).map_err(|e| format!("cannot load the JWKS: {e}"))?,
            None => Vec::new(),
        };
        let now = Instant::now();
        Ok(JwtVerifier {
            secret: config.secret.as_deref().map(|s| DecodingKey::from_secret(s.as_bytes())),
            keys: Mutex::new(Keys { keys: Arc::new(keys), fetched: now, attempted: now }),
            config,
        })
    }

    /// The current keys, fetched again when stale or when `kid` is unknown
    /// (blocking: call from a blocking thread).
    fn keys(&self, kid: Option<&str>) -> Arc<Vec<Key>> {
        let Some(source) = &self.config.jwks else { return Arc::new(Vec::new()) };
        let mut st = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let unknown = kid.is_some_and(|k| !st.keys.iter().any(|key| key.kid.as_deref() == Some(k)));
        let stale = st.fetched.elapsed() >= self.config.refresh;
        if (stale || unknown) && st.attempted.elapsed() >= UNKNOWN_KID_REFETCH {
            st.attempted = Instant::now();
            match fetch(source) {
                Ok(keys) => {
                    st.keys = Arc::new(keys);
                    st.fetched = Instant::now();
                }
                Err(e) => tracing::warn!(error = %e, "JWKS refresh failed, keeping the old keys"),
            }
        }
        st.keys.clone()
    }

    /// The grant of a JWT: its `sub` and the workspaces of its claim.
    pub fn verify(&self, token: &str) -> Result<Grant, SyncError> {
        let header = decode_header(token).map_err(|e| auth(format!("bad header ({e})")))?;
        let key = match header.alg {
            Algorithm::HS256 => self.secret.clone().ok_or_else(|| auth("HS256 is not accepted by this server"))?,
            Algorithm::RS256 | Algorithm::ES256 => {
                let keys = self.keys(header.kid.as_deref());
                let mut fits = keys.iter().filter(|k| k.alg == header.alg);
                let found = match header.kid.as_deref() {
                    Some(kid) => fits.find(|k| k.kid.as_deref() == Some(kid)),
                    None => fits.next().filter(|_| keys.iter().filter(|k| k.alg == header.alg).count() == 1),
                };
                found.map(|k| k.key.clone()).ok_or_else(|| auth(format!("no {:?} key {:?}", header.alg, header.kid)))?
            }
            other => return Err(auth(format!("algorithm {other:?} is not accepted"))),
        };
        let mut v = Validation::new(header.alg);
        v.leeway = self.config.leeway_s;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "sub"]);
        if !self.config.issuers.is_empty() {
            v.set_issuer(&self.config.issuers);
        }
        if self.config.audiences.is_empty() {
            v.validate_aud = false;
        } else {
            v.set_audience(&self.config.audiences);
        }
        let claims = decode::<Value>(token, &key, &v).map_err(|e| auth(e.kind_name()))?.claims;
        let user_id = claims["sub"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| auth("sub is not a string"))?;
        Ok(Grant { user_id: user_id.to_string(), workspaces: workspaces(&claims, &self.config.workspaces_claim) })
    }
}

/// The workspaces of the claim: an array of strings or one string.
fn workspaces(claims: &Value, claim: &str) -> Vec<String> {
    let value = match claims.get(claim) {
        Some(v) => Some(v),
        None => claim.split('.').try_fold(claims, |v, part| v.get(part)),
    };
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().filter_map(|w| w.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// A short name for a verification failure.
trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_name(&self) -> String {
        use jsonwebtoken::errors::ErrorKind as K;
        match self.kind() {
            K::ExpiredSignature => "expired".into(),
            K::ImmatureSignature => "not valid yet (nbf)".into(),
            K::InvalidSignature => "bad signature".into(),
            K::InvalidAudience => "wrong audience".into(),
            K::InvalidIssuer => "wrong issuer".into(),
            K::MissingRequiredClaim(c) => format!("missing claim {c}"),
            other => format!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn workspaces_come_from_a_top_level_or_dotted_claim() {
        let c = json!({ "workspaces": ["a", "b", 3], "https://x.example/ws": "c", "meta": { "ws": ["d"] } });
        assert_eq!(workspaces(&c, "workspaces"), vec!["a", "b"]);
        assert_eq!(workspaces(&c, "https://x.example/ws"), vec!["c"]);
        assert_eq!(workspaces(&c, "meta.ws"), vec!["d"]);
        assert!(workspaces(&c, "nope").is_empty());
    }

    #[test]
    fn a_configuration_without_keys_or_with_a_short_secret_is_refused() {
        assert!(JwtVerifier::new(JwtConfig::default()).is_err());
        assert!(JwtVerifier::new(JwtConfig { secret: Some("short".into()), ..JwtConfig::default() }).is_err());
        let missing = JwksSource::File("/nonexistent/jwks.json".into());
        assert!(JwtVerifier::new(JwtConfig { jwks: Some(missing), ..JwtConfig::default() }).is_err());
    }
}
