//! A YAML mapping read as a list of pairs, in file order.
//!
//! Upstream order is part of the contract (an earlier upstream wins a name collision), and env
//! and header maps should reach the child process or the wire in the order they were written,
//! so these mappings cannot go through a `HashMap`. Duplicate keys never reach this type:
//! serde-saphyr rejects them (with their location) before any pair is handed over.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// The pairs of one YAML mapping, in the order they were written.
#[derive(Debug)]
pub(crate) struct OrderedMap<K, V>(pub(crate) Vec<(K, V)>);

impl<K, V> Default for OrderedMap<K, V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de, K, V> Deserialize<'de> for OrderedMap<K, V>
where
    K: Deserialize<'de>,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PairsVisitor(PhantomData))
    }
}

struct PairsVisitor<K, V>(PhantomData<(K, V)>);

impl<'de, K, V> Visitor<'de> for PairsVisitor<K, V>
where
    K: Deserialize<'de>,
    V: Deserialize<'de>,
{
    type Value = OrderedMap<K, V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(pair) = map.next_entry()? {
            pairs.push(pair);
        }
        Ok(OrderedMap(pairs))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        // `env:` with nothing after it is an empty mapping, as everywhere else in YAML configs.
        Ok(OrderedMap(Vec::new()))
    }
}
