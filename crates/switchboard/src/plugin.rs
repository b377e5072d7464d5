//! `switchboard plugin …`: make a signing key, pack and sign a bundle, verify one offline,
//! install it into (and list or remove it from) a config's plugins directory.
//!
//! Exit status: 0 on success, 1 when a bundle or an installed plugin is refused (the reason is
//! printed), 2 on usage errors (a missing file, a config without `plugins:`, a bad name).
//! Nothing here talks to a running gateway: it picks up what `install` and `remove` changed at
//! its next reload (SIGHUP or a config edit) or start — or use `POST /api/plugins`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use switchboard_gateway::plugins::VERSION;
use switchboard_plugins::verify::{Signature, verify};
use switchboard_plugins::{Bundle, Limits, SigningKey, TrustRoots, bundle, store};

use crate::cli::{PluginArgs, PluginCommand};
use crate::output::{errln, outln};
use crate::setup;

const USAGE: u8 = 2;
const REFUSED: u8 = 1;

pub fn run(args: PluginArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        PluginCommand::Keygen { out } => keygen(&out),
        PluginCommand::Pack { src, key, out } => pack(&src, &key, &out),
        PluginCommand::Verify { bundle, trust_root } => verify_bundle(&bundle, &trust_root),
        PluginCommand::Install { bundle, config } => install(&bundle, &config.config),
        PluginCommand::List { config } => list(&config.config),
        PluginCommand::Remove { name, config } => remove(&name, &config.config),
    }
}

fn usage(message: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    errln!("switchboard: {message}");
    Ok(ExitCode::from(USAGE))
}

fn refused(message: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    errln!("switchboard: refused: {message}");
    Ok(ExitCode::from(REFUSED))
}

fn keygen(out: &Path) -> anyhow::Result<ExitCode> {
    if let Err(e) = std::fs::create_dir_all(out) {
        return usage(format_args!("cannot create {}: {e}", out.display()));
    }
    let key_path = out.join("signing.key");
    let root_path = out.join("trust-root.pem");
    for p in [&key_path, &root_path] {
        if p.exists() {
            return usage(format_args!(
                "{} already exists; keygen never overwrites a key",
                p.display()
            ));
        }
    }
    let (key, pem) = match SigningKey::generate() {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    // The private key is readable by its owner only, from the moment it exists.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .and_then(|mut f| f.write_all(pem.as_bytes()))
        .and_then(|()| std::fs::write(&root_path, key.public_pem()));
    if let Err(e) = written {
        return usage(format_args!(
            "cannot write the keys into {}: {e}",
            out.display()
        ));
    }
    outln!("{}", key_path.display())?;
    outln!("{}", root_path.display())?;
    errln!(
        "switchboard: keep {} secret (it signs plugins); give {} to gateways as a plugins.trust_roots entry",
        key_path.display(),
        root_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn pack(src: &Path, key: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    if !src.is_dir() {
        return usage(format_args!("{} is not a directory", src.display()));
    }
    let key = match SigningKey::load(key) {
        Ok(k) => k,
        Err(e) => return usage(e),
    };
    let (manifest, bytes) = match bundle::pack(src, &key) {
        Ok(b) => b,
        Err(e) => return usage(e),
    };
    if let Err(e) = std::fs::write(out, &bytes) {
        return usage(format_args!("cannot write {}: {e}", out.display()));
    }
    outln!(
        "packed {} {} ({} files, {} bytes) into {}",
        manifest.name,
        manifest.version,
        manifest.files.len(),
        bytes.len(),
        out.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a bundle file (usage error if it cannot be read at all).
fn read_bundle(path: &Path) -> Result<Vec<u8>, ExitCode> {
    let limit = Limits::default().max_bundle_bytes;
    match std::fs::metadata(path) {
        Ok(m) if m.len() > limit => {
            errln!(
                "switchboard: refused: too large: the bundle is {} bytes; at most {limit} are accepted",
                m.len()
            );
            return Err(ExitCode::from(REFUSED));
        }
        Ok(_) => {}
        Err(e) => {
            errln!("switchboard: cannot read {}: {e}", path.display());
            return Err(ExitCode::from(USAGE));
        }
    }
    std::fs::read(path).map_err(|e| {
        errln!("switchboard: cannot read {}: {e}", path.display());
        ExitCode::from(USAGE)
    })
}

fn verify_bundle(path: &Path, trust_roots: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let (roots, problems) = TrustRoots::load(trust_roots);
    if let Some(p) = problems.first() {
        return usage(p);
    }
    let bytes = match read_bundle(path) {
        Ok(b) => b,
        Err(code) => return Ok(code),
    };
    let checked = Bundle::read(&bytes, &Limits::default())
        .and_then(|b| verify(b, Signature::Check(&roots), VERSION));
    match checked {
        Ok(v) => {
            outln!(
                "verified {} {} ({} files, command {})",
                v.manifest.name,
                v.manifest.version,
                v.manifest.files.len(),
                v.manifest.command
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => refused(why),
    }
}

/// The config's `plugins` block, or the usage error that stops a command without one.
fn plugins_config(config: &Path) -> Result<switchboard_config::Config, ExitCode> {
    let config = setup::load_config(config)?;
    if config.plugins.dir.is_none() {
        errln!(
            "switchboard: the config has no `plugins:` block (plugins.dir says where plugins live)"
        );
        return Err(ExitCode::from(USAGE));
    }
    Ok(config)
}

fn install(path: &Path, config: &Path) -> anyhow::Result<ExitCode> {
    let config = match plugins_config(config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let dir = config.plugins.dir.clone().unwrap_or_default();
    let bytes = match read_bundle(path) {
        Ok(b) => b,
        Err(code) => return Ok(code),
    };
    // Always verified, whatever plugins.verify says: an installed plugin is a signed one.
    let (roots, problems) = TrustRoots::load(&config.plugins.trust_roots);
    for p in &problems {
        errln!("switchboard: warning: {p}");
    }
    let verified = match Bundle::read(&bytes, &Limits::default())
        .and_then(|b| verify(b, Signature::Check(&roots), VERSION))
    {
        Ok(v) => v,
        Err(why) => return refused(why),
    };
    let name = verified.manifest.name.clone();
    if let Some(u) = config
        .upstreams
        .iter()
        .find(|u| u.name == name || u.prefix == name)
    {
        return refused(format_args!(
            "upstream `{}` in the config already uses the name `{name}`",
            u.name
        ));
    }
    match store::install(&dir, &verified) {
        Ok(installed) => {
            outln!(
                "installed {} {} into {}",
                name,
                verified.manifest.version,
                installed.dir.display()
            )?;
            if config.plugins.disabled.contains(&name) {
                errln!("switchboard: note: `{name}` is disabled in this config and will not load");
            }
            errln!(
                "switchboard: a running gateway loads it at its next config reload (SIGHUP) or start"
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => refused(why),
    }
}

fn list(config: &Path) -> anyhow::Result<ExitCode> {
    let config = match plugins_config(config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let dir = config.plugins.dir.clone().unwrap_or_default();
    let (roots, problems) = TrustRoots::load(&config.plugins.trust_roots);
    for p in &problems {
        errln!("switchboard: warning: {p}");
    }
    let how = if config.plugins.verify {
        Signature::Check(&roots)
    } else {
        Signature::Skip
    };
    let scanned = store::scan(&dir, how, VERSION);
    if scanned.is_empty() {
        errln!("switchboard: no plugins installed in {}", dir.display());
    }
    for s in scanned {
        let version = s.version.as_deref().unwrap_or("-");
        let (state, reason) = if config.plugins.disabled.contains(&s.name) {
            ("disabled", String::new())
        } else {
            match &s.outcome {
                Ok(_) => ("ok", String::new()),
                Err(why) => ("refused", why.to_string()),
            }
        };
        outln!("{}\t{version}\t{state}\t{reason}", s.name)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The plugins part of `switchboard check`'s plan: each installed plugin, checked offline as
/// the gateway would (nothing is started).
pub fn plan(config: &switchboard_config::Config) -> String {
    use std::fmt::Write as _;
    let p = &config.plugins;
    let Some(dir) = &p.dir else {
        return String::new();
    };
    let mut s = String::new();
    let (roots, problems) = TrustRoots::load(&p.trust_roots);
    let _ = writeln!(
        s,
        "plugins: {} (verify {}, {} trust root key(s), runtime install {})",
        dir.display(),
        if p.verify { "on" } else { "OFF" },
        roots.len(),
        if p.runtime_install { "on" } else { "off" }
    );
    for problem in problems {
        let _ = writeln!(s, "  warning: {problem}");
    }
    let how = if p.verify {
        Signature::Check(&roots)
    } else {
        Signature::Skip
    };
    for plugin in store::scan(dir, how, VERSION) {
        let version = plugin.version.as_deref().unwrap_or("-");
        let state = if p.disabled.contains(&plugin.name) {
            "disabled".to_owned()
        } else {
            match &plugin.outcome {
                Ok(_) => "loads".to_owned(),
                Err(why) => format!("refused: {why}"),
            }
        };
        let _ = writeln!(s, "  {:<16} {version}  {state}", plugin.name);
    }
    s
}

fn remove(name: &str, config: &Path) -> anyhow::Result<ExitCode> {
    let config = match plugins_config(config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if let Err(e) = switchboard_plugins::manifest::check_name(name) {
        return usage(e);
    }
    let dir = config.plugins.dir.clone().unwrap_or_default();
    match store::remove(&dir, name) {
        Ok(true) => {
            outln!("removed {name}")?;
            Ok(ExitCode::SUCCESS)
        }
        Ok(false) => refused(format_args!(
            "no plugin named `{name}` is installed in {}",
            dir.display()
        )),
        Err(e) => refused(e),
    }
}
