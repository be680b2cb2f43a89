//! JWT bearer tokens, each test on SQLite and on PostgreSQL: HS256, ES256
//! and RS256 accepted beside opaque tokens; a wrong signature, `alg: none`,
//! an expired token, a wrong audience or issuer, an unknown key and a
//! workspace not in the claim refused with the right status and code and
//! nothing changed; a key rotated in and out of a JWKS served on loopback;
//! a watch whose JWT expires closed with 4401 within 5 s.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::jwks::{claims, now_s, sign, sign_as, sign_hs256, unsigned, JwksServer, TestKey};
use support::*;
use tidesync_server::jwt::{JwksSource, JwtConfig};

on_both_backends!(
    hs256_es256_and_rs256_tokens_work_beside_opaque_ones,
    bad_jwts_are_refused_with_401_or_403_and_change_nothing,
    a_key_rotated_into_the_jwks_is_fetched_and_one_rotated_out_is_refused,
    a_watch_whose_jwt_expires_closes_with_4401_within_5_s,
);

const SECRET: &str = "a-shared-secret-of-at-least-32-bytes";

fn config(jwks: JwksSource) -> JwtConfig {
    JwtConfig {
        secret: Some(SECRET.into()),
        jwks: Some(jwks),
        issuers: vec!["https://issuer.test".into()],
        audiences: vec!["tidesync-test".into()],
        leeway_s: 0,
        ..JwtConfig::default()
    }
}

fn jwt_server(b: &Backend, jwks: JwksSource) -> TestServer {
    start_with(b, Opts { jwt: Some(config(jwks)), ..Opts::default() })
}

fn one_put(ws: &str, op_id: &str) -> serde_json::Value {
    batch(ws, "d", vec![put("t", json!(op_id), 1, 1, "d", op_id, json!({ "v": op_id }))])
}

fn hs256_es256_and_rs256_tokens_work_beside_opaque_ones(b: &Backend) {
    let jwks = JwksServer::start(&[TestKey::Ec1, TestKey::Rsa1]);
    let s = jwt_server(b, JwksSource::Url(jwks.url.clone()));
    let ws = unique("jwt-ok");
    let tokens = [
        sign(TestKey::Ec1, &claims("alice", &[&ws])),
        sign(TestKey::Rsa1, &claims("bob", &["other", &ws])),
        sign_hs256(SECRET, &claims("carol", &[&ws])),
        s.token(&[&ws]),
    ];
    for (i, t) in tokens.iter().enumerate() {
        let r = s.push(t, &one_put(&ws, &format!("o{i}"))).ok();
        assert_eq!(r["serverVersion"], i + 1);
        assert_eq!(versions(&s.pull(t, &ws, 0, 10).ok()).len(), i + 1);
    }
    let mut w = s.watch(&tokens[0], &ws, "").unwrap();
    assert_eq!(w.next(), json!({ "type": "ready", "cursor": 4 }));
    // The same RS256 key from a JWKS file; a workspace claim at a dotted path.
    let dir = std::env::temp_dir().join(unique("jwks"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwks.json");
    std::fs::write(&file, support::jwks::jwks(&[TestKey::Rsa1])).unwrap();
    let cfg = JwtConfig { workspaces_claim: "meta.ws".into(), ..config(JwksSource::File(file)) };
    let f = start_with(b, Opts { jwt: Some(cfg), ..Opts::default() });
    let mut c = claims("dave", &[]);
    c["meta"] = json!({ "ws": [ws] });
    f.push(&sign(TestKey::Rsa1, &c), &one_put(&ws, "f1")).ok();
    // ES256 is not in that JWKS.
    assert_eq!(f.push(&sign(TestKey::Ec1, &c), &one_put(&ws, "f2")).status, 401);
}

fn bad_jwts_are_refused_with_401_or_403_and_change_nothing(b: &Backend) {
    let jwks = JwksServer::start(&[TestKey::Ec1]);
    let s = jwt_server(b, JwksSource::Url(jwks.url.clone()));
    let ws = unique("jwt-bad");
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims("mallory", &[&ws]);
        f(&mut c);
        c
    };
    let good = claims("mallory", &[&ws]);
    let cases = [
        ("ES256 signed by another key", sign_as(TestKey::Ec2, "ec-1", &good), 401, "AUTH"),
        ("HS256 with another secret", sign_hs256("another-secret-of-at-least-32-bytes!", &good), 401, "AUTH"),
        ("alg none", unsigned(&good), 401, "AUTH"),
        ("expired", sign(TestKey::Ec1, &with(&|c| c["exp"] = json!(now_s() - 5))), 401, "AUTH"),
        ("wrong audience", sign(TestKey::Ec1, &with(&|c| c["aud"] = json!("someone-else"))), 401, "AUTH"),
        ("wrong issuer", sign(TestKey::Ec1, &with(&|c| c["iss"] = json!("https://evil.test"))), 401, "AUTH"),
        ("no sub", sign(TestKey::Ec1, &with(&|c| drop(c.as_object_mut().unwrap().remove("sub")))), 401, "AUTH"),
        ("no exp", sign(TestKey::Ec1, &with(&|c| drop(c.as_object_mut().unwrap().remove("exp")))), 401, "AUTH"),
        ("a key not in the JWKS", sign(TestKey::Ec2, &good), 401, "AUTH"),
        ("workspace not in the claim", sign(TestKey::Ec1, &claims("mallory", &["elsewhere"])), 403, "FORBIDDEN"),
    ];
    for (name, token, status, code) in &cases {
        let r = s.push(token, &one_put(&ws, &unique("evil")));
        assert_eq!((r.status, r.code()), (*status, *code), "push, {name}: {}", r.body);
        let r = s.pull(token, &ws, 0, 10);
        assert_eq!((r.status, r.code()), (*status, *code), "pull, {name}: {}", r.body);
        assert_eq!(s.watch(token, &ws, "").err(), Some(*status), "watch, {name}");
    }
    assert_eq!(s.db.version(&ws).unwrap(), 0, "nothing was written");
    let fine = sign(TestKey::Ec1, &good);
    assert_eq!(s.pull(&fine, &ws, 0, 10).ok()["changes"], json!([]));
}

fn a_key_rotated_into_the_jwks_is_fetched_and_one_rotated_out_is_refused(b: &Backend) {
    let jwks = JwksServer::start(&[TestKey::Ec1]);
    let s = jwt_server(b, JwksSource::Url(jwks.url.clone()));
    let ws = unique("jwt-rot");
    let old = sign(TestKey::Ec1, &claims("alice", &[&ws]));
    let new = sign(TestKey::Ec2, &claims("alice", &[&ws]));
    s.push(&old, &one_put(&ws, "o1")).ok();
    let mut w = s.watch(&old, &ws, "").unwrap();
    assert_eq!(w.next()["type"], "ready");
    // The provider rotates: ec-2 in, ec-1 out.
    jwks.rotate(&[TestKey::Ec2]);
    std::thread::sleep(Duration::from_millis(1100));
    // An unknown kid makes the server fetch the JWKS again.
    assert_eq!(s.push(&new, &one_put(&ws, "o2")).ok()["serverVersion"], 2);
    let r = s.push(&old, &one_put(&ws, "o3"));
    assert_eq!((r.status, r.code()), (401, "AUTH"), "{}", r.body);
    // The watch on the rotated-out key closes for a refresh.
    let (code, _) = w.closed_within(5000);
    assert_eq!(code, Some(4401));
    assert_eq!(s.db.version(&ws).unwrap(), 2);
}

fn a_watch_whose_jwt_expires_closes_with_4401_within_5_s(b: &Backend) {
    let jwks = JwksServer::start(&[TestKey::Ec1]);
    let s = jwt_server(b, JwksSource::Url(jwks.url.clone()));
    let ws = unique("jwt-exp");
    let exp = now_s() + 2;
    let mut c = claims("alice", &[&ws]);
    c["exp"] = json!(exp);
    let short = sign(TestKey::Ec1, &c);
    let mut w = s.watch(&short, &ws, "").unwrap();
    assert_eq!(w.next()["type"], "ready");
    let (code, _) = w.closed_within(9000);
    assert_eq!(code, Some(4401), "closed for a token refresh");
    let closed = now_s();
    assert!(closed <= exp + 5, "closed {}s after exp", closed.saturating_sub(exp));
    // What HttpProvider does on 4401: a fresh token, and the watch again.
    let started = Instant::now();
    let fresh = sign(TestKey::Ec1, &claims("alice", &[&ws]));
    let mut again = s.watch(&fresh, &ws, "").unwrap();
    assert_eq!(again.next()["type"], "ready");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(s.push(&short, &one_put(&ws, "late")).status, 401);
}
