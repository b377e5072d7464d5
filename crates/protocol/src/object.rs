//! Field-level access to raw JSON objects without building a tree.
//!
//! The gateway rewrites a handful of fields (a tool's `name`, a `progressToken`, a request id) inside
//! objects whose every other byte must reach the peer unchanged: vendor keys, big integers, string
//! escapes, key order and whitespace. Parsing into `serde_json::Value` would normalise all of that,
//! so instead this module scans the object's text once, yields `(key, raw value)` spans, and
//! rebuilds the object by copying spans, replacing only the values being edited.
//!
//! The scanner accepts only well-formed JSON; callers hand it text that `serde_json` already
//! validated (a `RawValue`), and on anything else it reports `None` rather than guessing.

use std::borrow::Cow;

/// One member of a raw JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The key as written, with its quotes and escapes.
    pub key_raw: &'a str,
    /// The value as written.
    pub value: &'a str,
}

impl<'a> Field<'a> {
    /// The key with escapes decoded; borrowed when it has none (the common case).
    pub fn key(&self) -> Cow<'a, str> {
        let inner = &self.key_raw[1..self.key_raw.len() - 1];
        if !inner.contains('\\') {
            return Cow::Borrowed(inner);
        }
        match serde_json::from_str::<String>(self.key_raw) {
            Ok(s) => Cow::Owned(s),
            Err(_) => Cow::Borrowed(inner),
        }
    }

    fn key_is(&self, name: &str) -> bool {
        let inner = &self.key_raw[1..self.key_raw.len() - 1];
        if inner.contains('\\') {
            self.key() == name
        } else {
            inner == name
        }
    }
}

/// The members of the object `text`, in order, or `None` when `text` is not a JSON object.
pub fn fields(text: &str) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::with_capacity(8);
    for_each_field(text, |f| {
        out.push(f);
        true
    })?;
    Some(out)
}

/// The raw value of member `key` of the object `text` (the first one, if a key repeats).
pub fn get<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut found = None;
    for_each_field(text, |f| {
        if f.key_is(key) {
            found = Some(f.value);
            false
        } else {
            true
        }
    })?;
    found
}

/// Whether member `key` of the object `text` is `true`. A result without the quoted key
/// anywhere in its bytes is rejected by one SIMD search instead of a walk over every member: a
/// large tool result (megabytes of content) costs microseconds, not a full parse. (A key
/// spelled with `\u` escapes is not recognised; nothing writes one.)
pub fn is_true(text: &str, key: &str) -> bool {
    // The quoted key, on the stack (keys this is asked about are short).
    let mut buf = [0u8; 64];
    let n = key.len() + 2;
    if n <= buf.len() {
        buf[0] = b'"';
        buf[1..n - 1].copy_from_slice(key.as_bytes());
        buf[n - 1] = b'"';
        if memchr::memmem::find(text.as_bytes(), &buf[..n]).is_none() {
            return false;
        }
    }
    get(text, key) == Some("true")
}

/// The raw values of several members of the object `text`, in one pass over it (the first of
/// each, if a key repeats); all `None` when `text` is not an object.
pub fn get_all<'a, const N: usize>(text: &'a str, keys: [&str; N]) -> [Option<&'a str>; N] {
    let mut found = [None; N];
    let mut left = N;
    let _ = for_each_field(text, |f| {
        for (i, k) in keys.iter().enumerate() {
            if found[i].is_none() && f.key_is(k) {
                found[i] = Some(f.value);
                left -= 1;
                break;
            }
        }
        left > 0
    });
    found
}

/// The string member `key` of `text`, decoded; `None` when absent or not a string.
pub fn get_str<'a>(text: &'a str, key: &str) -> Option<Cow<'a, str>> {
    let raw = get(text, key)?;
    string_value(raw)
}

/// The elements of the raw JSON array `text`, verbatim, or `None` when it is not an array.
pub fn array_items(text: &str) -> Option<Vec<&str>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let mut out = Vec::new();
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b']') {
        return Some(out);
    }
    loop {
        let start = i;
        i = skip_value(b, i)?;
        out.push(&text[start..i]);
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b']') => return Some(out),
            _ => return None,
        }
    }
}

/// Decodes a raw JSON string literal; `None` if `raw` is not a string.
pub fn string_value(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
}

/// What to do with one member when rebuilding an object.
#[derive(Debug, Clone, Copy)]
pub enum Edit<'e> {
    /// Replace the value (or append the member when absent) with this raw JSON.
    Set(&'e str),
    /// Drop the member.
    Remove,
}

/// Rebuilds the object `text` with `edits` applied, copying every other byte as it was.
/// Members set but absent are appended in the order given. `None` if `text` is not an object
/// or more than 64 edits are asked for.
pub fn edit(text: &str, edits: &[(&str, Edit<'_>)]) -> Option<String> {
    if edits.len() > 64 {
        return None;
    }
    let open = text.find('{')?;
    let base = text.as_ptr() as usize;
    let mut out = String::with_capacity(text.len() + 32);
    let mut applied = 0u64;
    let mut prev_end = 0usize;
    let mut wrote = false;
    for_each_field(text, |f| {
        let key_start = f.key_raw.as_ptr() as usize - base;
        let value_start = f.value.as_ptr() as usize - base;
        let value_end = value_start + f.value.len();
        let hit = edits.iter().position(|(k, _)| f.key_is(k));
        if let Some(i) = hit {
            applied |= 1 << i;
        }
        let value = match hit.map(|i| edits[i].1) {
            Some(Edit::Remove) => None,
            Some(Edit::Set(v)) => Some(v),
            None => Some(f.value),
        };
        if let Some(value) = value {
            // The gap before a key is the opening brace (first member) or a comma, plus whitespace.
            let gap = &text[prev_end..key_start];
            if !wrote && prev_end != 0 {
                // Earlier members were dropped: reopen the object and drop this gap's comma.
                out.push_str(&text[..=open]);
                out.push_str(gap.split_once(',').map_or(gap, |(_, ws)| ws));
            } else {
                out.push_str(gap);
            }
            out.push_str(&text[key_start..value_start]);
            out.push_str(value);
            wrote = true;
        }
        prev_end = value_end;
        true
    })?;
    if !wrote {
        out.push_str(&text[..=open]);
        if prev_end == 0 {
            prev_end = open + 1;
        }
    }
    for (i, (k, e)) in edits.iter().enumerate() {
        if let (0, Edit::Set(v)) = (applied & (1 << i), e) {
            if wrote {
                out.push(',');
            }
            push_json_string(&mut out, k);
            out.push(':');
            out.push_str(v);
            wrote = true;
        }
    }
    // Whatever follows the last member: whitespace and the closing brace.
    out.push_str(&text[prev_end..]);
    Some(out)
}

/// Appends `s` as a JSON string literal.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_string(&mut out, s);
    out
}

/// Calls `f` for each member of the object `text` until it returns false.
/// Returns `None` when `text` is not a well-formed JSON object.
fn for_each_field<'a>(text: &'a str, mut f: impl FnMut(Field<'a>) -> bool) -> Option<()> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Some(());
    }
    loop {
        let key_start = i;
        i = skip_string(b, i)?;
        let key_raw = &text[key_start..i];
        i = skip_ws(b, i);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let value_start = i;
        i = skip_value(b, i)?;
        let value = &text[value_start..i];
        if !f(Field { key_raw, value }) {
            return Some(());
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Some(()),
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Index just past the string literal starting at `i`.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'"' => return Some(j + 1),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
}

/// Index just past the JSON value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while let Some(c) = b.get(j) {
                if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_true_finds_the_member_and_nothing_else() {
        assert!(is_true(r#"{"content":[],"isError":true}"#, "isError"));
        assert!(!is_true(r#"{"content":[],"isError":false}"#, "isError"));
        assert!(!is_true(r#"{"content":[{"text":"isError"}]}"#, "isError"));
        assert!(!is_true(
            r#"{"content":[{"text":"\"isError\": true"}]}"#,
            "isError"
        ));
        assert!(!is_true(r#"{"content":[]}"#, "isError"));
    }

    #[test]
    fn reads_members_verbatim() {
        let t = r#" { "a" : 1 , "b\u0041":{"x":[1,"}"]}, "n": 123456789012345678901234567890 } "#;
        let f = fields(t).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].value, "1");
        assert_eq!(f[1].key(), "bA");
        assert_eq!(f[1].value, r#"{"x":[1,"}"]}"#);
        assert_eq!(get(t, "n"), Some("123456789012345678901234567890"));
        assert_eq!(get(t, "bA"), Some(r#"{"x":[1,"}"]}"#));
        assert_eq!(get(t, "zz"), None);
    }

    #[test]
    fn splits_arrays() {
        assert_eq!(
            array_items(r#" [ {"a":[1,2]} , "x]" ,3 ] "#).unwrap(),
            vec![r#"{"a":[1,2]}"#, r#""x]""#, "3"]
        );
        assert_eq!(array_items("[]").unwrap(), Vec::<&str>::new());
        assert!(array_items("[1,").is_none());
        assert!(array_items("{}").is_none());
    }

    #[test]
    fn rejects_non_objects() {
        assert!(fields("[1]").is_none());
        assert!(fields("{\"a\" 1}").is_none());
        assert!(fields("{\"a\":1").is_none());
        assert!(get("\"x\"", "a").is_none());
    }

    #[test]
    fn edit_replaces_only_the_named_value() {
        let t = r#"{"name":"fx__echo","arguments":{"big":1e400,"s":"\u00e9"},"x-v":true}"#;
        let e = edit(t, &[("name", Edit::Set("\"echo\""))]).unwrap();
        assert_eq!(
            e,
            r#"{"name":"echo","arguments":{"big":1e400,"s":"\u00e9"},"x-v":true}"#
        );
    }

    #[test]
    fn edit_removes_and_appends() {
        let t = r#"{ "a": 1, "b": 2, "c": 3 }"#;
        assert_eq!(
            edit(t, &[("b", Edit::Remove)]).unwrap(),
            r#"{ "a": 1, "c": 3 }"#
        );
        assert_eq!(
            edit(t, &[("a", Edit::Remove)]).unwrap(),
            r#"{ "b": 2, "c": 3 }"#
        );
        assert_eq!(
            edit(t, &[("c", Edit::Remove)]).unwrap(),
            r#"{ "a": 1, "b": 2 }"#
        );
        assert_eq!(
            edit(t, &[("d", Edit::Set("4"))]).unwrap(),
            r#"{ "a": 1, "b": 2, "c": 3,"d":4 }"#
        );
        assert_eq!(edit("{}", &[("d", Edit::Set("4"))]).unwrap(), r#"{"d":4}"#);
        assert_eq!(edit(r#"{"a":1}"#, &[("a", Edit::Remove)]).unwrap(), "{}");
    }

    proptest::proptest! {
        #[test]
        fn edit_keeps_other_members_and_stays_valid(
            keys in proptest::collection::vec("[a-z_]{1,6}", 0..6),
            vals in proptest::collection::vec(r#"(-?[1-9][0-9]{0,29}|"[a-z ]{0,6}(\\n)?"|\{"k":\[1,2\]\}|true|null)"#, 6),
            pick in 0usize..8,
            remove in proptest::bool::ANY,
        ) {
            let mut seen = std::collections::HashSet::new();
            let members: Vec<(String, String)> = keys.iter().zip(vals.iter())
                .filter(|(k, _)| seen.insert((*k).clone()))
                .map(|(k, v)| (k.clone(), v.clone())).collect();
            let text = format!("{{{}}}", members.iter().map(|(k, v)| format!("\"{k}\" : {v}")).collect::<Vec<_>>().join(" ,\n"));
            let target = members.get(pick).map(|(k, _)| k.clone()).unwrap_or_else(|| "new".into());
            let op = if remove { Edit::Remove } else { Edit::Set("\"X\"") };
            let out = edit(&text, &[(&target, op)]).unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
            for (k, v) in &members {
                if *k == target { continue; }
                proptest::prop_assert_eq!(get(&out, k), Some(v.as_str()));
            }
            if remove { proptest::prop_assert!(parsed.get(&target).is_none()); }
            else { proptest::prop_assert_eq!(get(&out, &target), Some("\"X\"")); }
        }
    }

    #[test]
    fn gets_several_members_in_one_pass() {
        let o = r#"{"a":1,"b":{"x":[1,2]},"a":3,"c":"s"}"#;
        assert_eq!(
            get_all(o, ["c", "a", "zz", "b"]),
            [Some(r#""s""#), Some("1"), None, Some(r#"{"x":[1,2]}"#)]
        );
        assert_eq!(get_all("[1]", ["a"]), [None]);
    }
}
