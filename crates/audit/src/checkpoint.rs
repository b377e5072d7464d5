//! Signed checkpoints: an Ed25519 signature over the chain's latest hash.
//!
//! The hash chain proves that no record *inside* the log was changed, removed or reordered,
//! but whoever can write the file can cut records off its end and leave a shorter chain that
//! still verifies. A checkpoint closes most of that gap: every `checkpoint.every` (when records
//! were written since the last one) and when the writer stops, it appends a `checkpoint` record
//! whose `signature` is an Ed25519 signature, by a key the file's writer-side attacker is assumed
//! not to hold, over the message
//!
//! ```text
//! switchboard audit checkpoint v1\n<seq of the checkpoint record>\n<prev_hash, 64 hex>\n
//! ```
//!
//! `switchboard audit verify --key PUBKEY` checks every signature and reports records after the
//! last checkpoint as not covered. Key files hold hex: the 32-byte seed (private) or the 32-byte
//! public key; `switchboard audit keygen` writes both.

use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::AuditError;
use crate::canonical::{hex, sha256, unhex};

/// The message a checkpoint's signature covers.
pub(crate) fn message(seq: u64, prev_hash: &[u8; 32]) -> Vec<u8> {
    format!(
        "switchboard audit checkpoint v1\n{seq}\n{}\n",
        hex(prev_hash)
    )
    .into_bytes()
}

/// A short name for a public key: the first 8 bytes of its SHA-256, in hex.
fn key_id(public: &[u8]) -> String {
    hex(&sha256(public)[..8])
}

/// The writer's signing key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    id: String,
}

impl SigningKey {
    /// Reads a key file: the 32-byte seed as 64 hex digits (surrounding whitespace ignored).
    pub fn load(path: &Path) -> Result<SigningKey, AuditError> {
        let bad = |message: String| AuditError::Key {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        // The message never quotes the file: it is a secret.
        let seed = unhex::<32>(text.trim())
            .ok_or_else(|| bad("expected the 32-byte Ed25519 seed as 64 hex digits".into()))?;
        SigningKey::from_seed(&seed).map_err(bad)
    }

    pub fn from_seed(seed: &[u8; 32]) -> Result<SigningKey, String> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|e| e.to_string())?;
        let id = key_id(pair.public_key().as_ref());
        Ok(SigningKey { pair, id })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn public_hex(&self) -> String {
        hex(self.pair.public_key().as_ref())
    }

    pub(crate) fn sign(&self, seq: u64, prev_hash: &[u8; 32]) -> Vec<u8> {
        self.pair.sign(&message(seq, prev_hash)).as_ref().to_vec()
    }
}

/// A verifier's public key.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    bytes: [u8; 32],
    id: String,
}

impl VerifyingKey {
    /// Reads a public key: 64 hex digits, given directly or in a file.
    pub fn parse_or_load(text_or_path: &str) -> Result<VerifyingKey, String> {
        let text = match unhex::<32>(text_or_path.trim()) {
            Some(_) => text_or_path.to_owned(),
            None => std::fs::read_to_string(text_or_path)
                .map_err(|e| format!("cannot read the key file {text_or_path}: {e}"))?,
        };
        let bytes = unhex::<32>(text.trim())
            .ok_or("a public key is 64 hex digits (what `switchboard audit keygen` prints)")?;
        Ok(VerifyingKey {
            bytes,
            id: key_id(&bytes),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn verify(&self, seq: u64, prev_hash: &[u8; 32], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.bytes)
            .verify(&message(seq, prev_hash), signature)
            .is_ok()
    }
}

/// A new key pair: (seed hex, public key hex).
pub fn generate_key() -> Result<(String, String), String> {
    let mut seed = [0u8; 32];
    SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| "the system's random source failed".to_owned())?;
    let key = SigningKey::from_seed(&seed)?;
    Ok((hex(&seed), key.public_hex()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_message_and_key() {
        let (seed, public) = generate_key().unwrap();
        let key = SigningKey::from_seed(&unhex::<32>(&seed).unwrap()).unwrap();
        let verifier = VerifyingKey::parse_or_load(&public).unwrap();
        assert_eq!(key.id(), verifier.id());
        let sig = key.sign(7, &[1; 32]);
        assert!(verifier.verify(7, &[1; 32], &sig));
        assert!(!verifier.verify(8, &[1; 32], &sig));
        assert!(!verifier.verify(7, &[2; 32], &sig));
        let (_, other) = generate_key().unwrap();
        assert!(
            !VerifyingKey::parse_or_load(&other)
                .unwrap()
                .verify(7, &[1; 32], &sig)
        );
    }
}
