//! `Switchboard-Version`: the REST API's version pin.
//!
//! A REST client may pin the dated version it was written against (`Switchboard-Version:
//! 2026-12-01`); the answer says which version served it in the same header. No pin is the
//! newest version. A pin that is not a `YYYY-MM-DD` date, or a date that names no version, is
//! refused with 400 and the list of supported versions, so a client finds out at once rather
//! than being served something it did not ask for. (MCP's own version travels in
//! `MCP-Protocol-Version`; this header is only for the REST surface.)

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use switchboard_config::Date;
use switchboard_protocol::ErrorCode;

use super::rejection::Rejection;

/// The header, in both directions.
pub(super) const HEADER: HeaderName = HeaderName::from_static("switchboard-version");

/// Every version of the REST API, oldest first; the last is served when none is pinned.
pub(super) const SUPPORTED: [&str; 1] = ["2026-12-01"];

/// The version to serve a request with, or the 400 that refuses its pin.
pub(super) fn negotiate(headers: &HeaderMap) -> Result<HeaderValue, Rejection> {
    let newest = SUPPORTED[SUPPORTED.len() - 1];
    let Some(pin) = headers.get(&HEADER) else {
        return Ok(HeaderValue::from_static(newest));
    };
    let text = pin.to_str().unwrap_or_default().trim();
    let refuse = |why: String| {
        Err(
            Rejection::new(StatusCode::BAD_REQUEST, ErrorCode::INVALID_REQUEST, why)
                .with_data("category", "\"invalid_request\"".to_owned())
                .with_data("supported", supported_json())
                .with_data(
                    "requested",
                    switchboard_protocol::object::json_string(&String::from_utf8_lossy(
                        pin.as_bytes(),
                    )),
                ),
        )
    };
    if Date::parse(text).is_none() {
        return refuse(format!(
            "Switchboard-Version must be a date written YYYY-MM-DD; supported: {}",
            SUPPORTED.join(", ")
        ));
    }
    match SUPPORTED.iter().find(|v| **v == text) {
        Some(v) => Ok(HeaderValue::from_static(v)),
        None => refuse(format!(
            "Switchboard-Version {text} is not a version of this API; supported: {}",
            SUPPORTED.join(", ")
        )),
    }
}

fn supported_json() -> String {
    let items: Vec<String> = SUPPORTED
        .iter()
        .map(|v| switchboard_protocol::object::json_string(v))
        .collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn no_pin_is_the_newest_and_a_known_pin_is_itself() {
        let newest = SUPPORTED[SUPPORTED.len() - 1];
        assert_eq!(negotiate(&HeaderMap::new()).unwrap(), newest);
        assert_eq!(negotiate(&with(SUPPORTED[0])).unwrap(), SUPPORTED[0]);
    }

    #[test]
    fn malformed_and_unknown_pins_are_400() {
        for bad in ["2026-1-01", "yesterday", "2026-02-30", "", "1999-01-01"] {
            let r = negotiate(&with(bad)).unwrap_err();
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
