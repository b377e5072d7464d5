//! Bundles end to end in process: pack a real directory, read and verify the bytes, install into
//! a real plugins directory, and every refusal with its reason — including archives built by
//! hand with entries `pack` would never write (traversal, links, bombs, duplicates).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use switchboard_plugins::bundle::{self, Bundle, Limits};
use switchboard_plugins::verify::{Signature, verify};
use switchboard_plugins::{Refusal, SigningKey, TrustRoots, Verified, store};
use tar::EntryType;

const SERVER: &str = "#!/bin/sh\necho plugin\n";

fn key() -> SigningKey {
    SigningKey::generate().expect("key").0
}

fn roots(key: &SigningKey) -> TrustRoots {
    TrustRoots::from_pem(&key.public_pem()).expect("pem")
}

/// A plugin source directory: template, executable command, a data file in a subdirectory.
fn src(dir: &Path, yaml: &str) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("data")).unwrap();
    std::fs::write(src.join("plugin.yaml"), yaml).unwrap();
    std::fs::write(src.join("server.sh"), SERVER).unwrap();
    std::fs::set_permissions(
        src.join("server.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(src.join("data/cities.json"), "[\"Oslo\"]").unwrap();
    src
}

const YAML: &str = "name: weather\nversion: 1.2.0\ndescription: Weather tools\ncommand: server.sh\nargs: [--stdio]\n";

fn packed(dir: &Path, key: &SigningKey) -> Vec<u8> {
    bundle::pack(&src(dir, YAML), key).expect("pack").1
}

fn check(bytes: &[u8], roots: &TrustRoots) -> Result<Verified, Refusal> {
    verify(
        Bundle::read(bytes, &Limits::default())?,
        Signature::Check(roots),
        "0.1.0",
    )
}

/// Writes a bundle's entries back as a normal archive (after a test changed them).
fn retar(b: &Bundle) -> Vec<u8> {
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(m) = &b.manifest {
        entries.push(("manifest.json".into(), m.clone()));
    }
    if let Some(s) = &b.signature {
        entries.push(("manifest.json.sig".into(), s.clone()));
    }
    for (p, f) in &b.files {
        entries.push((p.clone(), f.data.clone()));
    }
    raw(entries
        .into_iter()
        .map(|(p, d)| Raw::file(&p, &d))
        .collect())
}

/// An entry written byte by byte, past the `tar` crate's own path checks.
struct Raw {
    name: Vec<u8>,
    kind: EntryType,
    data: Vec<u8>,
    link: Vec<u8>,
    /// Size written in the header (defaults to the data's).
    size: Option<u64>,
}

impl Raw {
    fn file(name: &str, data: &[u8]) -> Raw {
        Raw {
            name: name.as_bytes().to_vec(),
            kind: EntryType::Regular,
            data: data.to_vec(),
            link: Vec::new(),
            size: None,
        }
    }
    fn link(name: &str, kind: EntryType, target: &str) -> Raw {
        Raw {
            name: name.as_bytes().to_vec(),
            kind,
            data: Vec::new(),
            link: target.as_bytes().to_vec(),
            size: None,
        }
    }
}

fn raw(entries: Vec<Raw>) -> Vec<u8> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for e in entries {
        let mut h = tar::Header::new_gnu();
        {
            let bytes = h.as_mut_bytes();
            bytes[..e.name.len()].copy_from_slice(&e.name);
            bytes[157..157 + e.link.len()].copy_from_slice(&e.link);
        }
        h.set_entry_type(e.kind);
        h.set_mode(0o755);
        h.set_size(e.size.unwrap_or(e.data.len() as u64));
        h.set_cksum();
        tar.append(&h, e.data.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

#[test]
fn a_packed_bundle_verifies_and_lists_every_file_with_its_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let key = key();
    let (manifest, bytes) = bundle::pack(&src(tmp.path(), YAML), &key).unwrap();
    assert_eq!(manifest.name, "weather");
    assert_eq!(manifest.args, ["--stdio"]);
    assert_eq!(
        manifest.files.keys().collect::<Vec<_>>(),
        ["data/cities.json", "server.sh"]
    );
    assert_eq!(
        manifest.files["server.sh"],
        switchboard_plugins::hex(&switchboard_plugins::sha256(SERVER.as_bytes()))
    );
    let v = check(&bytes, &roots(&key)).expect("verifies");
    assert_eq!(v.manifest, manifest);
    assert!(v.files["server.sh"].executable);
    assert!(!v.files["data/cities.json"].executable);
    // Deterministic: the same input packs to the same bytes.
    assert_eq!(
        bundle::pack(&tmp.path().join("src"), &key).unwrap().1,
        bytes
    );
}

#[test]
fn a_manifest_json_template_works_too_and_a_missing_field_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = src(tmp.path(), YAML);
    std::fs::remove_file(dir.join("plugin.yaml")).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        r#"{"name":"w2","version":"0.1.0","command":"server.sh"}"#,
    )
    .unwrap();
    let key = key();
    let (m, _) = bundle::pack(&dir, &key).unwrap();
    assert_eq!(m.name, "w2");
    std::fs::write(
        dir.join("manifest.json"),
        r#"{"name":"w2","version":"0.1.0"}"#,
    )
    .unwrap();
    let e = bundle::pack(&dir, &key).unwrap_err();
    assert!(e.contains("command"), "{e}");
}

#[test]
fn pack_refuses_a_symlink_in_the_source() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = src(tmp.path(), YAML);
    std::os::unix::fs::symlink("/etc/passwd", dir.join("data/passwd")).unwrap();
    let e = bundle::pack(&dir, &key()).unwrap_err();
    assert!(e.contains("symbolic link"), "{e}");
}

#[test]
fn a_tampered_manifest_is_refused_by_its_signature() {
    let tmp = tempfile::tempdir().unwrap();
    let key = key();
    let mut b = Bundle::read(&packed(tmp.path(), &key), &Limits::default()).unwrap();
    let text = String::from_utf8(b.manifest.take().unwrap()).unwrap();
    b.manifest = Some(text.replace("--stdio", "--evil").into_bytes());
    let e = check(&retar(&b), &roots(&key)).unwrap_err();
    assert_eq!(e, Refusal::BadSignature(1));
    assert!(e.to_string().contains("signature does not verify"), "{e}");
}

#[test]
fn a_tampered_file_is_refused_by_its_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let key = key();
    let mut b = Bundle::read(&packed(tmp.path(), &key), &Limits::default()).unwrap();
    b.files.get_mut("server.sh").unwrap().data = b"#!/bin/sh\nrm -rf ~\n".to_vec();
    let e = check(&retar(&b), &roots(&key)).unwrap_err();
    assert!(
        matches!(&e, Refusal::HashMismatch { path, .. } if path == "server.sh"),
        "{e}"
    );
}

#[test]
fn an_added_or_a_removed_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let key = key();
    let good = Bundle::read(&packed(tmp.path(), &key), &Limits::default()).unwrap();
    let mut added = good.clone();
    added.files.insert(
        "extra.sh".into(),
        bundle::BundleFile {
            data: b"x".to_vec(),
            executable: true,
        },
    );
    assert_eq!(
        check(&retar(&added), &roots(&key)).unwrap_err(),
        Refusal::UnlistedFile("extra.sh".into())
    );
    let mut removed = good;
    removed.files.remove("data/cities.json");
    assert_eq!(
        check(&retar(&removed), &roots(&key)).unwrap_err(),
        Refusal::MissingFile("data/cities.json".into())
    );
}

#[test]
fn a_bundle_signed_by_another_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = packed(tmp.path(), &key());
    let e = check(&bytes, &roots(&key())).unwrap_err();
    assert_eq!(e, Refusal::BadSignature(1));
}

#[test]
fn an_unsigned_bundle_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let key = key();
    let mut b = Bundle::read(&packed(tmp.path(), &key), &Limits::default()).unwrap();
    b.signature = None;
    assert_eq!(
        check(&retar(&b), &roots(&key)).unwrap_err(),
        Refusal::MissingSignature
    );
    // A signature of the wrong shape is named as such.
    b.signature = Some(vec![0; 10]);
    assert_eq!(
        check(&retar(&b), &roots(&key)).unwrap_err(),
        Refusal::MalformedSignature(10)
    );
}

#[test]
fn without_a_trust_root_nothing_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = packed(tmp.path(), &key());
    assert_eq!(
        check(&bytes, &TrustRoots::default()).unwrap_err(),
        Refusal::NoTrustRoot
    );
    // A trust root file that is missing, or holds no Ed25519 key, contributes nothing and says why.
    let not_ed25519 = tmp.path().join("rsa.pem");
    std::fs::write(&not_ed25519, "-----BEGIN PUBLIC KEY-----\nMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQC=\n-----END PUBLIC KEY-----\n").unwrap();
    let (r, problems) = TrustRoots::load(&[tmp.path().join("absent.pem"), not_ed25519]);
    assert!(r.is_empty());
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("absent.pem"), "{problems:?}");
}

#[test]
fn the_trust_root_is_openssl_compatible() {
    // The fixed 12-byte SubjectPublicKeyInfo prefix, as `openssl pkey -pubout` writes it.
    let key = key();
    let pem = key.public_pem();
    assert!(
        pem.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"),
        "{pem}"
    );
    // keygen writes the PKCS#8 v1 form OpenSSL reads.
    let (generated, private_pem) = SigningKey::generate().unwrap();
    assert!(
        private_pem.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"),
        "{private_pem}"
    );
    assert_eq!(
        SigningKey::from_pem(&private_pem).unwrap().public_key(),
        generated.public_key()
    );
    // And an openssl-written PKCS#8 v1 key signs (when openssl is installed).
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("k.pem");
    let made = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&path)
        .status();
    if made.is_ok_and(|s| s.success()) {
        let k = SigningKey::load(&path).expect("openssl key");
        let sig = k.sign(b"m");
        assert!(roots(&k).verifies(b"m", &sig));
    } else {
        eprintln!("SKIPPED the openssl half: openssl is not installed");
    }
}

#[test]
fn entries_that_leave_the_bundle_are_refused() {
    for name in [
        "../evil.sh",
        "/etc/cron.d/evil",
        "data/../../evil",
        "a\\..\\evil",
    ] {
        let bytes = raw(vec![Raw::file(name, b"x")]);
        let e = Bundle::read(&bytes, &Limits::default()).unwrap_err();
        assert!(
            matches!(&e, Refusal::UnsafeEntry { path, .. } if path == name),
            "{name}: {e}"
        );
    }
}

#[test]
fn links_are_refused_wherever_they_point() {
    for (kind, target) in [
        (EntryType::Symlink, "../../../etc/passwd"),
        (EntryType::Symlink, "/etc/passwd"),
        (EntryType::Symlink, "server.sh"),
        (EntryType::Link, "/etc/shadow"),
    ] {
        let bytes = raw(vec![
            Raw::file("server.sh", b"x"),
            Raw::link("l", kind, target),
        ]);
        let e = Bundle::read(&bytes, &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("is a link"), "{e}");
    }
    let fifo = Raw {
        kind: EntryType::Fifo,
        ..Raw::file("pipe", b"")
    };
    let e = Bundle::read(&raw(vec![fifo]), &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("plain files and directories"), "{e}");
}

#[test]
fn a_path_seen_twice_is_refused() {
    let bytes = raw(vec![Raw::file("a", b"1"), Raw::file("./a", b"2")]);
    let e = Bundle::read(&bytes, &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("appears twice"), "{e}");
}

#[test]
fn a_decompression_bomb_stops_at_the_cap() {
    // 64 MiB of zeros compresses to ~64 KiB; the cap is 1 MiB unpacked.
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    let mut h = tar::Header::new_gnu();
    h.set_path("zeros").unwrap();
    h.set_size(64 * 1024 * 1024);
    h.set_cksum();
    gz.write_all(h.as_bytes()).unwrap();
    let block = vec![0u8; 1024 * 1024];
    for _ in 0..64 {
        gz.write_all(&block).unwrap();
    }
    let bytes = gz.finish().unwrap();
    assert!(bytes.len() < 200 * 1024, "{}", bytes.len());
    let limits = Limits {
        max_unpacked_bytes: 1024 * 1024,
        max_file_bytes: 512 * 1024 * 1024,
        ..Limits::default()
    };
    let e = Bundle::read(&bytes, &limits).unwrap_err();
    assert!(matches!(e, Refusal::TooLarge(_)), "{e}");
    // With the default caps a header that declares more than one file may hold is refused
    // before a byte of it is read.
    let mut h = tar::Header::new_gnu();
    h.set_path("big").unwrap();
    h.set_size(Limits::default().max_file_bytes + 1);
    h.set_cksum();
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(h.as_bytes()).unwrap();
    let e = Bundle::read(&gz.finish().unwrap(), &Limits::default()).unwrap_err();
    assert!(e.to_string().contains("the cap on one file"), "{e}");
}

#[test]
fn too_many_entries_or_too_large_a_bundle_are_refused() {
    let many: Vec<Raw> = (0..20).map(|i| Raw::file(&format!("f{i}"), b"x")).collect();
    let limits = Limits {
        max_entries: 10,
        ..Limits::default()
    };
    let e = Bundle::read(&raw(many), &limits).unwrap_err();
    assert!(e.to_string().contains("more than 10 entries"), "{e}");
    let limits = Limits {
        max_bundle_bytes: 10,
        ..Limits::default()
    };
    let e = Bundle::read(&raw(vec![Raw::file("a", b"x")]), &limits).unwrap_err();
    assert!(matches!(e, Refusal::TooLarge(_)), "{e}");
    let e = Bundle::read(b"not gzip at all", &Limits::default()).unwrap_err();
    assert!(matches!(e, Refusal::NotABundle(_)), "{e}");
}

#[test]
fn a_plugin_for_a_newer_switchboard_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let key = key();
    let dir = src(
        tmp.path(),
        &format!("{YAML}min_switchboard_version: 99.0.0\n"),
    );
    let (_, bytes) = bundle::pack(&dir, &key).unwrap();
    let e = check(&bytes, &roots(&key)).unwrap_err();
    assert_eq!(
        e,
        Refusal::TooNew {
            need: "99.0.0".into(),
            have: "0.1.0".into()
        }
    );
}

#[test]
fn install_places_the_plugin_whole_and_scan_loads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let key = key();
    let v = check(&packed(tmp.path(), &key), &roots(&key)).unwrap();
    let plugins = tmp.path().join("plugins");
    let installed = store::install(&plugins, &v).unwrap();
    assert_eq!(installed.dir, plugins.join("weather"));
    let mode = std::fs::metadata(plugins.join("weather/server.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        std::fs::read(plugins.join("weather/data/cities.json")).unwrap(),
        b"[\"Oslo\"]"
    );
    // No temporary is left beside it.
    let names: Vec<_> = std::fs::read_dir(&plugins)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["weather"]);
    let scanned = store::scan(&plugins, Signature::Check(&roots(&key)), "0.1.0");
    assert_eq!(scanned.len(), 1);
    assert_eq!(scanned[0].outcome.as_ref().unwrap(), &installed);
}

fn installed(tmp: &Path) -> (PathBuf, TrustRoots) {
    let key = key();
    let v = check(&packed(tmp, &key), &roots(&key)).unwrap();
    let plugins = tmp.join("plugins");
    store::install(&plugins, &v).unwrap();
    (plugins, roots(&key))
}

fn scan_one(plugins: &Path, roots: &TrustRoots) -> Result<(), Refusal> {
    let mut s = store::scan(plugins, Signature::Check(roots), "0.1.0");
    assert_eq!(s.len(), 1);
    s.remove(0).outcome.map(|_| ())
}

#[test]
fn an_installed_plugin_changed_on_disk_is_refused_at_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let (plugins, roots) = installed(tmp.path());
    std::fs::write(plugins.join("weather/server.sh"), "#!/bin/sh\nevil\n").unwrap();
    let e = scan_one(&plugins, &roots).unwrap_err();
    assert!(
        matches!(&e, Refusal::HashMismatch { path, .. } if path == "server.sh"),
        "{e}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let (plugins, roots) = installed(tmp.path());
    std::fs::write(plugins.join("weather/data/new.py"), "x").unwrap();
    assert_eq!(
        scan_one(&plugins, &roots).unwrap_err(),
        Refusal::UnlistedFile("data/new.py".into())
    );

    let tmp = tempfile::tempdir().unwrap();
    let (plugins, roots) = installed(tmp.path());
    std::fs::remove_file(plugins.join("weather/data/cities.json")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", plugins.join("weather/data/cities.json")).unwrap();
    let e = scan_one(&plugins, &roots).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");

    let tmp = tempfile::tempdir().unwrap();
    let (plugins, roots) = installed(tmp.path());
    std::fs::remove_file(plugins.join("weather/manifest.json.sig")).unwrap();
    assert_eq!(
        scan_one(&plugins, &roots).unwrap_err(),
        Refusal::MissingSignature
    );
    // verify: false skips who signed, never the hashes.
    let s = store::scan(&plugins, Signature::Skip, "0.1.0");
    assert!(s[0].outcome.is_ok());

    let tmp = tempfile::tempdir().unwrap();
    let (plugins, roots) = installed(tmp.path());
    std::fs::rename(plugins.join("weather"), plugins.join("other")).unwrap();
    assert!(matches!(
        scan_one(&plugins, &roots).unwrap_err(),
        Refusal::WrongDirectory { .. }
    ));
}

#[test]
fn an_upgrade_replaces_in_one_step_and_a_downgrade_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let key = key();
    let plugins = tmp.path().join("plugins");
    let v1 = check(&packed(tmp.path(), &key), &roots(&key)).unwrap();
    store::install(&plugins, &v1).unwrap();
    let src2 = tmp.path().join("v2");
    std::fs::create_dir_all(&src2).unwrap();
    std::fs::write(
        src2.join("plugin.yaml"),
        "name: weather\nversion: 2.0.0\ncommand: run\n",
    )
    .unwrap();
    std::fs::write(src2.join("run"), "#!/bin/sh\n").unwrap();
    let v2 = check(&bundle::pack(&src2, &key).unwrap().1, &roots(&key)).unwrap();
    store::install(&plugins, &v2).unwrap();
    assert!(
        !plugins.join("weather/server.sh").exists(),
        "old files are gone"
    );
    assert!(plugins.join("weather/run").exists());
    assert_eq!(
        std::fs::read_dir(&plugins).unwrap().count(),
        1,
        "nothing left beside it"
    );
    assert!(scan_one(&plugins, &roots(&key)).is_ok());
    let e = store::install(&plugins, &v1).unwrap_err();
    assert!(matches!(e, Refusal::Downgrade { .. }), "{e}");
    assert!(
        plugins.join("weather/run").exists(),
        "the refused downgrade changed nothing"
    );
    assert!(store::remove(&plugins, "weather").unwrap());
    assert!(!store::remove(&plugins, "weather").unwrap());
    assert_eq!(std::fs::read_dir(&plugins).unwrap().count(), 0);
}
