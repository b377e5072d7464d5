//! The sealed `requestState`: what the gateway hands a 2026-07-28 client between rounds of
//! `input_required`, and reads back on the retry.
//!
//! A state must survive a trip through an untrusted client, so it is encrypted and
//! authenticated (ChaCha20-Poly1305 from `ring`), and it is bound to the request it belongs to:
//! the principal, the method and the target (tool name, prompt name or resource URI) are
//! authenticated as associated data, not stored, so a state replayed by someone else or against
//! another target fails to open exactly like a tampered one. Expiry and the replica that holds
//! the call are inside the ciphertext. The format (`docs/design/era-2026-07-28.md` §4.5):
//!
//! ```text
//! token     = "sb1." base64url_nopad( kid[4] ‖ nonce[12] ‖ ciphertext ‖ tag[16] )
//! kid       = SHA-256(key)[..4]                  picks the opening key; unknown = tampered
//! AAD       = "switchboard/requestState/1" ‖ kid ‖ 0 ‖ principal ‖ 0 ‖ method ‖ 0 ‖ target
//! plaintext = 1 ‖ kind ‖ expires_unix_ms:u64be ‖ replica_len:u8 ‖ replica ‖ body
//!   kind 1 HELD:  body = handle[16] ‖ round:u32be
//!   kind 3 RELAY: body = upstream_len:u16be ‖ upstream id ‖ the modern upstream's own state
//!   (kind 2, which named the upstream by its position in the config, is no longer accepted:
//!   such a token fails to open like a tampered one, and the caller starts the call afresh)
//! ```
//!
//! The AAD separates its fields with NUL, so a principal or method holding a NUL would be
//! ambiguous; such bindings are refused both ways. The target is last and may hold anything.
//! Nothing here panics or allocates without bound on client input: [`Keys::open`] refuses
//! tokens over [`MAX_TOKEN_LEN`] before decoding them.

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use switchboard_protocol::base64;

/// Longest token [`Keys::open`] reads, and so the longest [`Keys::seal`] writes. It leaves a
/// modern upstream about 48 KiB of state of its own.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

const PREFIX: &str = "sb1.";
const CONTEXT: &[u8] = b"switchboard/requestState/1";
const VERSION: u8 = 1;
const KIND_HELD: u8 = 1;
const KIND_RELAY: u8 = 3;
const KID_LEN: usize = 4;
const TAG_LEN: usize = 16;
/// `ver ‖ kind ‖ expires ‖ replica_len`.
const HEADER_LEN: usize = 1 + 1 + 8 + 1;
const HELD_BODY_LEN: usize = 16 + 4;

/// The state a token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sealed {
    /// Bridge C: this replica holds the upstream call under `handle`; `round` counts the
    /// `input_required` answers given for it, so an older round is a replay.
    Held { handle: [u8; 16], round: u32 },
    /// A modern upstream's own `requestState`, wrapped so a client cannot aim it at another
    /// upstream. `upstream` is the upstream's id (its configured name).
    Relay { upstream: String, inner: Vec<u8> },
}

/// What a token is bound to. All three must be the same on the retry as when sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    /// Who asked; `anonymous` until authentication exists.
    pub principal: &'a str,
    /// `tools/call`, `prompts/get` or `resources/read`.
    pub method: &'a str,
    /// The exposed tool or prompt name, or the resource URI.
    pub target: &'a str,
}

/// A token that opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub state: Sealed,
    /// The replica that sealed it.
    pub replica: String,
    pub expires_unix_ms: u64,
}

/// Why a token did not open. The reasons behind `Invalid` are deliberately not told apart: a
/// client learns nothing about which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Not `sb1.`, bad base64, too long, an unknown key id, a failed authentication (which is
    /// also what another principal, method or target gives), or a malformed plaintext.
    #[error("requestState failed verification")]
    Invalid,
    /// Authentic, but past its lifetime.
    #[error("requestState expired at {at_unix_ms} (unix ms)")]
    Expired { at_unix_ms: u64 },
}

/// Why a state could not be sealed. None of these depends on client input except the size of a
/// relayed upstream state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The system's random source (or, in theory, the cipher) failed: no nonce, no token.
    #[error("the system random source or the cipher failed")]
    Crypto,
    #[error("the replica id is longer than 255 bytes")]
    ReplicaTooLong,
    #[error("the principal or method contains a NUL character")]
    Binding,
    #[error("the sealed state would be longer than {MAX_TOKEN_LEN} bytes")]
    TooLarge,
}

struct Key {
    kid: [u8; KID_LEN],
    aead: LessSafeKey,
}

/// The keys that seal and open states: the first seals, every one opens.
pub struct Keys {
    keys: Vec<Key>,
    ephemeral: bool,
    random: SystemRandom,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<String> = self
            .keys
            .iter()
            .map(|k| k.kid.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        f.debug_struct("Keys")
            .field("kids", &kids)
            .field("ephemeral", &self.ephemeral)
            .finish()
    }
}

impl Keys {
    /// The configured keys (`modern.state_keys`), in order. With none, one random key is made
    /// for this process: states then die with it and no other replica can open them.
    pub fn new(keys: &[[u8; 32]]) -> Result<Keys, SealError> {
        let random = SystemRandom::new();
        if keys.is_empty() {
            let mut key = [0u8; 32];
            random.fill(&mut key).map_err(|_| SealError::Crypto)?;
            let mut keys = Keys::from_bytes(&[key], random)?;
            keys.ephemeral = true;
            return Ok(keys);
        }
        Keys::from_bytes(keys, random)
    }

    /// One random key for this process; the same as `Keys::new(&[])`.
    #[cfg(test)]
    pub fn random() -> Result<Keys, SealError> {
        Keys::new(&[])
    }

    fn from_bytes(keys: &[[u8; 32]], random: SystemRandom) -> Result<Keys, SealError> {
        let keys = keys
            .iter()
            .map(|bytes| {
                let mut kid = [0u8; KID_LEN];
                kid.copy_from_slice(&digest(&SHA256, bytes).as_ref()[..KID_LEN]);
                // A 32-byte key always fits ChaCha20-Poly1305; ring still reports it as fallible.
                let unbound =
                    UnboundKey::new(&CHACHA20_POLY1305, bytes).map_err(|_| SealError::Crypto)?;
                Ok(Key {
                    kid,
                    aead: LessSafeKey::new(unbound),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Keys {
            keys,
            ephemeral: false,
            random,
        })
    }

    /// True when the key was made up for this process rather than configured.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// Seals `state` for `binding` under the first key, with a fresh random nonce, so two seals
    /// of the same state never give the same token.
    pub fn seal(
        &self,
        binding: &Binding,
        replica: &str,
        expires_unix_ms: u64,
        state: &Sealed,
    ) -> Result<String, SealError> {
        // Never empty: `new` makes a key when none is configured.
        let key = self.keys.first().ok_or(SealError::Crypto)?;
        let aad = aad(&key.kid, binding).ok_or(SealError::Binding)?;
        let replica_len = u8::try_from(replica.len()).map_err(|_| SealError::ReplicaTooLong)?;
        let body_len = match state {
            Sealed::Held { .. } => HELD_BODY_LEN,
            Sealed::Relay { inner, .. } if inner.len() > MAX_TOKEN_LEN => {
                return Err(SealError::TooLarge);
            }
            Sealed::Relay { upstream, .. } if upstream.len() > usize::from(u16::MAX) => {
                return Err(SealError::TooLarge);
            }
            Sealed::Relay { upstream, inner } => 2 + upstream.len() + inner.len(),
        };
        let raw_len = KID_LEN + NONCE_LEN + HEADER_LEN + replica.len() + body_len + TAG_LEN;
        if PREFIX.len() + (raw_len * 4).div_ceil(3) > MAX_TOKEN_LEN {
            return Err(SealError::TooLarge);
        }

        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Crypto)?;

        let mut raw = Vec::with_capacity(raw_len);
        raw.extend_from_slice(&key.kid);
        raw.extend_from_slice(&nonce);
        let mut sealed = Vec::with_capacity(raw_len - KID_LEN - NONCE_LEN);
        sealed.push(VERSION);
        match state {
            Sealed::Held { .. } => sealed.push(KIND_HELD),
            Sealed::Relay { .. } => sealed.push(KIND_RELAY),
        }
        sealed.extend_from_slice(&expires_unix_ms.to_be_bytes());
        sealed.push(replica_len);
        sealed.extend_from_slice(replica.as_bytes());
        match state {
            Sealed::Held { handle, round } => {
                sealed.extend_from_slice(handle);
                sealed.extend_from_slice(&round.to_be_bytes());
            }
            Sealed::Relay { upstream, inner } => {
                let len = u16::try_from(upstream.len()).map_err(|_| SealError::TooLarge)?;
                sealed.extend_from_slice(&len.to_be_bytes());
                sealed.extend_from_slice(upstream.as_bytes());
                sealed.extend_from_slice(inner);
            }
        }
        key.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut sealed,
            )
            .map_err(|_| SealError::Crypto)?;
        raw.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", base64::encode_url(&raw)))
    }

    /// Opens a token a client sent back, for the request it came with. Expiry is checked only
    /// once the token has proved authentic; `now_unix_ms` past the sealed expiry is `Expired`.
    pub fn open(
        &self,
        token: &str,
        binding: &Binding,
        now_unix_ms: u64,
    ) -> Result<Opened, OpenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(OpenError::Invalid);
        }
        let raw = token
            .strip_prefix(PREFIX)
            .and_then(base64::decode_url)
            .ok_or(OpenError::Invalid)?;
        if raw.len() < KID_LEN + NONCE_LEN + TAG_LEN {
            return Err(OpenError::Invalid);
        }
        let (kid, rest) = raw.split_at(KID_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let aad = aad(kid, binding).ok_or(OpenError::Invalid)?;
        // Two configured keys may share a 4-byte id; try each, none is more likely.
        for key in self.keys.iter().filter(|k| k.kid == kid) {
            let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Invalid)?;
            let mut buffer = sealed.to_vec();
            if let Ok(plain) = key
                .aead
                .open_in_place(nonce, Aad::from(aad.as_slice()), &mut buffer)
            {
                let opened = parse(plain).ok_or(OpenError::Invalid)?;
                if opened.expires_unix_ms < now_unix_ms {
                    return Err(OpenError::Expired {
                        at_unix_ms: opened.expires_unix_ms,
                    });
                }
                return Ok(opened);
            }
        }
        Err(OpenError::Invalid)
    }
}

/// The associated data; `None` when the principal or method holds a NUL (ambiguous).
fn aad(kid: &[u8], binding: &Binding) -> Option<Vec<u8>> {
    if binding.principal.contains('\0') || binding.method.contains('\0') {
        return None;
    }
    let mut aad = Vec::with_capacity(
        CONTEXT.len()
            + kid.len()
            + 3
            + binding.principal.len()
            + binding.method.len()
            + binding.target.len(),
    );
    aad.extend_from_slice(CONTEXT);
    aad.extend_from_slice(kid);
    aad.push(0);
    aad.extend_from_slice(binding.principal.as_bytes());
    aad.push(0);
    aad.extend_from_slice(binding.method.as_bytes());
    aad.push(0);
    aad.extend_from_slice(binding.target.as_bytes());
    Some(aad)
}

/// Reads an authenticated plaintext. Only our own seals get here, so a failure means a bug or
/// a foreign writer holding our key; either way the token is not used.
fn parse(plain: &[u8]) -> Option<Opened> {
    let (&version, rest) = plain.split_first()?;
    let (&kind, rest) = rest.split_first()?;
    if version != VERSION {
        return None;
    }
    let (expires, rest) = rest.split_first_chunk::<8>()?;
    let (&replica_len, rest) = rest.split_first()?;
    let (replica, body) = rest.split_at_checked(usize::from(replica_len))?;
    let replica = std::str::from_utf8(replica).ok()?.to_owned();
    let state = match kind {
        KIND_HELD => {
            let (handle, round) = body.split_first_chunk::<16>()?;
            let round: [u8; 4] = round.try_into().ok()?;
            Sealed::Held {
                handle: *handle,
                round: u32::from_be_bytes(round),
            }
        }
        KIND_RELAY => {
            let (len, rest) = body.split_first_chunk::<2>()?;
            let (upstream, inner) = rest.split_at_checked(usize::from(u16::from_be_bytes(*len)))?;
            Sealed::Relay {
                upstream: std::str::from_utf8(upstream).ok()?.to_owned(),
                inner: inner.to_vec(),
            }
        }
        _ => return None,
    };
    Some(Opened {
        state,
        replica,
        expires_unix_ms: u64::from_be_bytes(*expires),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [0xaa; 32];
    const B: [u8; 32] = [0xbb; 32];
    const NOW: u64 = 1_800_000_000_000;
    const LATER: u64 = NOW + 600_000;

    fn binding() -> Binding<'static> {
        Binding {
            principal: "anonymous",
            method: "tools/call",
            target: "fx__test_elicitation",
        }
    }

    fn held() -> Sealed {
        Sealed::Held {
            handle: *b"0123456789abcdef",
            round: 3,
        }
    }

    fn keys(list: &[[u8; 32]]) -> Keys {
        Keys::new(list).expect("keys")
    }

    fn seal(keys: &Keys, state: &Sealed) -> String {
        keys.seal(&binding(), "replica-1", LATER, state)
            .expect("seal")
    }

    fn raw(token: &str) -> Vec<u8> {
        base64::decode_url(token.strip_prefix(PREFIX).expect("prefix")).expect("base64")
    }

    fn token(raw: &[u8]) -> String {
        format!("{PREFIX}{}", base64::encode_url(raw))
    }

    #[test]
    fn held_round_trips() {
        let keys = keys(&[A]);
        let token = seal(&keys, &held());
        assert!(token.starts_with("sb1."));
        assert_eq!(
            keys.open(&token, &binding(), NOW),
            Ok(Opened {
                state: held(),
                replica: "replica-1".to_owned(),
                expires_unix_ms: LATER,
            })
        );
    }

    #[test]
    fn relay_states_that_named_a_position_no_longer_open() {
        // A kind-2 RELAY (the upstream's index, from before upstreams had ids), sealed with our
        // own key: it must fail like a tampered token, never resolve to some upstream.
        let keys = keys(&[A]);
        let key = &keys.keys[0];
        let mut sealed = vec![VERSION, 2];
        sealed.extend_from_slice(&LATER.to_be_bytes());
        sealed.push(1);
        sealed.push(b'r');
        sealed.extend_from_slice(&0u16.to_be_bytes());
        sealed.extend_from_slice(b"state");
        let nonce = [3u8; NONCE_LEN];
        let aad = aad(&key.kid, &binding()).expect("aad");
        key.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut sealed,
            )
            .expect("seal");
        let mut raw = key.kid.to_vec();
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&sealed);
        assert_eq!(
            keys.open(&token(&raw), &binding(), NOW),
            Err(OpenError::Invalid)
        );
    }

    #[test]
    fn relay_round_trips_any_inner_state() {
        let keys = keys(&[A]);
        for inner in [Vec::new(), b"upstream-state".to_vec(), vec![0, 255, 10, 13]] {
            let state = Sealed::Relay {
                upstream: "time".to_owned(),
                inner,
            };
            let opened = keys
                .open(&seal(&keys, &state), &binding(), NOW)
                .expect("opens");
            assert_eq!(opened.state, state);
        }
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let keys = keys(&[A]);
        assert_eq!(CHACHA20_POLY1305.tag_len(), TAG_LEN);
        let raw = raw(&seal(&keys, &held()));
        assert_eq!(raw[..KID_LEN], digest(&SHA256, &A).as_ref()[..KID_LEN]);
        let plaintext = HEADER_LEN + "replica-1".len() + HELD_BODY_LEN;
        assert_eq!(raw.len(), KID_LEN + NONCE_LEN + plaintext + TAG_LEN);
    }

    #[test]
    fn a_flipped_byte_in_any_section_is_invalid() {
        let keys = keys(&[A]);
        let good = raw(&seal(&keys, &held()));
        let sections = [
            ("kid", 0),
            ("nonce", KID_LEN + 5),
            ("ciphertext", KID_LEN + NONCE_LEN + 2),
            ("tag", good.len() - 1),
        ];
        for (section, at) in sections {
            let mut bad = good.clone();
            bad[at] ^= 0x01;
            assert_eq!(
                keys.open(&token(&bad), &binding(), NOW),
                Err(OpenError::Invalid),
                "{section}"
            );
        }
    }

    #[test]
    fn mangled_tokens_are_invalid() {
        let keys = keys(&[A]);
        let good = seal(&keys, &held());
        let raw = raw(&good);
        let mangled = [
            good[..good.len() - 1].to_owned(),
            token(&raw[..raw.len() - 1]),
            token(&raw[..KID_LEN + NONCE_LEN + TAG_LEN - 1]),
            format!("{good}-TAMPERED"),
            good.replacen("sb1.", "sb2.", 1),
            good.replacen("sb1.", "", 1),
            format!("{good}="),
            good.replace('-', "+").replace('_', "/") + "+/",
            "sb1.!!!!".to_owned(),
            "sb1.".to_owned(),
            String::new(),
            format!("sb1.{}", "A".repeat(MAX_TOKEN_LEN)),
        ];
        for token in mangled {
            assert_eq!(
                keys.open(&token, &binding(), NOW),
                Err(OpenError::Invalid),
                "{token:.60}"
            );
        }
    }

    #[test]
    fn another_principal_method_or_target_is_invalid() {
        let keys = keys(&[A]);
        let token = seal(&keys, &held());
        let others = [
            Binding {
                principal: "mallory",
                ..binding()
            },
            Binding {
                method: "prompts/get",
                ..binding()
            },
            Binding {
                target: "fx__other_tool",
                ..binding()
            },
            // The separators keep fields from sliding into each other.
            Binding {
                principal: "anonymoustools/call",
                method: "",
                ..binding()
            },
        ];
        for other in others {
            assert_eq!(
                keys.open(&token, &other, NOW),
                Err(OpenError::Invalid),
                "{other:?}"
            );
        }
    }

    #[test]
    fn a_nul_in_the_principal_or_method_is_refused_both_ways() {
        let keys = keys(&[A]);
        let bad = Binding {
            principal: "a\0b",
            ..binding()
        };
        assert_eq!(
            keys.seal(&bad, "r", LATER, &held()),
            Err(SealError::Binding)
        );
        let token = seal(&keys, &held());
        assert_eq!(keys.open(&token, &bad, NOW), Err(OpenError::Invalid));
        let nul_target = Binding {
            target: "a\0b",
            ..binding()
        };
        let token = keys
            .seal(&nul_target, "r", LATER, &held())
            .expect("a NUL in the last field is unambiguous");
        assert!(keys.open(&token, &nul_target, NOW).is_ok());
    }

    #[test]
    fn expiry_is_checked_after_authentication() {
        let keys = keys(&[A]);
        let token = seal(&keys, &held());
        assert!(keys.open(&token, &binding(), LATER).is_ok(), "at expiry");
        assert_eq!(
            keys.open(&token, &binding(), LATER + 1),
            Err(OpenError::Expired { at_unix_ms: LATER })
        );
        let mut tampered = raw(&token);
        let last = tampered.len() - 1;
        tampered[last] ^= 0x80;
        assert_eq!(
            keys.open(&self::token(&tampered), &binding(), LATER + 1),
            Err(OpenError::Invalid),
            "a forged expired token says nothing about expiry"
        );
    }

    #[test]
    fn rotation() {
        let old = keys(&[A]);
        let rotated = keys(&[B, A]);
        let by_b = seal(&rotated, &held());
        assert!(rotated.open(&by_b, &binding(), NOW).is_ok());
        assert!(keys(&[A, B]).open(&by_b, &binding(), NOW).is_ok());
        assert!(rotated.open(&seal(&old, &held()), &binding(), NOW).is_ok());
        assert_eq!(
            old.open(&by_b, &binding(), NOW),
            Err(OpenError::Invalid),
            "unknown kid"
        );
        assert_eq!(
            keys(&[B]).open(&seal(&old, &held()), &binding(), NOW),
            Err(OpenError::Invalid),
            "a key rotated out no longer opens"
        );
    }

    #[test]
    fn a_known_kid_with_the_wrong_key_is_invalid() {
        let keys = keys(&[A]);
        let mut foreign = raw(&seal(&self::keys(&[B]), &held()));
        foreign[..KID_LEN].copy_from_slice(&digest(&SHA256, &A).as_ref()[..KID_LEN]);
        assert_eq!(
            keys.open(&token(&foreign), &binding(), NOW),
            Err(OpenError::Invalid)
        );
    }

    #[test]
    fn two_seals_of_one_state_differ() {
        let keys = keys(&[A]);
        let (one, two) = (seal(&keys, &held()), seal(&keys, &held()));
        assert_ne!(one, two);
        assert_ne!(
            raw(&one)[KID_LEN..KID_LEN + NONCE_LEN],
            raw(&two)[KID_LEN..KID_LEN + NONCE_LEN]
        );
    }

    #[test]
    fn random_keys_are_ephemeral_and_their_own() {
        let (one, two) = (Keys::random().expect("one"), Keys::random().expect("two"));
        assert!(
            !format!("{:?}", keys(&[A])).contains("170, 170"),
            "Debug shows only key ids"
        );
        assert!(one.is_ephemeral());
        assert!(!keys(&[A]).is_ephemeral());
        let token = seal(&one, &held());
        assert!(one.open(&token, &binding(), NOW).is_ok());
        assert_eq!(two.open(&token, &binding(), NOW), Err(OpenError::Invalid));
    }

    #[test]
    fn seal_refuses_what_open_would() {
        let keys = keys(&[A]);
        assert_eq!(
            keys.seal(&binding(), &"r".repeat(256), LATER, &held()),
            Err(SealError::ReplicaTooLong)
        );
        assert!(
            keys.seal(&binding(), &"r".repeat(255), LATER, &held())
                .is_ok()
        );
        let huge = Sealed::Relay {
            upstream: String::new(),
            inner: vec![7; MAX_TOKEN_LEN],
        };
        assert_eq!(
            keys.seal(&binding(), "r", LATER, &huge),
            Err(SealError::TooLarge)
        );
        // The largest relay that fits still opens.
        let fits = (MAX_TOKEN_LEN - PREFIX.len()) / 4 * 3
            - (KID_LEN + NONCE_LEN + HEADER_LEN + 1 + 2 + TAG_LEN);
        let state = Sealed::Relay {
            upstream: String::new(),
            inner: vec![7; fits],
        };
        let token = keys.seal(&binding(), "r", LATER, &state).expect("fits");
        assert_eq!(token.len(), MAX_TOKEN_LEN);
        assert_eq!(
            keys.open(&token, &binding(), NOW).map(|o| o.state),
            Ok(state)
        );
        let one_more = Sealed::Relay {
            upstream: String::new(),
            inner: vec![7; fits + 1],
        };
        assert_eq!(
            keys.seal(&binding(), "r", LATER, &one_more),
            Err(SealError::TooLarge)
        );
    }

    proptest::proptest! {
        #[test]
        fn open_never_panics(text in "\\PC{0,200}", base in "sb1\\.[A-Za-z0-9_-]{0,120}") {
            let keys = keys(&[A]);
            let _ = keys.open(&text, &binding(), NOW);
            let _ = keys.open(&base, &binding(), NOW);
        }

        #[test]
        fn open_never_panics_on_authentic_garbage(plain in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            // Bytes sealed with our own key but not by `seal`: parse must refuse, not panic.
            let keys = keys(&[A]);
            let key = &keys.keys[0];
            let mut sealed = plain;
            let nonce = [9u8; NONCE_LEN];
            let aad = aad(&key.kid, &binding()).expect("aad");
            key.aead
                .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut sealed)
                .expect("seal");
            let mut raw = key.kid.to_vec();
            raw.extend_from_slice(&nonce);
            raw.extend_from_slice(&sealed);
            let _ = keys.open(&token(&raw), &binding(), NOW);
        }

        #[test]
        fn every_state_round_trips(
            handle in proptest::array::uniform16(proptest::num::u8::ANY),
            round in proptest::num::u32::ANY,
            upstream in "[a-z_-]{0,20}",
            inner in proptest::collection::vec(proptest::num::u8::ANY, 0..256),
            replica in "[!-~]{0,64}",
            target in "\\PC{0,40}",
        ) {
            let keys = keys(&[A]);
            let binding = Binding { target: &target, ..binding() };
            for state in [Sealed::Held { handle, round }, Sealed::Relay { upstream: upstream.clone(), inner: inner.clone() }] {
                let token = keys.seal(&binding, &replica, LATER, &state).expect("seal");
                let opened = keys.open(&token, &binding, NOW).expect("open");
                proptest::prop_assert_eq!(opened, Opened { state, replica: replica.clone(), expires_unix_ms: LATER });
            }
        }
    }
}
