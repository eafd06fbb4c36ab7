//! Reading bundles: [`inspect`] (nothing written) and [`extract`] (into a new folder).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use super::{check_member_path, keys, BundleManifest, Error, Kind, Limits, FORMAT, MANIFEST, SIGNATURE};
use dus_core::model::{Manifest, RuntimeConfig};

/// Who signed a bundle whose signature is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// A key in the box's `trusted_keys` (hex).
    Trusted(String),
    /// A valid signature by a key the box does not trust, or no trust list was given (hex).
    Unknown(String),
    Unsigned,
}

/// Whom the box trusts ([`crate::config::ModelsConfig`]'s `trusted_keys` and `allow_unsigned`).
pub struct Trust {
    pub keys: Vec<VerifyingKey>,
    pub allow_unsigned: bool,
}

impl Trust {
    pub fn from_config(models: &crate::config::ModelsConfig) -> Result<Trust, String> {
        let keys = models
            .trusted_keys
            .iter()
            .map(|k| keys::parse_public(k).map_err(|m| format!("[models] trusted_keys: {m}")))
            .collect::<Result<_, _>>()?;
        Ok(Trust { keys, allow_unsigned: models.allow_unsigned })
    }
}

/// A bundle that passed every check that needs no runtime: structure, hashes, signature, manifest.
#[derive(Debug)]
pub struct Inspected {
    pub path: PathBuf,
    pub manifest: BundleManifest,
    pub manifest_bytes: Vec<u8>,
    pub signature: Option<Vec<u8>>,
    pub signer: Signer,
    /// The bundle's `model.toml`, parsed and validated against this runtime's tensor contract.
    pub model: Manifest,
    /// sha256 of the whole bundle file.
    pub sha256: String,
}

fn damaged(e: impl std::fmt::Display) -> Error {
    Error::bad(format!("the bundle is truncated or damaged (not a complete tar file): {e}; copy it again"))
}

fn next_entry<'a, R: Read>(entries: &mut tar::Entries<'a, R>) -> Result<Option<tar::Entry<'a, R>>, Error> {
    entries.next().transpose().map_err(damaged)
}

/// The member's name, if it is a regular file with a plain relative path.
/// The `bundle.sig` member, if the entry after `bundle.toml` is one, and the entry after it.
type SignatureAndNext<'a, R> = (Option<Vec<u8>>, Option<tar::Entry<'a, R>>);

fn optional_signature<'a, R: Read>(entries: &mut tar::Entries<'a, R>, limit: u64) -> Result<SignatureAndNext<'a, R>, Error> {
    let mut pending = next_entry(entries)?;
    if let Some(entry) = pending.as_mut() {
        if entry_name(entry)? == SIGNATURE {
            let signature = read_small(entry, SIGNATURE, limit)?;
            return Ok((Some(signature), next_entry(entries)?));
        }
    }
    Ok((None, pending))
}

fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> Result<String, Error> {
    let raw = entry.path_bytes();
    let name = String::from_utf8_lossy(&raw).into_owned();
    let kind = entry.header().entry_type();
    if kind != tar::EntryType::Regular {
        return Err(Error::bad(format!(
            "member '{}' is a {kind:?}, not a regular file (links, devices and folders are refused)",
            name.escape_default()
        )));
    }
    if std::str::from_utf8(&raw).is_err() {
        return Err(Error::bad(format!("member name '{}' is not UTF-8", name.escape_default())));
    }
    check_member_path(&name).map_err(Error::bad)?;
    Ok(name)
}

/// Reads a small member whole, refusing it before reading if its header claims more than `limit`.
fn read_small<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str, limit: u64) -> Result<Vec<u8>, Error> {
    if entry.size() > limit {
        return Err(Error::bad(format!("'{name}' is {} bytes, over the limit of {limit}", entry.size())));
    }
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.by_ref().take(limit).read_to_end(&mut bytes).map_err(damaged)?;
    if bytes.len() as u64 != entry.size() {
        return Err(damaged(format!("'{name}' is cut short")));
    }
    Ok(bytes)
}

/// Checks the members after `bundle.toml` and `bundle.sig` against the manifest as they stream by.
struct Members<'m> {
    manifest: &'m BundleManifest,
    seen: HashSet<String>,
}

impl Members<'_> {
    /// Checks one member and copies its bytes to `sink`, bounded by its listed size.
    fn copy<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>, name: &str, sink: &mut dyn Write) -> Result<(), Error> {
        if name == MANIFEST || name == SIGNATURE {
            return Err(Error::bad(format!("'{name}' appears again later in the bundle")));
        }
        let member = self.manifest.member(name).ok_or_else(|| {
            Error::bad(format!("member '{name}' is not listed in bundle.toml: the bundle was tampered with or badly made"))
        })?;
        if !self.seen.insert(name.to_string()) {
            return Err(Error::bad(format!("member '{name}' appears twice in the bundle")));
        }
        if entry.size() != member.size {
            return Err(Error::bad(format!("member '{name}' is {} bytes but bundle.toml says {}", entry.size(), member.size)));
        }
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 16];
        let (mut left, mut reader) = (member.size, entry.take(member.size));
        while left > 0 {
            let n = reader.read(&mut buffer).map_err(damaged)?;
            if n == 0 {
                return Err(damaged(format!("member '{name}' is cut short")));
            }
            hasher.update(&buffer[..n]);
            sink.write_all(&buffer[..n]).map_err(|e| Error::new(Kind::Io, format!("writing '{name}': {e}")))?;
            left -= n as u64;
        }
        let actual = hex::encode(hasher.finalize());
        if !actual.eq_ignore_ascii_case(&member.sha256) {
            return Err(Error::new(
                Kind::BadSignature,
                format!("member '{name}' does not match its sha256 in bundle.toml: the bundle was altered or damaged after it was packed; get a fresh copy from the workstation"),
            ));
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), Error> {
        match self.manifest.files.iter().find(|m| !self.seen.contains(&m.path)) {
            Some(m) => Err(Error::bad(format!(
                "member '{}' listed in bundle.toml is missing: the bundle is truncated or incomplete; copy it again",
                m.path
            ))),
            None => Ok(()),
        }
    }
}

fn open(path: &Path) -> Result<tar::Archive<BufReader<File>>, Error> {
    let file = File::open(path).map_err(|e| Error::io("cannot read the bundle", path, e))?;
    Ok(tar::Archive::new(BufReader::new(file)))
}

/// Reads and checks a whole bundle without writing anything: member types, names and sizes, every
/// sha256, the signature (and, with `trust`, that the signer is trusted), and `model.toml`
/// (consistent with `bundle.toml`, tensor contract this runtime speaks).
pub fn inspect(path: &Path, limits: &Limits, trust: Option<&Trust>) -> Result<Inspected, Error> {
    let sha256 = dus_core::model::sha256_file(path).map_err(|e| Error::io("cannot read the bundle", path, e))?;
    let mut archive = open(path)?;
    let mut entries = archive.entries().map_err(damaged)?;

    let mut first = next_entry(&mut entries)?.ok_or_else(|| Error::bad("the file is empty, not a model bundle"))?;
    let name = entry_name(&first)?;
    if name != MANIFEST {
        return Err(Error::bad(format!(
            "the first member is '{name}', not bundle.toml: this is not a model bundle made by edge-tool pack"
        )));
    }
    let manifest_bytes = read_small(&mut first, MANIFEST, limits.manifest)?;
    let manifest = parse_manifest(&manifest_bytes)?;
    manifest.check(limits)?;

    let (signature, mut pending) = optional_signature(&mut entries, limits.signature)?;
    let signer = check_signature(signature.as_deref(), &manifest_bytes, trust)?;

    let mut members = Members { manifest: &manifest, seen: HashSet::new() };
    let mut model_bytes = Vec::new();
    while let Some(mut entry) = pending {
        let name = entry_name(&entry)?;
        if name == Manifest::FILE {
            if entry.size() > limits.manifest {
                return Err(Error::bad(format!("model.toml is {} bytes, over the limit of {}", entry.size(), limits.manifest)));
            }
            members.copy(&mut entry, &name, &mut model_bytes)?;
        } else {
            members.copy(&mut entry, &name, &mut std::io::sink())?;
        }
        if members.seen.len() > limits.members {
            return Err(Error::bad("the bundle holds too many members"));
        }
        pending = next_entry(&mut entries)?;
    }
    members.finish()?;
    let model = check_model(&manifest, &model_bytes)?;
    Ok(Inspected { path: path.to_path_buf(), manifest, manifest_bytes, signature, signer, model, sha256 })
}

fn parse_manifest(bytes: &[u8]) -> Result<BundleManifest, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::bad("bundle.toml is not UTF-8 text"))?;
    let table: toml::Table = toml::from_str(text).map_err(|e| Error::bad(format!("bundle.toml is not valid TOML: {e}")))?;
    match table.get("format").and_then(toml::Value::as_integer) {
        Some(f) if f == i64::from(FORMAT) => {}
        Some(f) => {
            return Err(Error::new(
                Kind::Incompatible,
                format!(
                    "the bundle has format {f}; this dus-edge ({}) reads format {FORMAT}: update the box software or re-pack",
                    env!("CARGO_PKG_VERSION")
                ),
            ))
        }
        None => return Err(Error::bad("bundle.toml has no format number")),
    }
    toml::from_str(text).map_err(|e| Error::bad(format!("bundle.toml is not a valid bundle manifest: {e}")))
}

fn check_signature(signature: Option<&[u8]>, manifest: &[u8], trust: Option<&Trust>) -> Result<Signer, Error> {
    let signer = match signature {
        Some(bytes) => {
            let text = std::str::from_utf8(bytes).map_err(|_| Error::new(Kind::BadSignature, "bundle.sig is not text"))?;
            let key = keys::verify(text, manifest).map_err(|m| Error::new(Kind::BadSignature, m))?;
            let hex = keys::public_hex(&key);
            if trust.is_some_and(|t| t.keys.contains(&key)) {
                Signer::Trusted(hex)
            } else {
                Signer::Unknown(hex)
            }
        }
        None => Signer::Unsigned,
    };
    match (&signer, trust) {
        (Signer::Unknown(hex), Some(t)) if !t.allow_unsigned => Err(Error::new(
            Kind::BadSignature,
            format!("the bundle is signed by key {hex}, which this box does not trust; if that key is yours, add it to trusted_keys in the box's edge.toml"),
        )),
        (Signer::Unsigned, Some(t)) if !t.allow_unsigned => Err(Error::new(
            Kind::BadSignature,
            "the bundle is not signed; this box only accepts bundles signed by a trusted key (edge-tool pack --key)",
        )),
        _ => Ok(signer),
    }
}

/// `model.toml` must agree with `bundle.toml` and speak this runtime's tensor contract.
fn check_model(manifest: &BundleManifest, bytes: &[u8]) -> Result<Manifest, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::bad("model.toml is not UTF-8 text"))?;
    let model: Manifest = toml::from_str(text).map_err(|e| Error::bad(format!("model.toml in the bundle is not a model manifest: {e}")))?;
    for entry in [&model.files.down, &model.files.up, &model.files.reference] {
        match manifest.member(&entry.path) {
            Some(m) if m.sha256.eq_ignore_ascii_case(&entry.sha256) => {}
            _ => {
                return Err(Error::bad(format!(
                    "model.toml names '{}' (sha256 {}), which bundle.toml does not list with that hash",
                    entry.path, entry.sha256
                )))
            }
        }
    }
    if model.model.name != manifest.model.name || model.model.version != manifest.model.version {
        return Err(Error::bad("model.toml and bundle.toml disagree on the model's name or version"));
    }
    if model.tensors != manifest.tensors {
        return Err(Error::bad("model.toml and bundle.toml disagree on the tensor contract"));
    }
    model.validate().map_err(|m| {
        Error::new(
            Kind::Incompatible,
            format!(
                "the model does not fit this runtime (dus-edge {}): {m}; it needs a matching dus-edge version or a re-export",
                env!("CARGO_PKG_VERSION")
            ),
        )
    })?;
    Ok(model)
}

impl Inspected {
    /// Runtime compatibility: the bundle's dus-edge version range must hold this build, and one of
    /// the providers the box may run on must be among those the golden answers came from.
    /// Returns warnings worth showing.
    pub fn check_runtime(&self, runtime: &RuntimeConfig) -> Result<Vec<String>, Error> {
        let ours = env!("CARGO_PKG_VERSION");
        let range = &self.manifest.runtime.dus_edge;
        let req = semver::VersionReq::parse(range)
            .map_err(|e| Error::bad(format!("bundle.toml: runtime range '{range}' is not a semver requirement: {e}")))?;
        if !req.matches(&semver::Version::parse(ours).expect("the crate version is semver")) {
            return Err(Error::new(
                Kind::Incompatible,
                format!("the bundle needs dus-edge {range}, this box runs {ours}: update the box software, or ask for a bundle packed for {ours}"),
            ));
        }
        let tested = &self.manifest.runtime.providers;
        let mut usable: Vec<&str> = runtime.providers.iter().map(String::as_str).collect();
        if !runtime.strict && !usable.contains(&"cpu") {
            usable.push("cpu");
        }
        if !usable.iter().any(|p| tested.iter().any(|t| t == p)) {
            return Err(Error::new(
                Kind::Incompatible,
                format!("the bundle was tested on {tested:?} but this box runs only on {usable:?}: re-pack it on a workstation with one of this box's providers (edge-tool pack --providers ... --strict)"),
            ));
        }
        let mut warnings = Vec::new();
        if let Some(first) = usable.first() {
            if !tested.iter().any(|t| t == first) {
                warnings.push(format!("the bundle was tested on {tested:?}, not on '{first}' which this box prefers; the smoke test on this box is its first run there"));
            }
        }
        Ok(warnings)
    }
}

/// Writes an inspected bundle into `dest` (which must not exist), checking every member again as
/// it streams (the file may have changed since [`inspect`]), then fsyncs files and folders.
pub fn extract(inspected: &Inspected, limits: &Limits, dest: &Path) -> Result<(), Error> {
    let mut archive = open(&inspected.path)?;
    let mut entries = archive.entries().map_err(damaged)?;
    std::fs::create_dir(dest).map_err(|e| Error::io("cannot create", dest, e))?;
    let changed = || Error::bad("the bundle file changed while it was being installed; copy it again");
    let write_small = |name: &str, bytes: &[u8]| -> Result<(), Error> {
        let path = dest.join(name);
        let mut file = new_file(&path)?;
        file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| Error::io("cannot write", &path, e))
    };

    let mut first = next_entry(&mut entries)?.ok_or_else(changed)?;
    if entry_name(&first)? != MANIFEST || read_small(&mut first, MANIFEST, limits.manifest)? != inspected.manifest_bytes {
        return Err(changed());
    }
    write_small(MANIFEST, &inspected.manifest_bytes)?;
    let (signature, mut pending) = optional_signature(&mut entries, limits.signature)?;
    if signature != inspected.signature {
        return Err(changed());
    }
    if let Some(bytes) = &signature {
        write_small(SIGNATURE, bytes)?;
    }

    let mut members = Members { manifest: &inspected.manifest, seen: HashSet::new() };
    let mut folders: Vec<PathBuf> = vec![dest.to_path_buf()];
    while let Some(mut entry) = pending {
        let name = entry_name(&entry)?;
        let path = dest.join(&name);
        let mut folder = dest.to_path_buf();
        for part in Path::new(&name).parent().into_iter().flat_map(Path::components) {
            folder.push(part);
            if !folders.contains(&folder) {
                match std::fs::create_dir(&folder) {
                    Ok(()) => folders.push(folder.clone()),
                    Err(e) => return Err(Error::io("cannot create", &folder, e)),
                }
            }
        }
        let mut file = new_file(&path)?;
        members.copy(&mut entry, &name, &mut file)?;
        file.sync_all().map_err(|e| Error::io("cannot write", &path, e))?;
        pending = next_entry(&mut entries)?;
    }
    members.finish()?;
    for folder in folders.iter().rev() {
        crate::durable::sync_dir(folder).map_err(|e| Error::io("cannot sync", folder, e))?;
    }
    Ok(())
}

fn new_file(path: &Path) -> Result<File, Error> {
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(path).map_err(|e| Error::io("cannot create", path, e))
}
