//! The `http-jwt` case's identity provider, in miniature: an Ed25519 key whose public half the
//! gateway is given as a PEM file (`auth.jwt.pem`), and one access token signed with it (EdDSA)
//! that every call presents. The gateway verifies it once and then answers from its cache of
//! verified tokens, which is the cost this case measures.

use std::path::Path;

use ring::signature::{Ed25519KeyPair, KeyPair};
use switchboard_protocol::base64;

/// The token every call sends, and the `auth:` block that trusts its key.
pub struct Minted {
    pub token: String,
    pub auth: String,
}

const ISSUER: &str = "https://idp.bench.invalid";
const AUDIENCE: &str = "https://gateway.bench.invalid/mcp";

/// Makes a key pair, writes its public key to `dir/jwt-public.pem`, and signs a token valid for
/// a day with the scopes a `tools/call` needs.
pub fn mint(dir: &Path) -> anyhow::Result<Minted> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| anyhow::anyhow!("cannot generate an Ed25519 key"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("cannot read the generated Ed25519 key"))?;
    // SubjectPublicKeyInfo for Ed25519 (RFC 8410): a fixed prefix, then the 32-byte key.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(pair.public_key().as_ref());
    let pem = dir.join("jwt-public.pem");
    std::fs::write(
        &pem,
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::encode(&spki)
        ),
    )?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "bench",
        "iat": now, "exp": now + 86_400, "scope": "mcp.tools.read mcp.invoke",
    });
    let input = format!(
        "{}.{}",
        base64::encode_url(br#"{"alg":"EdDSA","typ":"JWT"}"#),
        base64::encode_url(claims.to_string().as_bytes())
    );
    let signature = pair.sign(input.as_bytes());
    Ok(Minted {
        token: format!("{input}.{}", base64::encode_url(signature.as_ref())),
        auth: format!(
            "auth:\n  jwt: {{ issuer: \"{ISSUER}\", audience: \"{AUDIENCE}\", algorithms: [EdDSA], pem: {{ file: \"{}\" }} }}\n",
            pem.display()
        ),
    })
}
