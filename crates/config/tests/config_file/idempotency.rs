//! The `idempotency:` block: how long stored results are kept, and how many entries and bytes.

use std::time::Duration;

use switchboard_config::{
    DEFAULT_IDEMPOTENCY_MAX_BYTES, DEFAULT_IDEMPOTENCY_MAX_ENTRIES, DEFAULT_IDEMPOTENCY_TTL,
};

use crate::{assert_error_at, ok};

#[test]
fn defaults_and_explicit_bounds() {
    let c = ok("{}\n").idempotency;
    assert_eq!(c.ttl, DEFAULT_IDEMPOTENCY_TTL);
    assert_eq!(c.max_entries, DEFAULT_IDEMPOTENCY_MAX_ENTRIES);
    assert_eq!(c.max_bytes, DEFAULT_IDEMPOTENCY_MAX_BYTES);
    let c = ok("idempotency: { ttl: 1h, max_entries: 500, max_bytes: 8MiB }\n").idempotency;
    assert_eq!(c.ttl, Duration::from_secs(3600));
    assert_eq!(c.max_entries, 500);
    assert_eq!(c.max_bytes, 8 * 1024 * 1024);
}

#[test]
fn bad_bounds_are_located() {
    assert_error_at(
        "idempotency: { max_bytes: 0 }\n",
        1,
        27,
        &["`max_bytes` must be greater than 0"],
    );
    assert_error_at(
        "idempotency: { max_bytes: lots }\n",
        1,
        27,
        &["`max_bytes`"],
    );
    assert_error_at(
        "idempotency: { ttl: 200h }\n",
        1,
        21,
        &["`ttl` must not exceed 7 days"],
    );
}
