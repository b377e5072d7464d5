//! The echo server's tool catalog, rendered once at start-up into `tools/list` result pages.

/// Tools every catalog has: `echo`, `big`, `slow`.
pub const BUILT_IN_TOOLS: usize = 3;

/// Largest synthetic catalog accepted (`--extra-tools`).
pub const MAX_EXTRA_TOOLS: usize = 1_000_000;

const ECHO: &str = r#"{"name":"echo","description":"Returns arguments.message as text.","inputSchema":{"type":"object","properties":{"message":{"type":"string"}},"required":["message"]}}"#;
const BIG: &str = r#"{"name":"big","description":"Returns a text block of arguments.bytes bytes.","inputSchema":{"type":"object","properties":{"bytes":{"type":"integer","minimum":0}},"required":["bytes"]}}"#;
const SLOW: &str = r#"{"name":"slow","description":"Sleeps arguments.ms milliseconds, then answers.","inputSchema":{"type":"object","properties":{"ms":{"type":"integer","minimum":0}},"required":["ms"]}}"#;

/// The `tools/list` results, one per page, each a complete JSON object.
#[derive(Debug)]
pub struct Catalog {
    pages: Vec<Vec<u8>>,
    extra: usize,
}

impl Catalog {
    /// `extra` synthetic tools `t0..` after the three built-in ones; `page_size` 0 means one page.
    pub fn new(extra: usize, page_size: usize) -> Catalog {
        let extra = extra.min(MAX_EXTRA_TOOLS);
        let mut tools: Vec<String> = vec![ECHO.to_owned(), BIG.to_owned(), SLOW.to_owned()];
        tools.extend((0..extra).map(|i| {
            format!(
                r#"{{"name":"t{i}","description":"Synthetic tool {i} of a large catalog; returns arguments.message as text.","inputSchema":{{"type":"object","properties":{{"message":{{"type":"string"}}}}}}}}"#
            )
        }));
        let size = if page_size == 0 {
            tools.len()
        } else {
            page_size
        };
        let chunks: Vec<&[String]> = tools.chunks(size).collect();
        let pages = chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                let mut s = String::from(r#"{"tools":["#);
                s.push_str(&chunk.join(","));
                s.push(']');
                if i + 1 < chunks.len() {
                    s.push_str(&format!(r#","nextCursor":"page-{}""#, i + 1));
                }
                s.push('}');
                s.into_bytes()
            })
            .collect();
        Catalog { pages, extra }
    }

    /// The page a cursor names (`None`: the first page); `None` for a cursor that names none.
    pub fn page(&self, cursor: Option<&str>) -> Option<&[u8]> {
        let index = match cursor {
            None => 0,
            Some(c) => c.strip_prefix("page-")?.parse::<usize>().ok()?,
        };
        self.pages.get(index).map(Vec::as_slice)
    }

    /// Whether `name` is one of the synthetic tools `t0..tN-1`.
    pub fn has_synthetic(&self, name: &str) -> bool {
        name.strip_prefix('t')
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n < self.extra && name.len() == 1 + n.to_string().len())
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        BUILT_IN_TOOLS + self.extra
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(page: &[u8]) -> (usize, Option<String>) {
        let v: serde_json::Value = serde_json::from_slice(page).unwrap();
        (
            v["tools"].as_array().unwrap().len(),
            v["nextCursor"].as_str().map(str::to_owned),
        )
    }

    #[test]
    fn pages_cover_the_catalog() {
        let c = Catalog::new(10, 4);
        assert_eq!(c.len(), 13);
        let mut cursor = None;
        let mut total = 0;
        for _ in 0..10 {
            let (n, next) = count(c.page(cursor.as_deref()).unwrap());
            total += n;
            cursor = next;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(total, 13);
        assert!(c.page(Some("bogus")).is_none());
        assert!(c.page(Some("page-99")).is_none());
    }

    #[test]
    fn one_page_by_default() {
        let c = Catalog::new(5, 0);
        assert_eq!(count(c.page(None).unwrap()), (8, None));
        assert!(c.has_synthetic("t4"));
        assert!(!c.has_synthetic("t5"));
        assert!(!c.has_synthetic("t04"));
        assert!(!c.has_synthetic("echo"));
    }
}
