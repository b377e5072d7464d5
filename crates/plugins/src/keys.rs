//! Keys: the publisher's Ed25519 signing key and the gateway's trust roots.
//!
//! A signing key is a PKCS#8 `PRIVATE KEY` PEM file (RFC 8410), the form `openssl genpkey
//! -algorithm ed25519` writes; `switchboard plugin keygen` writes the v2 form that also carries
//! the public key. A trust root is a `PUBLIC KEY` PEM (SubjectPublicKeyInfo, RFC 8410), the form
//! `openssl pkey -pubout` writes. An Ed25519 SubjectPublicKeyInfo is a fixed 12-byte DER prefix
//! followed by the 32-byte key, so it is built and read here without an ASN.1 library; anything
//! else in a `PUBLIC KEY` block (an RSA or EC key) is refused by name.

use std::path::{Path, PathBuf};

use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::pem;

/// SEQUENCE { SEQUENCE { OID 1.3.101.112 (Ed25519) }, BIT STRING (0 unused bits) { 32 bytes } }.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// PKCS#8 v1 for Ed25519 up to the 32-byte seed: SEQUENCE { INTEGER 0, AlgorithmIdentifier
/// { 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } } (RFC 8410 section 7).
const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The v1 form of ring's v2 document (same seed, no public key), when it has the expected
/// layout: version 1, the Ed25519 algorithm, the seed's octet string at byte 16.
fn pkcs8_v1(v2: &[u8]) -> Option<Vec<u8>> {
    const V2_HEAD: [u8; 16] = [
        0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let seed = v2.strip_prefix(&V2_HEAD[..])?.get(..32)?;
    let mut v1 = ED25519_PKCS8_V1_PREFIX.to_vec();
    v1.extend_from_slice(seed);
    Some(v1)
}

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// A publisher's signing key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// A new random key, as `(key, its PKCS#8 PEM)`. The PEM is the PKCS#8 v1 form OpenSSL
    /// writes and reads (ring generates v2, which OpenSSL 3 does not load), so `openssl pkey`
    /// and `openssl pkeyutl` work on it.
    pub fn generate() -> Result<(SigningKey, String), String> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| "the system's random source failed".to_owned())?;
        let key = SigningKey::from_pkcs8(pkcs8.as_ref())?;
        let der = pkcs8_v1(pkcs8.as_ref())
            .filter(|v1| {
                SigningKey::from_pkcs8(v1).is_ok_and(|k| k.public_key() == key.public_key())
            })
            .unwrap_or_else(|| pkcs8.as_ref().to_vec());
        Ok((key, pem::encode("PRIVATE KEY", &der)))
    }

    /// Reads a PKCS#8 `PRIVATE KEY` PEM (v1 or v2).
    pub fn from_pem(text: &str) -> Result<SigningKey, String> {
        let blocks = pem::decode_all(text, "PRIVATE KEY")?;
        match blocks.as_slice() {
            [der] => SigningKey::from_pkcs8(der),
            [] => Err(
                "no `-----BEGIN PRIVATE KEY-----` block (expected a PKCS#8 Ed25519 key)".to_owned(),
            ),
            _ => {
                Err("more than one PRIVATE KEY block; a signing key file holds one key".to_owned())
            }
        }
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<SigningKey, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the signing key {}: {e}", path.display()))?;
        SigningKey::from_pem(&text).map_err(|e| format!("signing key {}: {e}", path.display()))
    }

    fn from_pkcs8(der: &[u8]) -> Result<SigningKey, String> {
        // `maybe_unchecked` also takes PKCS#8 v1 (no public key inside), which openssl writes.
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(|pair| SigningKey { pair })
            .map_err(|e| format!("not a PKCS#8 Ed25519 private key ({e})"))
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    /// The trust-root PEM that verifies this key's signatures.
    pub fn public_pem(&self) -> String {
        public_key_pem(&self.public_key())
    }

    /// The Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }
}

/// `key` as a `PUBLIC KEY` PEM (SubjectPublicKeyInfo).
pub fn public_key_pem(key: &[u8; 32]) -> String {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(key);
    pem::encode("PUBLIC KEY", &der)
}

/// The Ed25519 public keys a signature may verify against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustRoots {
    keys: Vec<[u8; 32]>,
}

impl TrustRoots {
    /// The keys of every `PUBLIC KEY` block in `text`.
    pub fn from_pem(text: &str) -> Result<TrustRoots, String> {
        let mut roots = TrustRoots::default();
        let blocks = pem::decode_all(text, "PUBLIC KEY")?;
        if blocks.is_empty() {
            return Err("no `-----BEGIN PUBLIC KEY-----` block".to_owned());
        }
        for der in blocks {
            let key = der
                .strip_prefix(&ED25519_SPKI_PREFIX[..])
                .and_then(|k| <[u8; 32]>::try_from(k).ok())
                .ok_or("a PUBLIC KEY block is not an Ed25519 key (only Ed25519 signs plugins)")?;
            roots.add(key);
        }
        Ok(roots)
    }

    /// Reads every file; a file that cannot be read or holds no Ed25519 key adds nothing and
    /// is reported in the second value (one sentence per file), so one broken file does not
    /// hide the keys of the others.
    pub fn load(paths: &[PathBuf]) -> (TrustRoots, Vec<String>) {
        let mut roots = TrustRoots::default();
        let mut problems = Vec::new();
        for path in paths {
            match std::fs::read_to_string(path) {
                Ok(text) => match TrustRoots::from_pem(&text) {
                    Ok(r) => r.keys.into_iter().for_each(|k| roots.add(k)),
                    Err(e) => problems.push(format!("trust root {}: {e}", path.display())),
                },
                Err(e) => problems.push(format!("cannot read trust root {}: {e}", path.display())),
            }
        }
        (roots, problems)
    }

    /// Adds one key (a key already present is not added twice).
    pub fn add(&mut self, key: [u8; 32]) {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `signature` over `message` verifies against one of the keys.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.keys.iter().any(|k| {
            UnparsedPublicKey::new(&ED25519, k)
                .verify(message, signature)
                .is_ok()
        })
    }
}
