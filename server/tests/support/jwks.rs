//! JWTs for the tests: a JWKS served on loopback (its keys can be swapped
//! while it runs, as an identity provider rotates them) and minting.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::keys;

/// A test signing key and its public JWK.
#[derive(Clone, Copy)]
pub enum TestKey {
    Ec1,
    Ec2,
    Rsa1,
}

impl TestKey {
    pub fn kid(self) -> &'static str {
        match self {
            TestKey::Ec1 => "ec-1",
            TestKey::Ec2 => "ec-2",
            TestKey::Rsa1 => "rsa-1",
        }
    }

    pub fn jwk(self) -> Value {
        match self {
            TestKey::Ec1 => {
                json!({ "kty": "EC", "crv": "P-256", "x": keys::EC1_X, "y": keys::EC1_Y, "kid": self.kid(), "use": "sig", "alg": "ES256" })
            }
            TestKey::Ec2 => {
                json!({ "kty": "EC", "crv": "P-256", "x": keys::EC2_X, "y": keys::EC2_Y, "kid": self.kid(), "use": "sig" })
            }
            TestKey::Rsa1 => {
                json!({ "kty": "RSA", "n": keys::RSA1_N, "e": "AQAB", "kid": self.kid(), "use": "sig", "alg": "RS256" })
            }
        }
    }

    fn encoding(self) -> (Algorithm, EncodingKey) {
        match self {
            TestKey::Ec1 => (Algorithm::ES256, EncodingKey::from_ec_pem(keys::EC1_PEM.as_bytes()).unwrap()),
            TestKey::Ec2 => (Algorithm::ES256, EncodingKey::from_ec_pem(keys::EC2_PEM.as_bytes()).unwrap()),
            TestKey::Rsa1 => (Algorithm::RS256, EncodingKey::from_rsa_pem(keys::RSA1_PEM.as_bytes()).unwrap()),
        }
    }
}

/// A JWKS document of these keys.
pub fn jwks(keys: &[TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
}

/// Serves a JWKS on `http://127.0.0.1:<port>/jwks.json` until the process ends.
pub struct JwksServer {
    pub url: String,
    body: Arc<Mutex<String>>,
}

impl JwksServer {
    pub fn start(keys: &[TestKey]) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let body = Arc::new(Mutex::new(jwks(keys)));
        let served = body.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let text = served.lock().unwrap().clone();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    text.len()
                );
                let _ = conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(text.as_bytes()));
            }
        });
        JwksServer { url, body }
    }

    /// Serves these keys from now on.
    pub fn rotate(&self, keys: &[TestKey]) {
        *self.body.lock().unwrap() = jwks(keys);
    }
}

pub fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Claims for `sub` with these workspaces, valid for an hour.
pub fn claims(sub: &str, workspaces: &[&str]) -> Value {
    json!({ "sub": sub, "workspaces": workspaces, "iat": now_s(), "exp": now_s() + 3600,
            "iss": "https://issuer.test", "aud": "tidesync-test" })
}

/// A JWT signed with `key` (its kid in the header).
pub fn sign(key: TestKey, claims: &Value) -> String {
    sign_as(key, key.kid(), claims)
}

/// A JWT signed with `key` whose header names key `kid`.
pub fn sign_as(key: TestKey, kid: &str, claims: &Value) -> String {
    let (alg, enc) = key.encoding();
    let header = Header { kid: Some(kid.into()), ..Header::new(alg) };
    encode(&header, claims, &enc).unwrap()
}

/// An HS256 JWT.
pub fn sign_hs256(secret: &str, claims: &Value) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// A token with `alg: none` and no signature.
pub fn unsigned(claims: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "JWT" })), b64(claims))
}
