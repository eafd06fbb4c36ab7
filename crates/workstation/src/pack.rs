//! Writing bundles (what `edge-tool pack` does once the golden answers are known).

use std::fs::File;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::SigningKey;

use dus_box::bundle::{check_member_path, BundleManifest, Error, Kind, Member, MANIFEST, SIGNATURE};

use crate::signing;

/// Size and sha256 of each of `paths` (relative to `source`), as `bundle.toml` lists them.
pub fn describe(source: &Path, paths: &[String]) -> Result<Vec<Member>, Error> {
    paths
        .iter()
        .map(|path| {
            check_member_path(path).map_err(Error::bad)?;
            let full = source.join(path);
            let meta = std::fs::metadata(&full).map_err(|e| Error::io("cannot read", &full, e))?;
            if !meta.is_file() {
                return Err(Error::bad(format!("{} is not a regular file", full.display())));
            }
            let sha256 = dus_core::model::sha256_file(&full).map_err(|e| Error::io("cannot read", &full, e))?;
            Ok(Member { path: path.clone(), size: meta.len(), sha256 })
        })
        .collect()
}

fn header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

/// Writes the bundle to `out` (atomically: a temporary file renamed into place): `bundle.toml`,
/// `bundle.sig` when `key` is given, then each listed member read from `source`, whose size and
/// sha256 must still be those listed.
pub fn write(out: &Path, source: &Path, manifest: &BundleManifest, key: Option<&SigningKey>) -> Result<(), Error> {
    let text = toml::to_string_pretty(manifest).map_err(|e| Error::bad(format!("cannot write bundle.toml: {e}")))?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let io = |e: std::io::Error| Error::io("cannot write", out, e);
    let temp = tempfile::NamedTempFile::new_in(parent).map_err(io)?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(temp));
    builder.append_data(&mut header(text.len() as u64), MANIFEST, text.as_bytes()).map_err(io)?;
    if let Some(key) = key {
        let sig = signing::sign(key, text.as_bytes());
        builder.append_data(&mut header(sig.len() as u64), SIGNATURE, sig.as_bytes()).map_err(io)?;
    }
    for member in &manifest.files {
        let now = describe(source, std::slice::from_ref(&member.path))?.remove(0);
        if now != *member {
            return Err(Error::new(Kind::Io, format!("{} changed while packing", source.join(&member.path).display())));
        }
        let file = File::open(source.join(&member.path)).map_err(io)?;
        builder.append_data(&mut header(member.size), &member.path, file).map_err(io)?;
    }
    let mut writer = builder.into_inner().map_err(io)?;
    writer.flush().map_err(io)?;
    let temp = writer.into_inner().map_err(|e| io(e.into_error()))?;
    temp.as_file().sync_all().map_err(io)?;
    temp.persist(out).map_err(|e| io(e.error))?;
    Ok(())
}
