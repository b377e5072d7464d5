//! Micro-benchmark of authenticating one request (what every call pays): an API key (one map
//! probe, one SHA-256, a constant-time compare), a JWT already verified (one SHA-256 of the
//! token and a cache probe), and, for scale, a JWT verified from scratch (an ES256 signature).
//! Run with `cargo bench -p switchboard-gateway --bench auth`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use divan::{Bencher, black_box};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use switchboard_config::{ApiKey, AuthConfig, JwtAlgorithm, JwtConfig, JwtKeys};
use switchboard_gateway::auth::{Auth, create_key};
use switchboard_gateway::principal::Credentials;
use switchboard_protocol::base64;

fn main() {
    divan::main();
}

fn b64(b: &[u8]) -> String {
    base64::encode_url(b)
}

/// An ES256 key as a PEM SubjectPublicKeyInfo, and a token it signed.
fn es256(cache_ttl: Duration) -> (Auth, String) {
    let rng = SystemRandom::new();
    let pk8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let kp =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pk8.as_ref(), &rng).unwrap();
    let mut der = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    der.extend_from_slice(kp.public_key().as_ref());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::encode(&der)
    );
    let cfg = AuthConfig {
        jwt: Some(JwtConfig {
            issuer: "https://idp.example.com".into(),
            audiences: vec!["https://gw.example.com/mcp".into()],
            algorithms: vec![JwtAlgorithm::Es256],
            clock_skew: Duration::from_secs(60),
            keys: JwtKeys::Pem {
                path: "bench.pem".into(),
                text: pem,
            },
            scopes_claim: None,
            roles_claim: "roles".into(),
            jwks_ttl: Duration::from_secs(600),
            jwks_refetch_interval: Duration::from_secs(30),
            cache_ttl,
            cache_size: 10_000,
        }),
        anonymous: switchboard_config::Anonymous::Off,
        ..AuthConfig::default()
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = b64(br#"{"alg":"ES256","typ":"JWT"}"#);
    let claims = format!(
        r#"{{"iss":"https://idp.example.com","sub":"user-1234","aud":"https://gw.example.com/mcp","iat":{now},"exp":{},"scope":"mcp.tools.read mcp.invoke"}}"#,
        now + 3600
    );
    let input = format!("{header}.{}", b64(claims.as_bytes()));
    let sig = kp.sign(&rng, input.as_bytes()).unwrap();
    (
        Auth::new(&cfg, switchboard_upstream::egress::EgressPolicy::strict()),
        format!("Bearer {input}.{}", b64(sig.as_ref())),
    )
}

#[divan::bench]
fn api_key(bencher: Bencher) {
    let (key, hash) = create_key().unwrap();
    let cfg = AuthConfig {
        api_keys: vec![ApiKey {
            name: "bench".into(),
            hash,
            scopes: vec!["mcp.tools.read".into(), "mcp.invoke".into()],
            roles: Vec::new(),
            expires_unix: None,
        }],
        anonymous: switchboard_config::Anonymous::Off,
        ..AuthConfig::default()
    };
    let auth = Auth::new(&cfg, switchboard_upstream::egress::EgressPolicy::strict());
    let header = format!("Bearer {key}");
    bencher.bench_local(|| {
        let c = Credentials {
            authorization: Some(black_box(&header)),
        };
        futures::executor::block_on(auth.authenticate(c)).unwrap()
    });
}

#[divan::bench]
fn jwt_cached(bencher: Bencher) {
    let (auth, header) = es256(Duration::from_secs(300));
    let c = Credentials {
        authorization: Some(&header),
    };
    futures::executor::block_on(auth.authenticate(c)).unwrap();
    bencher.bench_local(|| {
        let c = Credentials {
            authorization: Some(black_box(&header)),
        };
        futures::executor::block_on(auth.authenticate(c)).unwrap()
    });
}

#[divan::bench]
fn jwt_uncached_es256(bencher: Bencher) {
    let (auth, header) = es256(Duration::ZERO);
    bencher.bench_local(|| {
        let c = Credentials {
            authorization: Some(black_box(&header)),
        };
        futures::executor::block_on(auth.authenticate(c)).unwrap()
    });
}
