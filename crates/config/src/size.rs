//! Sizes as people write them in config files: `104857600`, `100MiB`, `512KiB`, `1GB`.
//!
//! A bare integer (digits may be grouped with `_`) is bytes. A suffix multiplies it: `KiB`,
//! `MiB`, `GiB` by powers of 1024, `KB`, `MB`, `GB` by powers of 1000. No fractions or spaces.

const FORMS: &str =
    "a whole number of bytes, or one with a unit: `512KiB`, `100MiB`, `1GiB` (or `KB`, `MB`, `GB`)";

const UNITS: [(&str, u64); 7] = [
    ("", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("KB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
];

/// Parses one size in bytes; the error says what was wrong, without the value's location.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let invalid = |why: &str| {
        format!(
            "invalid size `{}`: {why}; expected {FORMS}",
            text.escape_debug()
        )
    };
    let digits = text
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'_')
        .count();
    let (number, unit) = text.split_at(digits);
    if number.is_empty() || number.starts_with('_') || number.ends_with('_') {
        return Err(invalid("it needs a number first"));
    }
    let Some((_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(invalid(&format!("unknown unit `{}`", unit.escape_debug())));
    };
    number
        .replace('_', "")
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(*scale))
        .ok_or_else(|| invalid("it is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_and_rejected_forms() {
        for (text, want) in [
            ("104857600", 104_857_600),
            ("104_857_600", 104_857_600),
            ("100MiB", 100 << 20),
            ("512KiB", 512 << 10),
            ("1GiB", 1 << 30),
            ("2MB", 2_000_000),
            ("0", 0),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for (text, why) in [
            ("", "needs a number"),
            ("MiB", "needs a number"),
            ("1.5MiB", "unknown unit `.5MiB`"),
            ("10 MiB", "unknown unit ` MiB`"),
            ("10mb", "unknown unit `mb`"),
            ("99999999999GiB", "too large"),
            ("_1", "needs a number"),
        ] {
            let e = parse_size(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
