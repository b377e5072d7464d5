//! The `idempotency:` block: how long `tools/call` results stored under an idempotency key are
//! kept, and how many at most.

use std::time::Duration;

use serde::Deserialize;

use crate::document::Scalar;
use crate::error::ConfigError;
use crate::model::{DEFAULT_IDEMPOTENCY_MAX_ENTRIES, DEFAULT_IDEMPOTENCY_TTL, IdempotencyConfig};
use crate::resolve::Resolver;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdempotencyDoc {
    pub ttl: Option<Scalar>,
    pub max_entries: Option<Scalar>,
}

/// Longest a stored result may be kept.
const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

impl Resolver<'_> {
    pub(crate) fn idempotency(
        &self,
        doc: IdempotencyDoc,
    ) -> Result<IdempotencyConfig, ConfigError> {
        let ttl = self.duration_or("ttl", &doc.ttl, DEFAULT_IDEMPOTENCY_TTL)?;
        if ttl > MAX_TTL {
            return Err(self.error(
                doc.ttl.as_ref().expect("given"),
                "`ttl` must not exceed 7 days",
            ));
        }
        Ok(IdempotencyConfig {
            ttl,
            max_entries: self.count_or(
                "max_entries",
                &doc.max_entries,
                DEFAULT_IDEMPOTENCY_MAX_ENTRIES,
            )?,
        })
    }
}
