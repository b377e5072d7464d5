//! `telemetry:` and the `OTEL_*` variables: export only when configured, the file over the
//! environment, and every malformed value refused.

use std::time::Duration;

use switchboard_config::{OtlpProtocol, Sampling};

use super::{assert_error_at, env_of, err_with, ok, ok_with};

#[test]
fn off_unless_the_file_or_an_endpoint_variable_asks() {
    assert_eq!(ok("upstreams: {}\n").telemetry, None);
    // Sampling and naming alone export nothing, from the file or the environment.
    assert_eq!(
        ok("telemetry: { service_name: x, sampling: { ratio: 0.5 } }\n").telemetry,
        None
    );
    let env = env_of(&[
        ("OTEL_SERVICE_NAME", "x"),
        ("OTEL_TRACES_SAMPLER", "always_on"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "k=v"),
    ]);
    assert_eq!(ok_with("upstreams: {}\n", &env).telemetry, None);
}

#[test]
fn the_file_alone_turns_export_on_with_the_defaults() {
    let t = ok("telemetry: { otlp: { endpoint: \"http://127.0.0.1:4318\" } }\n")
        .telemetry
        .unwrap();
    assert_eq!(t.service_name, "switchboard");
    assert_eq!(t.otlp.endpoint, "http://127.0.0.1:4318/v1/traces");
    assert_eq!(t.otlp.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(t.otlp.timeout, Duration::from_secs(10));
    assert_eq!(
        t.sampling,
        Sampling {
            ratio: 1.0,
            parent_based: true
        }
    );
    let t = ok("telemetry: { otlp: {} }\n").telemetry.unwrap();
    assert_eq!(t.otlp.endpoint, "http://localhost:4318/v1/traces");
}

#[test]
fn every_key_of_the_file() {
    let env = env_of(&[("KEY", "s3cret")]);
    let t = ok_with(
        concat!(
            "telemetry:\n",
            "  service_name: gw-eu\n",
            "  otlp:\n",
            "    endpoint: https://otel.example.com:4317\n",
            "    protocol: grpc\n",
            "    headers: { X-Api-Key: \"${KEY}\" }\n",
            "    timeout: 2s\n",
            "  sampling: { ratio: 0.01, parent_based: false }\n",
        ),
        &env,
    )
    .telemetry
    .unwrap();
    assert_eq!(t.service_name, "gw-eu");
    assert_eq!(t.otlp.endpoint, "https://otel.example.com:4317");
    assert_eq!(t.otlp.protocol, OtlpProtocol::Grpc);
    assert_eq!(
        t.otlp.headers,
        [("x-api-key".to_owned(), "s3cret".to_owned())]
    );
    assert_eq!(t.otlp.timeout, Duration::from_secs(2));
    assert_eq!(
        t.sampling,
        Sampling {
            ratio: 0.01,
            parent_based: false
        }
    );
}

#[test]
fn the_standard_variables_fill_in_and_the_file_wins() {
    let env = env_of(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
        ("OTEL_SERVICE_NAME", "from-env"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%2Cb,team=ops"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1500"),
    ]);
    let t = ok_with("upstreams: {}\n", &env).telemetry.unwrap();
    assert_eq!(t.otlp.endpoint, "http://collector:4318/v1/traces");
    assert_eq!(t.service_name, "from-env");
    assert_eq!(
        t.sampling,
        Sampling {
            ratio: 0.25,
            parent_based: true
        }
    );
    assert_eq!(
        t.otlp.headers,
        [
            ("api-key".to_owned(), "a,b".to_owned()),
            ("team".to_owned(), "ops".to_owned())
        ]
    );
    assert_eq!(t.otlp.timeout, Duration::from_millis(1500));

    let t = ok_with(
        "telemetry: { service_name: file, sampling: { ratio: 0 } }\n",
        &env,
    )
    .telemetry
    .unwrap();
    assert_eq!(t.service_name, "file");
    assert_eq!(
        t.sampling,
        Sampling {
            ratio: 0.0,
            parent_based: true
        }
    );

    // The traces endpoint is used as is, and wins over the general one.
    let env = env_of(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:9999/custom"),
    ]);
    let t = ok_with("upstreams: {}\n", &env).telemetry.unwrap();
    assert_eq!(t.otlp.endpoint, "http://b:9999/custom");
}

#[test]
fn export_can_be_turned_off_by_the_standard_variables() {
    for (k, v) in [
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ] {
        let env = env_of(&[(k, v)]);
        assert_eq!(
            ok_with(
                "telemetry: { otlp: { endpoint: \"http://x:4318\" } }\n",
                &env
            )
            .telemetry,
            None,
            "{k}"
        );
    }
}

#[test]
fn malformed_values_are_refused() {
    assert_error_at(
        "telemetry:\n  sampling: { ratio: 1.5 }\n  otlp: {}\n",
        2,
        22,
        &["ratio", "from 0 to 1"],
    );
    assert_error_at(
        "telemetry:\n  otlp: { protocol: http/json }\n",
        2,
        21,
        &["protocol", "http/protobuf", "grpc"],
    );
    assert_error_at(
        "telemetry:\n  otlp: { endpoint: ftp://x }\n",
        2,
        21,
        &["invalid URL"],
    );
    assert_error_at("telemetry:\n  otlp: { nope: 1 }\n", 2, 11, &["nope"]);
    for (k, v, needle) in [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "collector:4318",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/json",
            "http/json is not supported",
        ),
        ("OTEL_TRACES_SAMPLER", "jaeger_remote", "jaeger_remote"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "novalue", "name=value"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s", "milliseconds"),
    ] {
        let env = env_of(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), (k, v)]);
        let e = err_with("upstreams: {}\n", &env);
        assert!(e.message().contains(needle), "{k}={v}: {e}");
    }
    let env = env_of(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "2"),
    ]);
    assert!(
        err_with("upstreams: {}\n", &env)
            .message()
            .contains("OTEL_TRACES_SAMPLER_ARG")
    );
}
