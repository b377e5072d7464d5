//! The `telemetry:` block and the standard `OTEL_*` variables: whether spans are exported over
//! OTLP, where to, and how many.
//!
//! Export is opt-in. It is on when the file has `telemetry.otlp`, or when the environment sets
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the standard way an
//! operator points any OpenTelemetry SDK at a collector); no other variable turns it on, and
//! `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turns it off whatever else says. What
//! the file says wins over the environment; the environment fills in what the file leaves out.

use std::time::Duration;

use serde::Deserialize;

use crate::document::Scalar;
use crate::error::ConfigError;
use crate::ordered_map::OrderedMap;
use crate::resolve::Resolver;
use crate::validate;

/// The default OTLP export timeout (the OpenTelemetry default).
pub const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);
/// The service name spans are exported under when nothing names one.
pub const DEFAULT_SERVICE_NAME: &str = "switchboard";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TelemetryDoc {
    pub service_name: Option<Scalar>,
    pub otlp: Option<OtlpDoc>,
    pub sampling: Option<SamplingDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OtlpDoc {
    pub endpoint: Option<Scalar>,
    pub protocol: Option<Scalar>,
    pub headers: Option<OrderedMap<Scalar, Scalar>>,
    pub timeout: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SamplingDoc {
    pub ratio: Option<Scalar>,
    pub parent_based: Option<Scalar>,
}

/// Tracing, when spans are exported (`Config::telemetry` is `None` otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// `service.name` on every exported span.
    pub service_name: String,
    pub otlp: OtlpConfig,
    pub sampling: Sampling,
}

// `ratio` is a checked finite number in 0..=1, so equality is total.
impl Eq for TelemetryConfig {}

/// Where and how spans are exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// The full URL spans are sent to: `…/v1/traces` for HTTP/protobuf, the collector's base
    /// URL for gRPC.
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    /// Sent with every export (an API key for a hosted collector).
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// `http/protobuf`: a POST of the protobuf `ExportTraceServiceRequest` (port 4318).
    #[default]
    HttpProtobuf,
    /// `grpc`: the `TraceService/Export` unary call over HTTP/2 (port 4317).
    Grpc,
}

/// Which requests are traced: a ratio of traces by trace id, and whether a caller's sampling
/// decision (its `traceparent`'s sampled flag) is followed instead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0 to 1.
    pub ratio: f64,
    pub parent_based: bool,
}

impl Default for Sampling {
    /// OpenTelemetry's default sampler: `parentbased_always_on`.
    fn default() -> Self {
        Sampling {
            ratio: 1.0,
            parent_based: true,
        }
    }
}

impl Resolver<'_> {
    /// The tracing config from the file's `telemetry:` (if any) and the environment; `None`
    /// when export is not asked for.
    pub(crate) fn telemetry(
        &self,
        doc: Option<TelemetryDoc>,
    ) -> Result<Option<TelemetryConfig>, ConfigError> {
        let env = |k: &str| (self.env)(k).filter(|v| !v.trim().is_empty());
        if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
            || env("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim().eq_ignore_ascii_case("none"))
        {
            return Ok(None);
        }
        let (service_name, otlp, sampling) = match doc {
            Some(d) => (d.service_name, d.otlp, d.sampling),
            None => (None, None, None),
        };
        let env_endpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .map(|e| (e, true))
            .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT").map(|e| (e, false)));
        if otlp.is_none() && env_endpoint.is_none() {
            return Ok(None);
        }
        let otlp = otlp.unwrap_or(OtlpDoc {
            endpoint: None,
            protocol: None,
            headers: None,
            timeout: None,
        });

        let protocol = match &otlp.protocol {
            Some(s) => self.word(
                "protocol",
                s,
                &[
                    ("http/protobuf", OtlpProtocol::HttpProtobuf),
                    ("grpc", OtlpProtocol::Grpc),
                ],
            )?,
            None => match env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
            {
                None => OtlpProtocol::default(),
                Some(p) => match p.trim() {
                    "http/protobuf" => OtlpProtocol::HttpProtobuf,
                    "grpc" => OtlpProtocol::Grpc,
                    other => {
                        return Err(self.whole(format!(
                            "OTEL_EXPORTER_OTLP_PROTOCOL must be `http/protobuf` or `grpc`, got `{}` (http/json is not supported)",
                            other.escape_debug()
                        )));
                    }
                },
            },
        };

        // A base URL gets the signal path for HTTP/protobuf; a `…_TRACES_ENDPOINT` is used as is.
        let (base, exact) = match &otlp.endpoint {
            Some(s) => (self.checked(s, validate::check_http_url)?, false),
            None => match env_endpoint {
                Some((e, exact)) => {
                    let e = e.trim().to_owned();
                    validate::check_http_url(&e)
                        .map_err(|m| self.whole(format!("OTEL_EXPORTER_OTLP_ENDPOINT: {m}")))?;
                    (e, exact)
                }
                None => (default_endpoint(protocol).to_owned(), false),
            },
        };
        let endpoint = match protocol {
            OtlpProtocol::HttpProtobuf if !exact && !base.ends_with("/v1/traces") => {
                format!("{}/v1/traces", base.trim_end_matches('/'))
            }
            _ => base,
        };

        let mut headers: Vec<(String, String)> = Vec::new();
        match otlp.headers {
            Some(map) => {
                for (key, value) in map.0 {
                    let name = key.value.clone();
                    validate::check_header_name(&name).map_err(|m| self.error(&key, m))?;
                    let value = self.checked(&value, |v| validate::check_header_value(&name, v))?;
                    headers.push((name.to_ascii_lowercase(), value));
                }
            }
            None => {
                let list = env("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
                    .or_else(|| env("OTEL_EXPORTER_OTLP_HEADERS"));
                if let Some(list) = list {
                    headers = parse_header_list(&list)
                        .map_err(|m| self.whole(format!("OTEL_EXPORTER_OTLP_HEADERS: {m}")))?;
                }
            }
        }

        let timeout = match &otlp.timeout {
            Some(_) => self.duration_or("timeout", &otlp.timeout, DEFAULT_OTLP_TIMEOUT)?,
            None => match env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
                .or_else(|| env("OTEL_EXPORTER_OTLP_TIMEOUT"))
            {
                // Milliseconds, as the OpenTelemetry spec has it.
                Some(ms) => match ms.trim().parse::<u64>() {
                    Ok(ms) if ms > 0 => Duration::from_millis(ms),
                    _ => {
                        return Err(self.whole(format!(
                            "OTEL_EXPORTER_OTLP_TIMEOUT must be a number of milliseconds greater than 0, got `{}`",
                            ms.escape_debug()
                        )));
                    }
                },
                None => DEFAULT_OTLP_TIMEOUT,
            },
        };

        let service_name = match &service_name {
            Some(s) => self.text(s)?,
            None => env("OTEL_SERVICE_NAME").unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned()),
        };

        let sampling = self.sampling(sampling, &env)?;
        Ok(Some(TelemetryConfig {
            service_name,
            otlp: OtlpConfig {
                endpoint,
                protocol,
                headers,
                timeout,
            },
            sampling,
        }))
    }

    fn sampling(
        &self,
        doc: Option<SamplingDoc>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Sampling, ConfigError> {
        let mut sampling = Sampling::default();
        // The environment first, then the file over it.
        if let Some(sampler) = env("OTEL_TRACES_SAMPLER") {
            let arg = env("OTEL_TRACES_SAMPLER_ARG");
            let ratio = || match &arg {
                None => Ok(1.0),
                Some(a) => parse_ratio(a.trim())
                    .map_err(|m| self.whole(format!("OTEL_TRACES_SAMPLER_ARG: {m}"))),
            };
            sampling = match sampler.trim() {
                "always_on" => Sampling {
                    ratio: 1.0,
                    parent_based: false,
                },
                "always_off" => Sampling {
                    ratio: 0.0,
                    parent_based: false,
                },
                "traceidratio" => Sampling {
                    ratio: ratio()?,
                    parent_based: false,
                },
                "parentbased_always_on" => Sampling {
                    ratio: 1.0,
                    parent_based: true,
                },
                "parentbased_always_off" => Sampling {
                    ratio: 0.0,
                    parent_based: true,
                },
                "parentbased_traceidratio" => Sampling {
                    ratio: ratio()?,
                    parent_based: true,
                },
                other => {
                    return Err(self.whole(format!(
                        "OTEL_TRACES_SAMPLER `{}` is not supported: use always_on, always_off, traceidratio or their parentbased_ forms",
                        other.escape_debug()
                    )));
                }
            };
        }
        if let Some(doc) = doc {
            if let Some(s) = &doc.ratio {
                let text = self.text(s)?;
                sampling.ratio =
                    parse_ratio(&text).map_err(|m| self.error(s, format!("`ratio`: {m}")))?;
            }
            if let Some(s) = &doc.parent_based {
                sampling.parent_based = self.boolean("parent_based", s)?;
            }
        }
        Ok(sampling)
    }

    fn whole(&self, message: String) -> ConfigError {
        ConfigError::whole(self.file, message)
    }
}

fn default_endpoint(protocol: OtlpProtocol) -> &'static str {
    match protocol {
        OtlpProtocol::HttpProtobuf => "http://localhost:4318",
        OtlpProtocol::Grpc => "http://localhost:4317",
    }
}

/// A sampling ratio: a number from 0 to 1.
fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "must be a number from 0 to 1, got `{}`",
            text.escape_debug()
        )),
    }
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: `name=value` pairs separated by commas, values
/// percent-encoded (W3C Baggage form).
fn parse_header_list(list: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            return Err("each entry must be `name=value`".to_owned());
        };
        let name = name.trim();
        validate::check_header_name(name)?;
        let value = percent_decode(value.trim())
            .ok_or_else(|| format!("the value of `{name}` is not valid percent-encoded UTF-8"))?;
        validate::check_header_value(name, &value)?;
        out.push((name.to_ascii_lowercase(), value));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lists_are_percent_decoded() {
        assert_eq!(
            parse_header_list("api-key=a%20b, X-Team=ops").unwrap(),
            vec![
                ("api-key".to_owned(), "a b".to_owned()),
                ("x-team".to_owned(), "ops".to_owned())
            ]
        );
        assert!(parse_header_list("novalue").is_err());
        assert!(parse_header_list("k=%zz").is_err());
    }

    #[test]
    fn ratios_are_zero_to_one() {
        assert_eq!(parse_ratio("0.01"), Ok(0.01));
        assert!(parse_ratio("1.5").is_err());
        assert!(parse_ratio("NaN").is_err());
        assert!(parse_ratio("-0.1").is_err());
    }
}
