//! The config of the client-facing transports beside Streamable HTTP: `http.websocket` (MCP
//! over WebSocket at `/mcp/ws`) and `http.legacy_rest` (the deprecated `/v1/mcp` routes and the
//! date they go away). Shapes as written, how they resolve, and the calendar date both the
//! `Sunset` header and the `Switchboard-Version` pin are written in.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::document::Scalar;
use crate::error::ConfigError;
use crate::resolve::Resolver;

/// How often the gateway pings a WebSocket peer.
pub const DEFAULT_WS_PING_INTERVAL: Duration = Duration::from_secs(30);
/// How long a pinged WebSocket peer has to answer (a pong, or any frame) before it is closed.
pub const DEFAULT_WS_PONG_TIMEOUT: Duration = Duration::from_secs(10);
/// When the legacy REST routes go away unless the config says otherwise.
pub const DEFAULT_LEGACY_SUNSET: Date = Date {
    year: 2027,
    month: 6,
    day: 30,
};

/// `http.websocket`: the WebSocket transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketConfig {
    /// Off: `/mcp/ws` is 404 like any unknown path.
    pub enabled: bool,
    pub ping_interval: Duration,
    pub pong_timeout: Duration,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            enabled: true,
            ping_interval: DEFAULT_WS_PING_INTERVAL,
            pong_timeout: DEFAULT_WS_PONG_TIMEOUT,
        }
    }
}

/// `http.legacy_rest`: `GET /v1/mcp/tools` and `POST /v1/mcp/invoke`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyRestConfig {
    /// Off: the routes are 404 like any unknown path.
    pub enabled: bool,
    /// The day the routes go away, announced in every answer's `Sunset` header.
    pub sunset: Date,
}

impl Default for LegacyRestConfig {
    fn default() -> Self {
        LegacyRestConfig {
            enabled: true,
            sunset: DEFAULT_LEGACY_SUNSET,
        }
    }
}

/// A calendar date (proleptic Gregorian, UTC), written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// Parses exactly `YYYY-MM-DD` naming a day that exists (no `2027-02-30`), year 1970 on.
    pub fn parse(text: &str) -> Option<Date> {
        let b = text.as_bytes();
        if b.len() != 10
            || b[4] != b'-'
            || b[7] != b'-'
            || !b
                .iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        {
            return None;
        }
        let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<u16>().ok();
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if year < 1970 || !(1..=12).contains(&month) {
            return None;
        }
        let month = u8::try_from(month).ok()?;
        let day = u8::try_from(day).ok()?;
        if day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    pub fn days_since_epoch(self) -> i64 {
        let (y, m, d) = (
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The day's midnight as an HTTP-date (RFC 9110 IMF-fixdate): `Wed, 30 Jun 2027 00:00:00 GMT`.
    pub fn http_date(self) -> String {
        const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        // 1970-01-01 was a Thursday.
        let weekday = DAYS[self.days_since_epoch().rem_euclid(7) as usize];
        let month = MONTHS[usize::from(self.month - 1) % 12];
        format!(
            "{weekday}, {:02} {month} {:04} 00:00:00 GMT",
            self.day, self.year
        )
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebSocketDoc {
    pub enabled: Option<Scalar>,
    pub ping_interval: Option<Scalar>,
    pub pong_timeout: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LegacyRestDoc {
    pub enabled: Option<Scalar>,
    pub sunset: Option<Scalar>,
}

impl Resolver<'_> {
    pub(crate) fn websocket(
        &self,
        doc: Option<WebSocketDoc>,
    ) -> Result<WebSocketConfig, ConfigError> {
        let Some(doc) = doc else {
            return Ok(WebSocketConfig::default());
        };
        Ok(WebSocketConfig {
            enabled: match &doc.enabled {
                Some(s) => self.boolean("enabled", s)?,
                None => true,
            },
            ping_interval: self.duration_or(
                "ping_interval",
                &doc.ping_interval,
                DEFAULT_WS_PING_INTERVAL,
            )?,
            pong_timeout: self.duration_or(
                "pong_timeout",
                &doc.pong_timeout,
                DEFAULT_WS_PONG_TIMEOUT,
            )?,
        })
    }

    pub(crate) fn legacy_rest(
        &self,
        doc: Option<LegacyRestDoc>,
    ) -> Result<LegacyRestConfig, ConfigError> {
        let Some(doc) = doc else {
            return Ok(LegacyRestConfig::default());
        };
        Ok(LegacyRestConfig {
            enabled: match &doc.enabled {
                Some(s) => self.boolean("enabled", s)?,
                None => true,
            },
            sunset: match &doc.sunset {
                Some(s) => {
                    let text = self.text(s)?;
                    Date::parse(text.trim()).ok_or_else(|| {
                        self.error(
                            s,
                            format!(
                                "`sunset` must be a date written YYYY-MM-DD (e.g. 2027-06-30), got `{}`",
                                text.escape_debug()
                            ),
                        )
                    })?
                }
                None => DEFAULT_LEGACY_SUNSET,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<crate::Config, ConfigError> {
        crate::parse(text, "sb.yaml", &|_| None)
    }

    #[test]
    fn dates_are_exact_and_exist() {
        assert_eq!(
            Date::parse("2027-06-30"),
            Some(Date {
                year: 2027,
                month: 6,
                day: 30
            })
        );
        assert!(Date::parse("2028-02-29").is_some());
        for bad in [
            "2027-02-29",
            "2027-13-01",
            "2027-00-10",
            "2027-04-31",
            "2027-6-30",
            "27-06-30",
            "2027/06/30",
            "2027-06-30T00:00:00Z",
            "+027-06-30",
            "",
            "1969-12-31",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates_name_the_right_weekday() {
        let d = |s| Date::parse(s).unwrap().http_date();
        assert_eq!(d("1970-01-01"), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(d("2027-06-30"), "Wed, 30 Jun 2027 00:00:00 GMT");
        assert_eq!(d("2000-02-29"), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(d("2026-12-05"), "Sat, 05 Dec 2026 00:00:00 GMT");
    }

    #[test]
    fn defaults_and_overrides() {
        let c = parse("upstreams: {}\n").unwrap();
        assert_eq!(c.http.websocket, WebSocketConfig::default());
        assert_eq!(c.http.legacy_rest, LegacyRestConfig::default());
        let c = parse(
            "http:\n  websocket: { enabled: false, ping_interval: 5s, pong_timeout: 2s }\n  legacy_rest: { enabled: false, sunset: 2026-12-31 }\nupstreams: {}\n",
        )
        .unwrap();
        assert!(!c.http.websocket.enabled);
        assert_eq!(c.http.websocket.ping_interval, Duration::from_secs(5));
        assert_eq!(c.http.websocket.pong_timeout, Duration::from_secs(2));
        assert!(!c.http.legacy_rest.enabled);
        assert_eq!(c.http.legacy_rest.sunset.to_string(), "2026-12-31");
    }

    #[test]
    fn bad_values_point_at_the_field() {
        let e = parse("http:\n  legacy_rest: { sunset: 2027-02-30 }\nupstreams: {}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sunset") && e.contains("YYYY-MM-DD") && e.contains(":2:"),
            "{e}"
        );
        let e = parse("http:\n  websocket: { ping_interval: 0s }\nupstreams: {}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ping_interval"), "{e}");
        let e = parse("http:\n  websocket: { ping: 1s }\nupstreams: {}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ping"), "{e}");
    }
}
