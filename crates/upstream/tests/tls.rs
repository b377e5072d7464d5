//! Outbound TLS on real sockets: an HTTPS server whose certificate is signed by a test CA and
//! which requires a client certificate (mTLS). A client built by the egress policy fails without
//! the CA, fails with the CA but no client certificate, and succeeds with both; with
//! `insecure_skip_verify` it needs no CA. Certificates are generated in the test (rcgen); the
//! server is a stand-in that answers every request with `200 ok`, since what is under test is
//! the client's TLS setup.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use switchboard_upstream::egress::{EgressPolicy, Tls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let leaf = |san: &str, usage: ExtendedKeyUsagePurpose| {
        let mut p = CertificateParams::new(vec![san.to_owned()]).unwrap();
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca_pem: ca.pem(),
        server: leaf("localhost", ExtendedKeyUsagePurpose::ServerAuth),
        client: leaf("gateway", ExtendedKeyUsagePurpose::ClientAuth),
    }
}

/// An HTTPS server on 127.0.0.1 requiring a client certificate signed by the CA.
async fn mtls_server(pki: &Pki) -> u16 {
    switchboard_upstream::http::ensure_crypto_provider();
    let certs = rustls_pemfile_certs(&pki.server.0);
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(pem_der(&pki.server.1, "PRIVATE KEY")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile_certs(&pki.ca_pem) {
        roots.add(c).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn pem_der(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).unwrap() + begin.len();
    let stop = pem[start..].find(&end).unwrap() + start;
    let b64: String = pem[start..stop].split_whitespace().collect();
    switchboard_protocol::base64::decode(&b64).unwrap()
}

fn rustls_pemfile_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    pem.split("-----END CERTIFICATE-----")
        .filter(|p| p.contains("BEGIN CERTIFICATE"))
        .map(|p| {
            rustls::pki_types::CertificateDer::from(pem_der(
                &format!("{p}-----END CERTIFICATE-----"),
                "CERTIFICATE",
            ))
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

async fn get(policy: EgressPolicy, port: u16) -> Result<u16, String> {
    let client = policy
        .with_lookup(|_| Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
        .allow_loopback(true)
        .client_builder()
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    client
        .get(format!("https://localhost:{port}/mcp"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn a_configured_ca_and_client_certificate_reach_an_mtls_upstream() {
    let pki = pki();
    let port = mtls_server(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let cert = write(dir.path(), "client.pem", &pki.client.0);
    let key = write(dir.path(), "client.key", &pki.client.1);

    // The server's certificate is not trusted without the CA.
    let err = get(EgressPolicy::strict(), port).await.unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // Trusted, but the server wants a client certificate.
    let ca_only = EgressPolicy::strict().tls(Tls {
        ca: Some(ca.clone()),
        ..Tls::default()
    });
    assert!(get(ca_only, port).await.is_err());

    // Both: served.
    let mtls = EgressPolicy::strict().tls(Tls {
        ca: Some(ca.clone()),
        client_cert: Some(cert.clone()),
        client_key: Some(key.clone()),
        insecure_skip_verify: false,
    });
    assert_eq!(get(mtls, port).await, Ok(200));

    // Skipping verification needs no CA (the client certificate is still presented).
    let insecure = EgressPolicy::strict().tls(Tls {
        ca: None,
        client_cert: Some(cert),
        client_key: Some(key),
        insecure_skip_verify: true,
    });
    assert_eq!(get(insecure, port).await, Ok(200));

    // A CA file that is not there is a clear error, not a panic.
    let missing = EgressPolicy::strict().tls(Tls {
        ca: Some(dir.path().join("nope.pem")),
        ..Tls::default()
    });
    let err = missing
        .client_builder()
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot read tls.ca") && err.contains("nope.pem"),
        "{err}"
    );
}
