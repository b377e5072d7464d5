//! `max_result_bytes`: a `tools/call` result larger than its upstream's limit is cut so that it
//! stays a valid result and says so. Content items are kept whole, in order, while they fit;
//! a text item that does not fit is cut at a character boundary (never inside a UTF-8
//! sequence); everything after is dropped. A text item at the end tells the model what
//! happened, and `_meta` carries the sizes for programs. A result with `structuredContent`
//! cannot be cut without breaking the tool's output schema, so it becomes an `isError` result
//! that says how large it was.
//!
//! Only results over the limit are parsed: the check is one length comparison.

use serde_json::{Map, Value, json};

/// The `_meta` key of a cut result: `{"originalBytes": N, "limitBytes": M}`.
pub const TRUNCATED_META_KEY: &str = "io.github.switchboard-mcp/truncated";

/// Room kept for the marker item and `_meta` added to a cut result.
const MARKER_ROOM: usize = 256;

/// The result to send instead of `raw` when it is larger than `max` bytes; `None` when it fits
/// (or is not an object: nothing to cut safely, and the upstream answered with it).
pub fn limit_result(raw: &str, max: usize, tool: &str) -> Option<String> {
    if raw.len() <= max {
        return None;
    }
    let Ok(Value::Object(mut result)) = serde_json::from_str::<Value>(raw) else {
        return None;
    };
    let original = raw.len();
    let meta = json!({ "originalBytes": original, "limitBytes": max });
    if result.contains_key("structuredContent") {
        let text = format!(
            "The result of {tool} was {original} bytes, over this gateway's limit of {max} bytes; it has structured content, which cannot be shortened safely, so it was withheld."
        );
        let mut out = Map::new();
        out.insert("content".into(), json!([{ "type": "text", "text": text }]));
        out.insert("isError".into(), Value::Bool(true));
        out.insert("_meta".into(), json!({ TRUNCATED_META_KEY: meta }));
        return Some(Value::Object(out).to_string());
    }
    let content = match result.remove("content") {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let budget = max.saturating_sub(MARKER_ROOM);
    // What the result costs without its content.
    let mut used = Value::Object(result.clone()).to_string().len();
    let mut kept = Vec::new();
    for item in content {
        let size = item.to_string().len() + 1;
        if used + size <= budget {
            used += size;
            kept.push(item);
            continue;
        }
        // A text item is cut to what is left; any other kind is dropped whole.
        if item.get("type").and_then(Value::as_str) == Some("text")
            && let Some(text) = item.get("text").and_then(Value::as_str)
        {
            let overhead = size - json_len(text);
            let room = budget.saturating_sub(used + overhead);
            let cut = cut_text(text, room);
            if !cut.is_empty() {
                let mut item = item.clone();
                item["text"] = Value::String(cut.to_owned());
                kept.push(item);
            }
        }
        break;
    }
    kept.push(json!({
        "type": "text",
        "text": format!("[switchboard: this result was cut from {original} to under {max} bytes, this gateway's limit for {tool}]"),
    }));
    result.insert("content".into(), Value::Array(kept));
    let mut meta_obj = match result.remove("_meta") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    meta_obj.insert(TRUNCATED_META_KEY.into(), meta);
    result.insert("_meta".into(), Value::Object(meta_obj));
    Some(Value::Object(result).to_string())
}

/// The length of `text` as a JSON string.
fn json_len(text: &str) -> usize {
    serde_json::to_string(text).map_or(text.len(), |s| s.len())
}

/// The longest prefix of `text` whose JSON encoding fits in `room` bytes, ending on a
/// character boundary (bisection: a prefix's JSON form grows with it).
fn cut_text(text: &str, room: usize) -> &str {
    if json_len(text) <= room {
        return text;
    }
    // `lo` always fits, `hi` never does.
    let (mut lo, mut hi) = (0, text.len());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let mut m = mid;
        while !text.is_char_boundary(m) {
            m -= 1;
        }
        if m == lo {
            m = mid;
            while !text.is_char_boundary(m) {
                m += 1;
            }
        }
        if m >= hi {
            break;
        }
        if json_len(&text[..m]) <= room {
            lo = m;
        } else {
            hi = m;
        }
    }
    &text[..lo]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn a_result_that_fits_is_untouched() {
        let raw = r#"{"content":[{"type":"text","text":"hi"}]}"#;
        assert_eq!(limit_result(raw, raw.len(), "t"), None);
    }

    #[test]
    fn whole_items_are_kept_and_the_cut_says_so() {
        let items: Vec<Value> = (0..20)
            .map(|i| json!({"type":"text","text": format!("item {i} {}", "x".repeat(100))}))
            .collect();
        let raw = json!({"content": items}).to_string();
        let out = limit_result(&raw, 1200, "fx__big").unwrap();
        assert!(out.len() <= 1200, "{} bytes", out.len());
        let v = parse(&out);
        let content = v["content"].as_array().unwrap();
        let last = content.last().unwrap()["text"].as_str().unwrap();
        assert!(
            last.contains(&raw.len().to_string()) && last.contains("fx__big"),
            "{last}"
        );
        // Every kept item but the marker (and a possibly cut last one) is whole.
        assert!(content[0]["text"].as_str().unwrap().starts_with("item 0 "));
        assert_eq!(content[1]["text"], items[1]["text"]);
        assert_eq!(v["_meta"][TRUNCATED_META_KEY]["originalBytes"], raw.len());
        assert_eq!(v["_meta"][TRUNCATED_META_KEY]["limitBytes"], 1200);
    }

    #[test]
    fn a_long_text_is_cut_on_a_character_boundary() {
        let text = "é€😀".repeat(2000);
        let raw =
            json!({"content":[{"type":"text","text": text}], "_meta": {"keep": 1}}).to_string();
        for max in [300, 301, 302, 303, 1000, 4097] {
            let out = limit_result(&raw, max, "t").unwrap();
            assert!(out.len() <= max, "{max}: {} bytes", out.len());
            let v = parse(&out);
            let content = v["content"].as_array().unwrap();
            // The cut text, when any fitted, comes before the marker.
            if content.len() == 2 {
                let kept = content[0]["text"].as_str().unwrap();
                assert!(!kept.is_empty() && text.starts_with(kept), "{max}");
            }
            assert!(
                content.last().unwrap()["text"]
                    .as_str()
                    .unwrap()
                    .starts_with("[switchboard:")
            );
            assert_eq!(v["_meta"]["keep"], 1, "the upstream's own _meta stays");
        }
    }

    #[test]
    fn structured_content_becomes_an_error_result() {
        let raw = json!({"content":[{"type":"text","text":"x".repeat(5000)}],"structuredContent":{"rows":[1,2,3]}}).to_string();
        let v = parse(&limit_result(&raw, 1000, "db__query").unwrap());
        assert_eq!(v["isError"], true);
        assert!(v.get("structuredContent").is_none());
        let text = v["content"][0]["text"].as_str().unwrap();
        assert!(
            text.contains("db__query") && text.contains(&raw.len().to_string()),
            "{text}"
        );
    }
}
