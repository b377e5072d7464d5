//! The `plugins:` block: defaults, paths resolved against the config file, per-plugin env,
//! `SWITCHBOARD_PLUGINS_DISABLED`, and located errors.

use std::path::PathBuf;

use switchboard_config::{PluginSettings, PluginsConfig, load};

use super::{assert_error_at, env_of, ok, ok_with};

#[test]
fn no_block_means_no_plugins_and_verification_on() {
    let c = ok("upstreams: {}\n");
    assert_eq!(c.plugins, PluginsConfig::default());
    assert!(c.plugins.dir.is_none());
    assert!(c.plugins.verify);
    assert!(!c.plugins.runtime_install);
}

#[test]
fn every_key_is_read_and_the_env_adds_disabled_plugins() {
    let c = ok_with(
        "plugins:\n  dir: /var/lib/sb/plugins\n  trust_roots: [/etc/sb/a.pem, /etc/sb/b.pem]\n  verify: false\n  runtime_install: true\n  disabled: [old]\n  config:\n    weather: { env: { API_URL: \"http://127.0.0.1:9\", TOKEN: \"${T}\" } }\n",
        &env_of(&[
            ("T", "t0k"),
            ("SWITCHBOARD_PLUGINS_DISABLED", " broken , old,,x-y "),
        ]),
    );
    let p = c.plugins;
    assert_eq!(p.dir, Some(PathBuf::from("/var/lib/sb/plugins")));
    assert_eq!(
        p.trust_roots,
        [
            PathBuf::from("/etc/sb/a.pem"),
            PathBuf::from("/etc/sb/b.pem")
        ]
    );
    assert!(!p.verify);
    assert!(p.runtime_install);
    assert_eq!(p.disabled, ["old", "broken", "x-y"]);
    assert_eq!(
        p.settings,
        [PluginSettings {
            name: "weather".into(),
            env: vec![
                ("API_URL".into(), "http://127.0.0.1:9".into()),
                ("TOKEN".into(), "t0k".into())
            ],
        }]
    );
}

#[test]
fn relative_paths_resolve_against_the_config_files_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sb.yaml");
    std::fs::write(
        &file,
        "plugins:\n  dir: ./plugins\n  trust_roots: [keys/root.pem]\n",
    )
    .unwrap();
    let c = load(&file, &|_| None).unwrap();
    assert_eq!(c.plugins.dir, Some(dir.path().join("plugins")));
    assert_eq!(c.plugins.trust_roots, [dir.path().join("keys/root.pem")]);
}

#[test]
fn mistakes_are_located() {
    assert_error_at("plugins:\n  trust_roots: []\n", 2, 3, &["dir"]);
    assert_error_at("plugins:\n  dir: p\n  verfy: true\n", 3, 3, &["verfy"]);
    assert_error_at("plugins:\n  dir: p\n  verify: maybe\n", 3, 11, &["verify"]);
    assert_error_at(
        "plugins:\n  dir: p\n  disabled: [\"../x\"]\n",
        3,
        14,
        &["plugin name"],
    );
}
