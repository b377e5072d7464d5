//! The `idempotency:` block: how long `tools/call` results stored under an idempotency key are
//! kept, and how many (and how many bytes) at most.

use std::time::Duration;

use serde::Deserialize;

use crate::document::Scalar;
use crate::error::ConfigError;
use crate::model::{
    DEFAULT_IDEMPOTENCY_MAX_BYTES, DEFAULT_IDEMPOTENCY_MAX_ENTRIES, DEFAULT_IDEMPOTENCY_TTL,
    IdempotencyConfig,
};
use crate::resolve::Resolver;
use crate::size::parse_size;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdempotencyDoc {
    pub ttl: Option<Scalar>,
    pub max_entries: Option<Scalar>,
    pub max_bytes: Option<Scalar>,
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
        let max_bytes = match &doc.max_bytes {
            Some(scalar) => match parse_size(&self.text(scalar)?) {
                Ok(0) => Err(self.error(scalar, "`max_bytes` must be greater than 0")),
                Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
                Err(m) => Err(self.error(scalar, format!("`max_bytes`: {m}"))),
            }?,
            None => DEFAULT_IDEMPOTENCY_MAX_BYTES,
        };
        Ok(IdempotencyConfig {
            ttl,
            max_bytes,
            max_entries: self.count_or(
                "max_entries",
                &doc.max_entries,
                DEFAULT_IDEMPOTENCY_MAX_ENTRIES,
            )?,
        })
    }
}
