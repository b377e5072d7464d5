//! Lists in connector answers: at most a cap of items, and a heading that says what was cut,
//! so a model reading the text knows the list is partial and how to narrow it.

use serde_json::Value;

/// The first items of a list, remembering how long it was.
pub(crate) struct Capped<T> {
    pub kept: Vec<T>,
    pub total: usize,
}

impl<T> Capped<T> {
    pub fn new(mut all: Vec<T>, max: usize) -> Self {
        let total = all.len();
        all.truncate(max);
        Capped { kept: all, total }
    }

    pub fn omitted(&self) -> usize {
        self.total - self.kept.len()
    }

    /// `12 series:` or, when cut, `5000 series (2000 shown, 3000 omitted; narrow `match`):`,
    /// ending in a newline.
    pub fn heading(&self, what: &str, hint: &str) -> String {
        let mut text = format!("{} {what}", self.total);
        if self.omitted() > 0 {
            text.push_str(&format!(
                " ({} shown, {} omitted",
                self.kept.len(),
                self.omitted()
            ));
            if !hint.is_empty() {
                text.push_str("; ");
                text.push_str(hint);
            }
            text.push(')');
        }
        text.push_str(":\n");
        text
    }
}

/// The strings of a JSON array; anything else in it is skipped.
pub(crate) fn strings(data: &Value) -> Vec<String> {
    data.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_list_says_so() {
        let whole = Capped::new(vec![1, 2], 5);
        assert_eq!(whole.heading("series", "narrow `match`"), "2 series:\n");
        let cut = Capped::new(vec![1, 2, 3, 4], 1);
        assert_eq!(cut.omitted(), 3);
        assert_eq!(
            cut.heading("series", "narrow `match`"),
            "4 series (1 shown, 3 omitted; narrow `match`):\n"
        );
        assert_eq!(
            cut.heading("labels", ""),
            "4 labels (1 shown, 3 omitted):\n"
        );
    }
}
