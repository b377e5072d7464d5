//! Times in tool arguments and results: Unix seconds, RFC 3339, `now`, and relative forms
//! (`1h` or `now-1h`: that long ago). No time zone database: results are written in UTC.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::settings::parse_duration;

/// Now, in Unix seconds.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Reads a time argument: Unix seconds (`1733400000`, `1733400000.5`), RFC 3339
/// (`2026-12-05T17:00:00Z`), `now`, or a time that long ago (`1h`, `now-30m`, `-15m`).
pub fn parse_time(text: &str, now: f64) -> Option<f64> {
    let t = text.trim();
    if t == "now" {
        return Some(now);
    }
    if let Ok(n) = t.parse::<f64>() {
        return n.is_finite().then_some(n);
    }
    if let Some(ago) = t.strip_prefix("now-").or_else(|| t.strip_prefix('-')) {
        return parse_duration(ago).map(|d| now - d.as_secs_f64());
    }
    if let Some(d) = parse_duration(t) {
        return Some(now - d.as_secs_f64());
    }
    parse_rfc3339(t)
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn parse_rfc3339(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &t[19..];
    let mut frac = 0.0;
    if let Some(r) = rest.strip_prefix('.') {
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        if end == 0 {
            return None;
        }
        frac = format!("0.{}", &r[..end]).parse().ok()?;
        rest = &r[end..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(y, mo, d);
    Some((days * 86400 + h * 3600 + mi * 60 + s - offset) as f64 + frac)
}

/// Unix seconds as RFC 3339 in UTC, to the millisecond when not whole.
pub fn format(ts: f64) -> String {
    if !ts.is_finite() {
        return ts.to_string();
    }
    let ms = (ts * 1000.0).round() as i64;
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if millis == 0 {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{millis:03}Z")
    }
}

// Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = parse_rfc3339("2026-12-05T17:00:00Z").unwrap();
        assert_eq!(t, 1_796_490_000.0);
        assert_eq!(format(t), "2026-12-05T17:00:00Z");
        assert_eq!(format(t + 0.25), "2026-12-05T17:00:00.250Z");
        assert_eq!(parse_rfc3339("2026-12-05T18:00:00+01:00"), Some(t));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800.0));
        assert_eq!(format(1_709_164_800.0), "2024-02-29T00:00:00Z");
        assert_eq!(parse_rfc3339("2026-13-05T17:00:00Z"), None);
    }

    #[test]
    fn relative_times() {
        assert_eq!(parse_time("now", 1000.0), Some(1000.0));
        assert_eq!(parse_time("1h", 10_000.0), Some(6400.0));
        assert_eq!(parse_time("now-30m", 10_000.0), Some(8200.0));
        assert_eq!(parse_time("-15m", 10_000.0), Some(9100.0));
        assert_eq!(parse_time("1500.5", 0.0), Some(1500.5));
        assert_eq!(parse_time("yesterday", 0.0), None);
    }
}
