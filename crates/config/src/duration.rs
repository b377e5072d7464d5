//! Durations as people write them in config files: `500ms`, `30s`, `10m`, `24h`, `1h30m`.
//!
//! A bare integer is seconds. A compound form lists each unit at most once, largest first
//! (`1h30m`, `2m500ms`), which catches typos like `30s10m`. No fractions, signs or spaces: one
//! spelling per value keeps configs diffable and errors obvious.

use std::time::Duration;

const FORMS: &str =
    "a whole number of seconds, or a form like `500ms`, `30s`, `10m`, `24h`, `1h30m`";

/// The longest duration any setting takes: a year. Longer is a typo (or a wish for "never", which
/// no setting means by a large number), and deadlines computed from it would overflow the clock.
const MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// The units, largest first, with their length in milliseconds.
const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// Parses one duration; the error says what was wrong, without the value's location.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = |why: &str| {
        format!(
            "invalid duration `{}`: {why}; expected {FORMS}",
            text.escape_debug()
        )
    };
    let unexpected = |c: char| invalid(&format!("unexpected `{}`", c.escape_debug()));
    if text.is_empty() {
        return Err(invalid("it is empty"));
    }
    let too_large = || invalid("it is longer than a year (8760h)");
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
            .filter(|d| *d <= MAX)
            .ok_or_else(too_large);
    }

    let mut millis: u64 = 0;
    // Index into UNITS of the smallest unit seen so far; the next must be smaller.
    let mut next_unit = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(match rest.chars().next() {
                Some(c) if c.is_ascii_alphabetic() => invalid("each unit needs a number before it"),
                Some(c) => unexpected(c),
                None => invalid("it is empty"),
            });
        }
        let (number, after) = rest.split_at(digits);
        let letters = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(letters);
        if unit.is_empty() {
            return Err(match after.chars().next() {
                Some(c) => unexpected(c),
                None => invalid("a number without a unit can only stand alone"),
            });
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(invalid(&format!("unknown unit `{}`", unit.escape_debug())));
        };
        if index < next_unit {
            return Err(invalid("units must appear once each, largest first"));
        }
        next_unit = index + 1;
        let amount = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(UNITS[index].1))
            .and_then(|ms| millis.checked_add(ms))
            .ok_or_else(too_large)?;
        millis = amount;
        rest = after;
    }
    Some(Duration::from_millis(millis))
        .filter(|d| *d <= MAX)
        .ok_or_else(too_large)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("10m", Duration::from_secs(600)),
            ("24h", Duration::from_secs(86_400)),
            ("1h30m", Duration::from_secs(5_400)),
            ("1h30m15s", Duration::from_secs(5_415)),
            ("2m500ms", Duration::from_millis(120_500)),
            ("0s", Duration::ZERO),
            ("45", Duration::from_secs(45)),
            ("0", Duration::ZERO),
            ("007s", Duration::from_secs(7)),
            ("8760h", Duration::from_secs(365 * 86_400)),
            ("31536000", Duration::from_secs(365 * 86_400)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn rejected_forms() {
        let cases = [
            ("", "empty"),
            ("s", "needs a number"),
            ("ms", "needs a number"),
            ("1.5s", "unexpected `.`"),
            ("-5s", "unexpected `-`"),
            ("5 s", "unexpected ` `"),
            (" 5s", "unexpected ` `"),
            ("1h 30m", "unexpected ` `"),
            ("10x", "unknown unit `x`"),
            ("10sec", "unknown unit `sec`"),
            ("1h30", "without a unit"),
            ("30s10m", "largest first"),
            ("1m1m", "largest first"),
            ("99999999999999999999", "longer than a year"),
            ("9999999999999999h", "longer than a year"),
            ("8760h1ms", "longer than a year"),
            ("31536001", "longer than a year"),
            ("10000000000000000000", "longer than a year"),
        ];
        for (text, why) in cases {
            match parse_duration(text) {
                Ok(d) => panic!("{text:?} parsed as {d:?}"),
                Err(message) => {
                    assert!(message.contains(why), "{text:?}: {message}");
                    assert!(
                        message.contains("expected a whole number of seconds"),
                        "{message}"
                    );
                }
            }
        }
    }
}
