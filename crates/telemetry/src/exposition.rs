//! Which text format a scrape gets: OpenMetrics when the scraper asks for it (Prometheus does,
//! by default), else the classic Prometheus text format 0.0.4.
//!
//! `prometheus-client` writes OpenMetrics. The two differ in three places that matter to a
//! 0.0.4 parser: a counter's `# HELP`/`# TYPE` name (OpenMetrics names the family `x`, its
//! sample `x_total`; 0.0.4 names both `x_total`), the `# UNIT` and `# EOF` lines (comments to
//! 0.0.4, dropped here). [`to_prometheus_text`] rewrites just those lines.

/// A `/metrics` answer's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    /// `text/plain; version=0.0.4`.
    PrometheusText,
}

impl Format {
    /// The format an `Accept` header asks for. OpenMetrics only when it is named (Prometheus
    /// names it first); anything else, or no header, gets the 0.0.4 text every scraper reads.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a)
                if a.to_ascii_lowercase()
                    .contains("application/openmetrics-text") =>
            {
                Format::OpenMetrics
            }
            _ => Format::PrometheusText,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// Rewrites OpenMetrics text as Prometheus text 0.0.4 (see the module comment).
pub(crate) fn to_prometheus_text(open: &str) -> String {
    let mut out = String::with_capacity(open.len());
    // A family's `# HELP` comes before its `# TYPE`: it is held until the type says whether
    // the name needs `_total`.
    let mut help: Option<&str> = None;
    for line in open.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some(h) = help.take() {
                push_line(&mut out, "# HELP ", h, "");
            }
            help = Some(rest);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.rsplit_once(' ').unwrap_or((rest, ""));
            let suffix = if kind == "counter" && !name.ends_with("_total") {
                "_total"
            } else {
                ""
            };
            if let Some(h) = help.take() {
                let (hname, text) = h.split_once(' ').unwrap_or((h, ""));
                out.push_str("# HELP ");
                out.push_str(hname);
                if hname == name {
                    out.push_str(suffix);
                }
                out.push(' ');
                out.push_str(text);
                out.push('\n');
            }
            out.push_str("# TYPE ");
            out.push_str(name);
            out.push_str(suffix);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
            continue;
        }
        if let Some(h) = help.take() {
            push_line(&mut out, "# HELP ", h, "");
        }
        out.push_str(line);
        out.push('\n');
    }
    if let Some(h) = help {
        push_line(&mut out, "# HELP ", h, "");
    }
    out
}

fn push_line(out: &mut String, a: &str, b: &str, c: &str) {
    out.push_str(a);
    out.push_str(b);
    out.push_str(c);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_asks_for_openmetrics() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("text/plain")),
            Format::PrometheusText
        );
        assert_eq!(Format::negotiate(Some("*/*")), Format::PrometheusText);
        assert_eq!(Format::negotiate(None), Format::PrometheusText);
    }

    #[test]
    fn counters_get_their_total_name_in_text_0_0_4() {
        let open = "# HELP a_requests Requests.\n# TYPE a_requests counter\na_requests_total{m=\"x\"} 3\n\
                    # HELP g Gauge.\n# TYPE g gauge\ng 1\n\
                    # HELP h_seconds Latency.\n# TYPE h_seconds histogram\n# UNIT h_seconds seconds\nh_seconds_sum 0.5\n\
                    # EOF\n";
        assert_eq!(
            to_prometheus_text(open),
            "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\na_requests_total{m=\"x\"} 3\n\
             # HELP g Gauge.\n# TYPE g gauge\ng 1\n\
             # HELP h_seconds Latency.\n# TYPE h_seconds histogram\nh_seconds_sum 0.5\n"
        );
    }
}
