//! The 2026-07-28 request headers that mirror the body: `Mcp-Method`, `Mcp-Name` and
//! `Mcp-Param-*`.
//!
//! A header value must be visible ASCII, so a body value that is not (non-ASCII text, control
//! characters, leading or trailing whitespace) travels as `=?base64?<RFC 4648 base64 of UTF-8>?=`.
//! A value is that encoding only when it has both the exact prefix and suffix; anything else is
//! literal. Decoding is strict about the alphabet and the padding: a server that accepted sloppy
//! encodings would let a header and a body disagree while looking equal.

use crate::base64;

const PREFIX: &str = "=?base64?";
const SUFFIX: &str = "?=";

/// Optional whitespace around a field value (RFC 9110 OWS) is not part of it.
pub fn trim_ows(v: &str) -> &str {
    v.trim_matches(|c| c == ' ' || c == '\t')
}

/// Why a header value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("invalid base64 in header value")]
    Base64,
    #[error("header value is not UTF-8 once decoded")]
    Utf8,
}

/// The body value a header value stands for.
pub fn decode(value: &str) -> Result<String, HeaderError> {
    let v = trim_ows(value);
    match v.strip_prefix(PREFIX).and_then(|r| r.strip_suffix(SUFFIX)) {
        // An empty payload is never produced by `encode` (the empty value is literal).
        Some("") => Err(HeaderError::Base64),
        Some(b64) => String::from_utf8(base64::decode(b64).ok_or(HeaderError::Base64)?)
            .map_err(|_| HeaderError::Utf8),
        None => Ok(v.to_owned()),
    }
}

/// The header value for a body value: literal when it can be, base64 when it must be.
pub fn encode(value: &str) -> String {
    let needs = value.bytes().any(|b| !(0x20..0x7f).contains(&b))
        || value.starts_with([' ', '\t'])
        || value.ends_with([' ', '\t'])
        || (value.starts_with(PREFIX) && value.ends_with(SUFFIX));
    if needs {
        format!("{PREFIX}{}{SUFFIX}", base64::encode(value.as_bytes()))
    } else {
        value.to_owned()
    }
}

/// The params member `Mcp-Name` mirrors for `method` (`name` of a tool or prompt, `uri` of a
/// resource read), if the method has one. These are also the methods that may answer
/// `input_required`.
pub fn name_param(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// Whether a header value stands for exactly `body` (values are case-sensitive).
pub fn matches(header: &str, body: &str) -> bool {
    decode(header).is_ok_and(|h| h == body)
}

/// The JSON type of a parameter mirrored into an `Mcp-Param-*` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Integer,
    Boolean,
}

/// One `x-mcp-header` annotation of a tool's input schema: the header suffix and where the value
/// sits in `arguments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    /// The suffix after `Mcp-Param-`, as the schema spells it.
    pub name: String,
    /// Property names from the root of `arguments` down to the value.
    pub path: Vec<String>,
    pub ty: ParamType,
    /// The header's name as it goes on the wire: `mcp-param-` and the name, lowercase (built
    /// once here, not per call).
    pub header: String,
}

impl ParamHeader {
    /// This argument's raw JSON value in `arguments`, when it is there and not `null`.
    pub fn value_in<'a>(&self, arguments: &'a str) -> Option<&'a str> {
        self.path
            .iter()
            .try_fold(arguments, |v, key| crate::object::get(v, key))
            .map(str::trim)
            .filter(|v| *v != "null")
    }
}

const ANNOTATION: &str = "x-mcp-header";

/// The `x-mcp-header` annotations of an input schema (SEP-2243), or why they are invalid: a name
/// must be a non-empty RFC 9110 token, unique ignoring case, on a property of type string,
/// integer or boolean that is reachable from the root through `properties` only.
pub fn param_headers(schema: &str) -> Result<Vec<ParamHeader>, String> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    walk_properties(schema, &mut path, &mut out, 0)?;
    let total = count_annotations(schema, 0);
    if total != out.len() {
        return Err(format!(
            "{} x-mcp-header annotation(s) sit where they cannot be reached through properties alone",
            total - out.len()
        ));
    }
    for (i, h) in out.iter().enumerate() {
        if out[..i]
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(&h.name))
        {
            return Err(format!(
                "x-mcp-header {:?} is used twice (names ignore case)",
                h.name
            ));
        }
    }
    Ok(out)
}

/// Nesting deeper than this is not followed (and counts as unreachable).
const MAX_DEPTH: usize = 32;

fn walk_properties(
    schema: &str,
    path: &mut Vec<String>,
    out: &mut Vec<ParamHeader>,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let Some(props) = crate::object::get(schema, "properties").filter(|p| p.starts_with('{'))
    else {
        return Ok(());
    };
    for f in crate::object::fields(props).unwrap_or_default() {
        let key = f.key().into_owned();
        let prop = f.value;
        if !prop.starts_with('{') {
            continue;
        }
        path.push(key);
        if let Some(raw) = crate::object::get(prop, ANNOTATION) {
            let name = crate::object::string_value(raw)
                .ok_or_else(|| format!("x-mcp-header on {} is not a string", path.join(".")))?;
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(format!(
                    "x-mcp-header {name:?} on {} is not an HTTP token",
                    path.join(".")
                ));
            }
            let ty = match crate::object::get_str(prop, "type").as_deref() {
                Some("string") => ParamType::String,
                Some("integer") => ParamType::Integer,
                Some("boolean") => ParamType::Boolean,
                other => {
                    return Err(format!(
                        "x-mcp-header {name:?} on {} annotates a property of type {}; only string, integer and boolean may be mirrored",
                        path.join("."),
                        other.unwrap_or("(none)")
                    ));
                }
            };
            out.push(ParamHeader {
                header: format!("mcp-param-{}", name.to_ascii_lowercase()),
                name: name.into_owned(),
                path: path.clone(),
                ty,
            });
        }
        walk_properties(prop, path, out, depth + 1)?;
        path.pop();
    }
    Ok(())
}

/// Every `x-mcp-header` member anywhere in `value`.
fn count_annotations(value: &str, depth: usize) -> usize {
    if depth > MAX_DEPTH + 2 {
        return 0;
    }
    let v = value.trim_start();
    if v.starts_with('{') {
        crate::object::fields(v)
            .unwrap_or_default()
            .iter()
            .map(|f| usize::from(f.key() == ANNOTATION) + count_annotations(f.value, depth + 1))
            .sum()
    } else if v.starts_with('[') {
        crate::object::array_items(v)
            .unwrap_or_default()
            .iter()
            .map(|i| count_annotations(i, depth + 1))
            .sum()
    } else {
        0
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether a header value stands for the body value `raw` (JSON) of a parameter of type `ty`.
/// Strings compare exactly after decoding; integers numerically (`42` and `42.0` are equal);
/// booleans as `true`/`false`.
pub fn param_matches(header: &str, raw: &str, ty: ParamType) -> bool {
    let Ok(h) = decode(header) else { return false };
    match ty {
        ParamType::String => crate::object::string_value(raw).is_some_and(|b| b == h),
        ParamType::Integer => match (h.parse::<f64>(), raw.trim().parse::<f64>()) {
            (Ok(a), Ok(b)) => {
                a == b
                    && h.bytes()
                        .all(|c| c.is_ascii_digit() || b"-+.eE".contains(&c))
            }
            _ => false,
        },
        ParamType::Boolean => matches!(
            (h.as_str(), raw.trim()),
            ("true", "true") | ("false", "false")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_sentinel_strictly() {
        assert_eq!(decode("=?base64?SGVsbG8=?=").unwrap(), "Hello");
        assert_eq!(decode("  tools/call\t").unwrap(), "tools/call");
        assert_eq!(
            decode("=?base64?SGVsbG8?="),
            Err(HeaderError::Base64),
            "missing padding"
        );
        assert_eq!(
            decode("=?base64?SGVs!!!bG8=?="),
            Err(HeaderError::Base64),
            "bad alphabet"
        );
        assert_eq!(
            decode("=?base64?SGVsbG9=?="),
            Err(HeaderError::Base64),
            "stray bits"
        );
        assert_eq!(
            decode("=?base64??="),
            Err(HeaderError::Base64),
            "empty payload"
        );
        assert_eq!(
            decode("=?base64?SGVsbG8=").unwrap(),
            "=?base64?SGVsbG8=",
            "no suffix: literal"
        );
        assert_eq!(
            decode("base64?SGVsbG8=?=").unwrap(),
            "base64?SGVsbG8=?=",
            "no prefix: literal"
        );
    }

    #[test]
    fn reads_param_annotations() {
        let schema = r#"{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"},"opts":{"type":"object","properties":{"n":{"type":"integer","x-mcp-header":"Count"}}},"plain":{"type":"string"}}}"#;
        let h = param_headers(schema).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].name, "Region");
        assert_eq!(h[0].path, vec!["region"]);
        assert_eq!(h[1].path, vec!["opts", "n"]);
        assert_eq!(h[1].ty, ParamType::Integer);
        assert_eq!(param_headers(r#"{"type":"object"}"#).unwrap(), vec![]);
        // Each rule breaks it.
        for bad in [
            r#"{"properties":{"a":{"type":"number","x-mcp-header":"A"}}}"#,
            r#"{"properties":{"a":{"x-mcp-header":"A"}}}"#,
            r#"{"properties":{"a":{"type":"string","x-mcp-header":""}}}"#,
            r#"{"properties":{"a":{"type":"string","x-mcp-header":"Bad Name"}}}"#,
            r#"{"properties":{"a":{"type":"string","x-mcp-header":7}}}"#,
            r#"{"properties":{"a":{"type":"string","x-mcp-header":"A"},"b":{"type":"string","x-mcp-header":"a"}}}"#,
            r#"{"properties":{"a":{"type":"array","items":{"type":"string","x-mcp-header":"A"}}}}"#,
            r#"{"properties":{},"oneOf":[{"properties":{"a":{"type":"string","x-mcp-header":"A"}}}]}"#,
        ] {
            assert!(param_headers(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn compares_params_by_type() {
        assert!(param_matches("Hello", r#""Hello""#, ParamType::String));
        assert!(param_matches(
            "=?base64?SGVsbG8=?=",
            r#""Hello""#,
            ParamType::String
        ));
        assert!(!param_matches(
            "=?base64?SGVsbG8?=",
            r#""Hello""#,
            ParamType::String
        ));
        assert!(!param_matches(
            "=?base64?SGVs!!!bG8=?=",
            r#""Hello""#,
            ParamType::String
        ));
        assert!(!param_matches("hello", r#""Hello""#, ParamType::String));
        assert!(param_matches("42", "42.0", ParamType::Integer));
        assert!(!param_matches("43", "42", ParamType::Integer));
        assert!(!param_matches("0x2a", "42", ParamType::Integer));
        assert!(param_matches("true", "true", ParamType::Boolean));
        assert!(!param_matches("True", "true", ParamType::Boolean));
    }

    #[test]
    fn encodes_only_what_must_be() {
        assert_eq!(encode("get_weather"), "get_weather");
        assert_eq!(encode("café"), "=?base64?Y2Fmw6k=?=");
        assert!(encode(" padded").starts_with(PREFIX));
        assert!(
            encode("=?base64?x?=").starts_with(PREFIX),
            "a literal that looks encoded is encoded"
        );
        for v in [
            "",
            "a",
            "ab",
            "abc",
            "naïve ✓",
            "\t",
            "line\nbreak",
            "=?base64?SGVsbG8=?=",
        ] {
            assert!(matches(&encode(v), v), "{v:?}");
        }
        assert!(!matches("TOOLS/LIST", "tools/list"));
    }

    proptest::proptest! {
        #[test]
        fn header_values_round_trip(s in "\\PC{0,40}") {
            proptest::prop_assert!(matches(&encode(&s), &s));
        }
    }
}
