//! Verifying keys and signatures: a JWK or a PEM public key becomes a [`VerifyingKey`], which
//! checks a JWS signature with `ring`.
//!
//! The key decides the algorithm family, never the token: an RSA key verifies only `RS*`/`PS*`,
//! a P-256 key only `ES256`, an Ed25519 key only `EdDSA`, and a symmetric (`oct`) key is never
//! loaded at all. So a token whose header says `HS256` (or `none`) has no key that could verify
//! it, whatever the allowlist says.

use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;
use switchboard_config::JwtAlgorithm;
use switchboard_protocol::base64;

/// A public key that verifies signatures of one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyingKey {
    /// Modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point (`04 ‖ x ‖ y`).
    P256(Vec<u8>),
    /// An uncompressed P-384 point.
    P384(Vec<u8>),
    /// A 32-byte Ed25519 public key.
    Ed25519(Vec<u8>),
}

/// A key as a JWKS lists it.
#[derive(Debug, Clone)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The JWK's own `alg`, when it names one: then only that algorithm.
    pub alg: Option<JwtAlgorithm>,
    pub key: VerifyingKey,
}

impl VerifyingKey {
    /// Whether this key may verify `alg`.
    pub fn fits(&self, alg: JwtAlgorithm) -> bool {
        use JwtAlgorithm as A;
        matches!(
            (self, alg),
            (
                VerifyingKey::Rsa { .. },
                A::Rs256 | A::Rs384 | A::Rs512 | A::Ps256 | A::Ps384 | A::Ps512
            ) | (VerifyingKey::P256(_), A::Es256)
                | (VerifyingKey::P384(_), A::Es384)
                | (VerifyingKey::Ed25519(_), A::EdDsa)
        )
    }

    /// Whether `sig` is `alg`'s signature over `msg` by this key.
    pub fn verify(&self, alg: JwtAlgorithm, msg: &[u8], sig: &[u8]) -> bool {
        use JwtAlgorithm as A;
        if !self.fits(alg) {
            return false;
        }
        match self {
            VerifyingKey::Rsa { n, e } => {
                let params: &signature::RsaParameters = match alg {
                    A::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    A::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    A::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    A::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                    A::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                    A::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, msg, sig)
                    .is_ok()
            }
            VerifyingKey::P256(point) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(msg, sig)
                    .is_ok()
            }
            VerifyingKey::P384(point) => {
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                    .verify(msg, sig)
                    .is_ok()
            }
            VerifyingKey::Ed25519(k) => UnparsedPublicKey::new(&signature::ED25519, k)
                .verify(msg, sig)
                .is_ok(),
        }
    }
}

/// One JWK (RFC 7517) as a verifying key; `None` for keys switchboard does not use: symmetric
/// ones, encryption keys (`use: enc`), unknown types or curves, malformed members.
pub fn from_jwk(jwk: &Value) -> Option<Jwk> {
    let text = |k: &str| jwk.get(k).and_then(Value::as_str);
    let bytes = |k: &str| text(k).and_then(base64::decode_url);
    if text("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let key = match (text("kty")?, text("crv")) {
        ("RSA", _) => {
            let n = strip_zeros(bytes("n")?);
            let e = strip_zeros(bytes("e")?);
            if n.is_empty() || e.is_empty() {
                return None;
            }
            VerifyingKey::Rsa { n, e }
        }
        ("EC", Some("P-256")) => {
            ec_point(&bytes("x")?, &bytes("y")?, 32).map(VerifyingKey::P256)?
        }
        ("EC", Some("P-384")) => {
            ec_point(&bytes("x")?, &bytes("y")?, 48).map(VerifyingKey::P384)?
        }
        ("OKP", Some("Ed25519")) => {
            let x = bytes("x")?;
            (x.len() == 32).then_some(VerifyingKey::Ed25519(x))?
        }
        _ => return None,
    };
    let alg = match text("alg") {
        None => None,
        // A key pinned to an algorithm we do not verify is not a key for us.
        Some(a) => Some(JwtAlgorithm::from_name(a).filter(|a| key.fits(*a))?),
    };
    Some(Jwk {
        kid: text("kid").map(str::to_owned),
        alg,
        key,
    })
}

fn ec_point(x: &[u8], y: &[u8], len: usize) -> Option<Vec<u8>> {
    if x.len() != len || y.len() != len {
        return None;
    }
    let mut p = Vec::with_capacity(1 + 2 * len);
    p.push(4);
    p.extend_from_slice(x);
    p.extend_from_slice(y);
    Some(p)
}

fn strip_zeros(mut b: Vec<u8>) -> Vec<u8> {
    let zeros = b.iter().take_while(|&&x| x == 0).count();
    b.drain(..zeros);
    b
}

/// The public key of a PEM `-----BEGIN PUBLIC KEY-----` block (X.509 SubjectPublicKeyInfo):
/// RSA, P-256, P-384 or Ed25519.
pub fn from_pem(pem: &str) -> Result<VerifyingKey, String> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let start = pem
        .find(BEGIN)
        .ok_or("no -----BEGIN PUBLIC KEY----- block")?
        + BEGIN.len();
    let len = pem[start..]
        .find(END)
        .ok_or("the PUBLIC KEY block never ends")?;
    let body: String = pem[start..start + len]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::decode(&body).ok_or("the PUBLIC KEY block is not valid base64")?;
    spki(&der).ok_or_else(|| {
        "the PUBLIC KEY block is not an RSA, P-256, P-384 or Ed25519 public key".to_owned()
    })
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE { OID, params }, BIT STRING }.
fn spki(der: &[u8]) -> Option<VerifyingKey> {
    let (outer, rest) = tlv(der, 0x30)?;
    if !rest.is_empty() {
        return None;
    }
    let (alg, rest) = tlv(outer, 0x30)?;
    let (bits, rest) = tlv(rest, 0x03)?;
    if !rest.is_empty() {
        return None;
    }
    // The unused-bits count of a key's BIT STRING is 0.
    let (&0, key) = bits.split_first()? else {
        return None;
    };
    let (oid, params) = tlv(alg, 0x06)?;
    match oid {
        OID_RSA => {
            let (seq, _) = tlv(key, 0x30)?;
            let (n, rest) = tlv(seq, 0x02)?;
            let (e, _) = tlv(rest, 0x02)?;
            Some(VerifyingKey::Rsa {
                n: strip_zeros(n.to_vec()),
                e: strip_zeros(e.to_vec()),
            })
        }
        OID_EC => {
            let (curve, _) = tlv(params, 0x06)?;
            match curve {
                OID_P256 if key.len() == 65 && key[0] == 4 => {
                    Some(VerifyingKey::P256(key.to_vec()))
                }
                OID_P384 if key.len() == 97 && key[0] == 4 => {
                    Some(VerifyingKey::P384(key.to_vec()))
                }
                _ => None,
            }
        }
        OID_ED25519 if key.len() == 32 => Some(VerifyingKey::Ed25519(key.to_vec())),
        _ => None,
    }
}

/// One DER element with tag `tag`: its contents and what follows it.
fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};

    #[test]
    fn ec_and_ed25519_keys_from_jwk_verify_only_their_own_algorithm() {
        let rng = SystemRandom::new();
        let pk8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        let kp = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pk8.as_ref(),
            &rng,
        )
        .unwrap();
        let pubk = kp.public_key().as_ref();
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "kid": "e1",
            "x": base64::encode_url(&pubk[1..33]), "y": base64::encode_url(&pubk[33..]),
        });
        let k = from_jwk(&jwk).unwrap();
        let sig = kp.sign(&rng, b"msg").unwrap();
        assert!(k.key.verify(JwtAlgorithm::Es256, b"msg", sig.as_ref()));
        assert!(!k.key.verify(JwtAlgorithm::Es256, b"msh", sig.as_ref()));
        assert!(!k.key.verify(JwtAlgorithm::Rs256, b"msg", sig.as_ref()));

        let pk8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let ed = Ed25519KeyPair::from_pkcs8(pk8.as_ref()).unwrap();
        let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519",
            "x": base64::encode_url(ed.public_key().as_ref())});
        let k = from_jwk(&jwk).unwrap();
        assert!(
            k.key
                .verify(JwtAlgorithm::EdDsa, b"m", ed.sign(b"m").as_ref())
        );
    }

    #[test]
    fn symmetric_encryption_and_malformed_keys_are_not_loaded() {
        for jwk in [
            serde_json::json!({"kty": "oct", "k": "c2VjcmV0"}),
            serde_json::json!({"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}),
            serde_json::json!({"kty": "RSA", "n": "!!", "e": "AQAB"}),
            serde_json::json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
            serde_json::json!({"kty": "RSA", "alg": "HS256", "n": "AQAB", "e": "AQAB"}),
        ] {
            assert!(from_jwk(&jwk).is_none(), "{jwk}");
        }
    }

    #[test]
    fn pem_public_keys() {
        // An Ed25519 SPKI: 302a300506032b6570032100 ‖ 32 key bytes.
        let mut der = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        der.extend_from_slice(&[7u8; 32]);
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::encode(&der)
        );
        assert_eq!(from_pem(&pem), Ok(VerifyingKey::Ed25519(vec![7u8; 32])));
        assert!(from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_err());
        assert!(from_pem("nothing").is_err());
    }
}
