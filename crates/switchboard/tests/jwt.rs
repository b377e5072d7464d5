//! JWT bearer tokens through the real binary, against a stand-in identity provider.
//!
//! The identity provider is a stand-in (nothing real can run offline): a small HTTP server this
//! test owns that serves a JWKS (and OpenID discovery metadata) for keys the test generated —
//! RSA with `openssl genpkey`, P-256 with `ring` — and counts every request it gets, so the
//! tests can prove when the gateway fetches keys: never at start, once for many calls, once per
//! `jwks_refetch_interval` for a flood of unknown key ids, again after rotation.

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};
use support::{Config, Gateway, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const AUDIENCE: &str = "https://gw.test/mcp";

// ----- keys and tokens ---------------------------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    switchboard_protocol::base64::encode_url(bytes)
}

struct Rsa {
    pair: RsaKeyPair,
    kid: String,
}

impl Rsa {
    fn generate(kid: &str) -> Rsa {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("k.pem");
        let der = dir.path().join("k.der");
        let run = |args: &[&str]| {
            let st = Command::new("openssl")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("openssl");
            assert!(st.success(), "openssl {args:?}");
        };
        let (p, d) = (pem.to_str().unwrap(), der.to_str().unwrap());
        run(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            p,
        ]);
        // ring reads the PKCS#1 form (RSAPrivateKey DER).
        run(&[
            "rsa",
            "-in",
            p,
            "-traditional",
            "-outform",
            "DER",
            "-out",
            d,
        ]);
        let der = std::fs::read(&der).unwrap();
        Rsa {
            pair: RsaKeyPair::from_der(&der).expect("PKCS#1 RSA key"),
            kid: kid.to_owned(),
        }
    }

    fn jwk(&self) -> Value {
        let c: signature::RsaPublicKeyComponents<Vec<u8>> = self.pair.public().into();
        json!({
            "kty": "RSA", "use": "sig", "kid": self.kid, "alg": "RS256",
            "n": b64(&c.n), "e": b64(&c.e),
        })
    }

    /// The public key's DER (RSAPublicKey), the bytes an HS256 confusion attack uses as secret.
    fn public_der(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", b64(&sig))
    }

    fn token(&self, claims: &Value) -> String {
        self.sign(
            &json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }
}

struct Ec {
    pair: EcdsaKeyPair,
    kid: String,
}

impl Ec {
    fn generate(kid: &str) -> Ec {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pk8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        Ec {
            pair: EcdsaKeyPair::from_pkcs8(alg, pk8.as_ref(), &rng).unwrap(),
            kid: kid.to_owned(),
        }
    }

    fn point(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    fn jwk(&self) -> Value {
        let p = self.point();
        json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "x": b64(&p[1..33]), "y": b64(&p[33..])})
    }

    /// The public key as a PEM SubjectPublicKeyInfo.
    fn pem(&self) -> String {
        let mut der = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        der.extend_from_slice(self.point());
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            switchboard_protocol::base64::encode(&der)
        )
    }

    fn token(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64(sig.as_ref()))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ----- the stand-in identity provider -------------------------------------------------------------

/// Serves `/jwks` (the current key list) and `/.well-known/openid-configuration`, counting
/// requests per path.
struct Idp {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    jwks_hits: Arc<AtomicUsize>,
    discovery_hits: Arc<AtomicUsize>,
    /// While set, `/jwks` answers 500 (the provider is down).
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Idp {
    async fn start(keys: Vec<Value>) -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let keys = Arc::new(Mutex::new(keys));
        let jwks_hits = Arc::new(AtomicUsize::new(0));
        let discovery_hits = Arc::new(AtomicUsize::new(0));
        let (k, j, d, issuer) = (
            keys.clone(),
            jwks_hits.clone(),
            discovery_hits.clone(),
            url.clone(),
        );
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = failing.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    continue;
                };
                let (k, j, d, issuer) = (k.clone(), j.clone(), d.clone(), issuer.clone());
                let f = f.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf);
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let (status, body) = match path.as_str() {
                        "/jwks" => {
                            j.fetch_add(1, Ordering::SeqCst);
                            if f.load(Ordering::SeqCst) {
                                (500, "{}".to_owned())
                            } else {
                                (200, json!({"keys": *k.lock().unwrap()}).to_string())
                            }
                        }
                        "/.well-known/openid-configuration" => {
                            d.fetch_add(1, Ordering::SeqCst);
                            (
                                200,
                                json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")})
                                    .to_string(),
                            )
                        }
                        _ => (404, "{}".to_owned()),
                    };
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        Idp {
            url,
            keys,
            jwks_hits,
            discovery_hits,
            failing,
        }
    }

    fn jwks(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }
}

fn claims(idp: &Idp, extra: Value) -> Value {
    let mut c = json!({
        "iss": idp.url, "sub": "alice", "aud": AUDIENCE,
        "iat": now(), "exp": now() + 600, "scope": "mcp.tools.read mcp.invoke",
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

async fn gateway(idp: &Idp, jwt_extra: &str) -> Gateway {
    Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra(&format!(
            "auth:\n  jwt:\n    issuer: {}\n    audience: {AUDIENCE}\n    algorithms: [RS256, ES256]\n    clock_skew: 30s\n{jwt_extra}  roles:\n    caller: {{ scopes: [mcp.invoke] }}\n",
            support::q(&idp.url),
        ))
        .start()
        .await
}

fn jwks_url(idp: &Idp) -> String {
    format!(
        "    jwks_url: {}\n",
        support::q(&format!("{}/jwks", idp.url))
    )
}

/// A token's refusal: 401, -31040, and a challenge that says `invalid_token` and where the
/// protected-resource metadata is.
async fn assert_refused(gw: &Gateway, token: &str, what: &str) -> String {
    let bearer = format!("Bearer {token}");
    let r = gw
        .try_initialize(&[("authorization", &bearer)])
        .await
        .err()
        .unwrap_or_else(|| panic!("{what}: accepted"));
    assert_eq!(r.status, 401, "{what}: {}", r.text);
    assert_eq!(r.error()["code"], -31040, "{what}: {}", r.text);
    let challenge = r.header("www-authenticate").unwrap_or_default().to_owned();
    assert!(challenge.starts_with("Bearer "), "{what}: {challenge}");
    assert!(
        challenge.contains("error=\"invalid_token\""),
        "{what}: {challenge}"
    );
    let metadata = format!(
        "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
        gw.url("")
    );
    assert!(challenge.contains(&metadata), "{what}: {challenge}");
    assert!(!r.text.contains(token), "{what}: the token is echoed");
    r.error()["message"].as_str().unwrap_or_default().to_owned()
}

// ----- tests -------------------------------------------------------------------------------------

#[tokio::test]
async fn rs256_and_es256_tokens_are_accepted_with_their_scopes_and_verified_once() {
    let rsa = Rsa::generate("r1");
    let ec = Ec::generate("e1");
    let idp = Idp::start(vec![rsa.jwk(), ec.jwk()]).await;
    let gw = gateway(&idp, &jwks_url(&idp)).await;
    // Starting called nobody: keys are fetched for the first token.
    assert_eq!(idp.jwks(), 0, "the JWKS was fetched at start");

    let token = rsa.token(&claims(&idp, json!({})));
    let bearer = format!("Bearer {token}");
    let s = gw
        .try_initialize(&[("authorization", &bearer)])
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text));
    for i in 0..20 {
        let r = s
            .call_tool("fx__echo", &format!(r#"{{"message":"m{i}"}}"#))
            .await;
        assert_eq!(
            r.result()["content"][0]["text"],
            format!("m{i}"),
            "{}",
            r.text
        );
    }
    // One fetch for 22 requests (and the signature checked once: the cache answers the rest).
    assert_eq!(idp.jwks(), 1);

    // ES256 with `scp` as a list and only the read scope: lists, but may not call.
    let token = ec.token(&claims(
        &idp,
        json!({"scope": null, "scp": ["mcp.tools.read"], "sub": "bob"}),
    ));
    let bearer = format!("Bearer {token}");
    let s = gw
        .try_initialize(&[("authorization", &bearer)])
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text));
    let r = s.request("tools/list", None).await;
    assert!(
        r.result()["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{}",
        r.text
    );
    let r = s.call_tool("fx__echo", r#"{"message":"x"}"#).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.header("x-required-scopes"), Some("mcp.invoke"));
    let challenge = r.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\", scope=\"mcp.invoke\""),
        "{challenge}"
    );

    // A role from the `roles` claim adds its scopes.
    let token = ec.token(&claims(
        &idp,
        json!({"scope": "mcp.tools.read", "roles": ["caller"], "sub": "carol"}),
    ));
    let bearer = format!("Bearer {token}");
    let s = gw
        .try_initialize(&[("authorization", &bearer)])
        .await
        .unwrap_or_else(|r| panic!("{} {}", r.status, r.text));
    let r = s.call_tool("fx__echo", r#"{"message":"role"}"#).await;
    assert_eq!(r.result()["content"][0]["text"], "role", "{}", r.text);

    // Another subject cannot use alice's session.
    let alice = rsa.token(&claims(&idp, json!({})));
    let a = gw
        .try_initialize(&[("authorization", &format!("Bearer {alice}"))])
        .await
        .unwrap_or_else(|r| panic!("{}", r.text));
    let r = gw
        .post_raw(
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#,
            &[
                ("authorization", &bearer),
                ("mcp-session-id", &a.id),
                ("mcp-protocol-version", support::PROTOCOL),
            ],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(idp.jwks(), 1, "known keys were fetched again");
}

#[tokio::test]
async fn hostile_tokens_are_refused_with_invalid_token() {
    let rsa = Rsa::generate("r1");
    let stranger = Rsa::generate("r1");
    let idp = Idp::start(vec![rsa.jwk()]).await;
    let gw = gateway(&idp, &jwks_url(&idp)).await;
    let good = claims(&idp, json!({}));

    let expired = rsa.token(&claims(&idp, json!({"exp": now() - 120})));
    assert!(
        assert_refused(&gw, &expired, "expired")
            .await
            .contains("expired")
    );
    let early = rsa.token(&claims(&idp, json!({"nbf": now() + 120})));
    assert!(
        assert_refused(&gw, &early, "not yet valid")
            .await
            .contains("not valid yet")
    );
    // Inside the 30 s skew both ways: accepted.
    let skewed = rsa.token(&claims(&idp, json!({"nbf": now() + 10, "sub": "skew"})));
    assert!(
        gw.try_initialize(&[("authorization", &format!("Bearer {skewed}"))])
            .await
            .is_ok()
    );
    let no_exp = rsa.token(&claims(&idp, json!({"exp": null})));
    assert_refused(&gw, &no_exp, "no exp").await;
    let iss = rsa.token(&claims(&idp, json!({"iss": "https://evil.example"})));
    assert!(
        assert_refused(&gw, &iss, "wrong issuer")
            .await
            .contains("issuer")
    );
    let aud = rsa.token(&claims(&idp, json!({"aud": "https://other.example/mcp"})));
    assert!(
        assert_refused(&gw, &aud, "wrong audience")
            .await
            .contains("audience")
    );
    let aud_list = rsa.token(&claims(
        &idp,
        json!({"aud": ["a", AUDIENCE], "sub": "list"}),
    ));
    assert!(
        gw.try_initialize(&[("authorization", &format!("Bearer {aud_list}"))])
            .await
            .is_ok()
    );

    // alg: none, with and without a signature part.
    let body = b64(good.to_string().as_bytes());
    let none_header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    for t in [
        format!("{none_header}.{body}."),
        format!("{none_header}.{body}"),
    ] {
        assert_refused(&gw, &t, "alg none").await;
    }
    // HS256 signed with the RSA public key as the HMAC secret (algorithm confusion).
    let input = format!(
        "{}.{body}",
        b64(br#"{"alg":"HS256","typ":"JWT","kid":"r1"}"#)
    );
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &rsa.public_der()),
        input.as_bytes(),
    );
    let hs = format!("{input}.{}", b64(mac.as_ref()));
    assert!(
        assert_refused(&gw, &hs, "HS256 confusion")
            .await
            .contains("algorithm")
    );
    // RS512 is a real algorithm, but not on this allowlist.
    let rs512 = rsa.sign(&json!({"alg": "RS512", "kid": "r1"}), &good);
    assert_refused(&gw, &rs512, "alg off the allowlist").await;
    // Signed by another key under the same kid; and a valid token with its payload changed.
    assert!(
        assert_refused(&gw, &stranger.token(&good), "foreign key")
            .await
            .contains("signature")
    );
    let valid = rsa.token(&good);
    let parts: Vec<&str> = valid.split('.').collect();
    let forged = b64(claims(&idp, json!({"sub": "root"})).to_string().as_bytes());
    assert_refused(
        &gw,
        &format!("{}.{forged}.{}", parts[0], parts[2]),
        "tampered payload",
    )
    .await;
    let mut sig = parts[2].to_owned();
    let last = if sig.ends_with('A') { "B" } else { "A" };
    sig.replace_range(sig.len() - 1.., last);
    assert_refused(
        &gw,
        &format!("{}.{}.{sig}", parts[0], parts[1]),
        "tampered signature",
    )
    .await;
    // Garbage shapes.
    for t in ["a.b", "a.b.c.d", "....", "eyJ.eyJ.x"] {
        assert_refused(&gw, t, "malformed").await;
    }
    // Critical header extensions are not understood, so refused.
    let crit = rsa.sign(
        &json!({"alg": "RS256", "kid": "r1", "crit": ["exp"]}),
        &good,
    );
    assert_refused(&gw, &crit, "crit").await;

    // And the valid one still works.
    assert!(
        gw.try_initialize(&[("authorization", &format!("Bearer {valid}"))])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn unknown_key_ids_refetch_at_most_once_per_interval_and_rotation_works() {
    let old = Rsa::generate("old");
    let new = Rsa::generate("new");
    let idp = Idp::start(vec![old.jwk()]).await;
    let gw = gateway(
        &idp,
        &format!("{}    jwks_refetch_interval: 2s\n", jwks_url(&idp)),
    )
    .await;
    let ok = old.token(&claims(&idp, json!({})));
    assert!(
        gw.try_initialize(&[("authorization", &format!("Bearer {ok}"))])
            .await
            .is_ok()
    );
    assert_eq!(idp.jwks(), 1);

    // A flood of tokens naming key ids nobody published, once the interval since the first
    // fetch is over: one refetch for all of them.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let flood: Vec<String> = (0..30)
        .map(|i| {
            new.sign(
                &json!({"alg": "RS256", "kid": format!("made-up-{i}")}),
                &claims(&idp, json!({})),
            )
        })
        .collect();
    let calls = flood.iter().map(|t| {
        let bearer = format!("Bearer {t}");
        let gw = &gw;
        async move {
            gw.try_initialize(&[("authorization", &bearer)])
                .await
                .err()
                .map(|r| r.status)
        }
    });
    let statuses = futures::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == Some(401)), "{statuses:?}");
    assert_eq!(
        idp.jwks(),
        2,
        "a flood of unknown key ids must cause one fetch"
    );

    // Rotation: the provider publishes the new key. Within the interval the gateway does not
    // ask again, so the new key is not known yet...
    idp.keys.lock().unwrap().push(new.jwk());
    let rotated = new.token(&claims(&idp, json!({})));
    assert_refused(&gw, &rotated, "rotated, inside the interval").await;
    assert_eq!(idp.jwks(), 2);
    // ...and after it, one refetch picks it up.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        gw.try_initialize(&[("authorization", &format!("Bearer {rotated}"))])
            .await
            .is_ok()
    );
    assert_eq!(idp.jwks(), 3);
    // The old key stays valid while it is published.
    assert!(
        gw.try_initialize(&[("authorization", &format!("Bearer {ok}"))])
            .await
            .is_ok()
    );
    assert_eq!(idp.jwks(), 3);
}

#[tokio::test]
async fn keys_come_from_discovery_or_a_pem_file() {
    let ec = Ec::generate("e1");
    let idp = Idp::start(vec![ec.jwk()]).await;
    let gw = gateway(&idp, "    discovery: true\n").await;
    assert_eq!(idp.discovery_hits.load(Ordering::SeqCst), 0);
    let t = ec.token(&claims(&idp, json!({})));
    assert!(
        gw.try_initialize(&[("authorization", &format!("Bearer {t}"))])
            .await
            .is_ok()
    );
    assert_eq!(idp.discovery_hits.load(Ordering::SeqCst), 1);
    assert_eq!(idp.jwks(), 1);
    drop(gw);

    // A static PEM key: nothing is fetched at all.
    let c = Config::new();
    let pem = c.path("idp.pem");
    std::fs::write(&pem, ec.pem()).unwrap();
    let gw = c
        .upstream(Upstream::fixture("fx"))
        .extra(&format!(
            "auth:\n  jwt:\n    issuer: {}\n    audience: {AUDIENCE}\n    algorithms: [ES256]\n    pem: {{ file: {} }}\n",
            support::q(&idp.url),
            support::q(pem.to_str().unwrap())
        ))
        .start()
        .await;
    assert!(
        gw.try_initialize(&[("authorization", &format!("Bearer {t}"))])
            .await
            .is_ok()
    );
    let other = Ec::generate("e1").token(&claims(&idp, json!({})));
    assert_refused(&gw, &other, "not the PEM key").await;
    assert_eq!(idp.jwks(), 1);
}

#[tokio::test]
async fn tokens_in_the_query_string_are_refused() {
    let rsa = Rsa::generate("r1");
    let idp = Idp::start(vec![rsa.jwk()]).await;
    let gw = gateway(&idp, &jwks_url(&idp)).await;
    let t = rsa.token(&claims(&idp, json!({})));
    let r = gw
        .client
        .post(format!("{}?access_token={t}", gw.mcp()))
        .header("content-type", "application/json")
        .header("accept", support::ACCEPT_BOTH)
        .body(support::initialize_body(1))
        .send()
        .await
        .unwrap();
    let r = support::Reply::read(r).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.error()["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "{}",
        r.text
    );
    assert!(
        r.header("www-authenticate")
            .unwrap_or_default()
            .contains("invalid_request")
    );
    assert!(r.header("mcp-session-id").is_none());
}

#[tokio::test]
async fn protected_resource_metadata_is_served_and_named_by_401s() {
    let rsa = Rsa::generate("r1");
    let idp = Idp::start(vec![rsa.jwk()]).await;
    let gw = gateway(&idp, &jwks_url(&idp)).await;
    for (path, resource) in [
        ("/.well-known/oauth-protected-resource/mcp", gw.url("/mcp")),
        ("/.well-known/oauth-protected-resource", gw.url("")),
    ] {
        let r = gw.client.get(gw.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let doc: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(doc["resource"], resource.as_str(), "{doc}");
        assert_eq!(doc["authorization_servers"], json!([idp.url]), "{doc}");
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]), "{doc}");
        assert!(
            doc["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("mcp.invoke")),
            "{doc}"
        );
        assert_eq!(doc["resource_name"], "switchboard");
    }
    let r = gw
        .client
        .get(gw.url("/.well-known/oauth-protected-resource/other"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // No credentials: the challenge has no error code, but says where to look and what to ask.
    let r = gw.try_initialize(&[]).await.err().expect("refused");
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!(
            "Bearer realm=\"switchboard\", resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", scope=\"mcp.tools.read mcp.invoke mcp.prompts.read mcp.resources.read\"",
            gw.url("")
        ).as_str())
    );
}

#[tokio::test]
async fn a_failed_refetch_keeps_the_keys_already_known() {
    let rsa = Rsa::generate("r1");
    let idp = Idp::start(vec![rsa.jwk()]).await;
    let gw = gateway(
        &idp,
        &format!("{}    jwks_refetch_interval: 1s\n", jwks_url(&idp)),
    )
    .await;
    let first = rsa.token(&claims(&idp, json!({"sub": "first"})));
    assert!(
        gw.try_initialize(&[("authorization", &format!("Bearer {first}"))])
            .await
            .is_ok()
    );
    assert_eq!(idp.jwks(), 1);
    // The provider goes down; a token naming an unknown key makes the gateway try again.
    idp.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let unknown = rsa.sign(
        &json!({"alg": "RS256", "kid": "r2"}),
        &claims(&idp, json!({})),
    );
    assert_refused(&gw, &unknown, "unknown kid, provider down").await;
    assert_eq!(idp.jwks(), 2, "the refetch was not attempted");
    // A new token (not cached) signed by the known key still verifies: the stale set stayed.
    let second = rsa.token(&claims(&idp, json!({"sub": "second"})));
    assert!(
        gw.try_initialize(&[("authorization", &format!("Bearer {second}"))])
            .await
            .is_ok()
    );
    assert!(gw.stderr().contains("JWKS fetch failed"), "{}", gw.stderr());
}

#[tokio::test]
async fn an_unreachable_provider_neither_blocks_start_nor_api_keys() {
    // Nothing listens at this address; the gateway starts anyway and says why tokens fail.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (key, entry) = support::create_key("ci", "mcp.invoke");
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra(&format!(
            "auth:\n  api_keys:\n    {entry}\n  jwt:\n    issuer: \"http://{dead}\"\n    audience: {AUDIENCE}\n    jwks_url: \"http://{dead}/jwks\"\n"
        ))
        .start()
        .await;
    assert!(
        gw.try_initialize(&[("authorization", &format!("Bearer {key}"))])
            .await
            .is_ok()
    );
    let rsa = Rsa::generate("r1");
    let t = rsa.sign(
        &json!({"alg": "RS256", "kid": "r1"}),
        &json!({"iss": format!("http://{dead}"), "sub": "a", "aud": AUDIENCE, "exp": now() + 60}),
    );
    assert!(
        assert_refused(&gw, &t, "keys unavailable")
            .await
            .contains("signing keys are unavailable")
    );
}

#[tokio::test]
async fn each_published_product_has_its_own_protected_resource_metadata() {
    let rsa = Rsa::generate("r1");
    let idp = Idp::start(vec![rsa.jwk()]).await;
    let gw = Config::new()
        .upstream(Upstream::fixture("fx"))
        .extra(&format!(
            "auth:\n  jwt:\n    issuer: {}\n    audience: {AUDIENCE}\n{}products:\n  reads:\n    status: published\n    tools: [\"fx__echo\"]\n  wip:\n    status: draft\n    tools: [\"*\"]\n",
            support::q(&idp.url),
            jwks_url(&idp),
        ))
        .start()
        .await;
    let path = "/.well-known/oauth-protected-resource/mcp/v/reads";
    let r = gw.client.get(gw.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let doc: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(doc["resource"], gw.url("/mcp/v/reads").as_str(), "{doc}");
    assert_eq!(doc["authorization_servers"], json!([idp.url]), "{doc}");
    // A draft or unknown product has no document.
    for other in ["wip", "nope"] {
        let path = format!("/.well-known/oauth-protected-resource/mcp/v/{other}");
        let r = gw.client.get(gw.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // A 401 at the product's endpoint points at the product's document.
    let r = gw
        .client
        .post(gw.url("/mcp/v/reads"))
        .header("content-type", "application/json")
        .header("accept", support::ACCEPT_BOTH)
        .body(support::initialize_body(1))
        .send()
        .await
        .unwrap();
    let r = support::Reply::read(r).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let challenge = r.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp/v/reads\"",
            gw.url("")
        )),
        "{challenge}"
    );
}

#[tokio::test]
async fn a_jwks_url_in_private_space_is_refused_without_the_opt_in() {
    let rsa = Rsa::generate("r1");
    let idp = Idp::start(vec![rsa.jwk()]).await;
    let token = rsa.token(&claims(&idp, json!({})));
    let bearer = format!("Bearer {token}");
    for allow in [false, true] {
        let gw = Config::new()
            .upstream(Upstream::fixture("fx"))
            .extra(&format!(
                "allow_private_upstreams: {allow}\nauth:\n  jwt:\n    issuer: {}\n    audience: {AUDIENCE}\n{}",
                support::q(&idp.url),
                jwks_url(&idp),
            ))
            .start()
            .await;
        let r = gw.try_initialize(&[("authorization", &bearer)]).await;
        if allow {
            assert!(r.is_ok(), "allowed: the token is accepted");
            assert_eq!(idp.jwks(), 1);
        } else {
            let message = assert_refused(&gw, &token, "private JWKS").await;
            assert!(
                message.contains("127.0.0.1") && message.contains("allow_private_upstreams"),
                "{message}"
            );
            // Refused before connecting: the identity provider saw nothing.
            assert_eq!(idp.jwks(), 0);
            let log = gw.stderr();
            assert!(log.contains("JWKS fetch failed"), "{log}");
        }
    }
}
