//! Name globs: `*` matches any run of characters (also none), `?` exactly one; everything else
//! matches itself. Used by upstream item filters (and product selectors).

/// True when `name` matches `pattern` as a whole.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was and which name position it is trying to swallow up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            // `?` is one character, not one byte: step over a whole UTF-8 sequence.
            Some(b'?') => {
                pi += 1;
                ni += utf8_len(n[ni]);
            }
            Some(&c) if c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + utf8_len(n[sn]);
                    star = Some((sp, ni));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == b'*')
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn matches() {
        for (p, n) in [
            ("get_*", "get_user"),
            ("get_*", "get_"),
            ("*", ""),
            ("*_delete", "user_delete"),
            ("a?c", "abc"),
            ("a?c", "aéc"),
            ("*a*b*", "xxaxxbxx"),
            ("exact", "exact"),
            ("time__*", "time__now"),
        ] {
            assert!(glob_match(p, n), "{p} should match {n}");
        }
    }

    #[test]
    fn refuses() {
        for (p, n) in [
            ("get_*", "set_user"),
            ("a?c", "ac"),
            ("a?c", "abbc"),
            ("exact", "exactly"),
            ("*_delete", "delete_user"),
            ("", "x"),
        ] {
            assert!(!glob_match(p, n), "{p} should not match {n}");
        }
    }
}
