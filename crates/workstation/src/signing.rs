//! Ed25519 keys for signing bundles: the secret key stays on the workstation (`PREFIX.key`, hex,
//! mode 0600), the public key goes into each box's `edge.toml` (`[models] trusted_keys`). The box
//! side (parsing public keys, checking `bundle.sig`) is `dus_box::bundle::keys`.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use dus_box::bundle::keys::public_hex;
use ed25519_dalek::{Signer as _, SigningKey};

/// A fresh key from the operating system's random source.
pub fn generate() -> std::io::Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(format!("no random source: {e}")))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Writes `PREFIX.key` (secret, 0600, never overwritten) and `PREFIX.pub`; returns both paths.
pub fn write_pair(key: &SigningKey, prefix: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    let with = |ext: &str| {
        let mut name = prefix.as_os_str().to_owned();
        name.push(ext);
        PathBuf::from(name)
    };
    let (secret, public) = (with(".key"), with(".pub"));
    for path in [&secret, &public] {
        if path.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} already exists; not overwriting a key", path.display()),
            ));
        }
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&secret)?;
    file.write_all(format!("{}\n", hex::encode(key.to_bytes())).as_bytes())?;
    file.sync_all()?;
    std::fs::write(&public, format!("{}\n", public_hex(&key.verifying_key())))?;
    Ok((secret, public))
}

/// Reads a secret key file written by [`write_pair`].
pub fn read_secret(path: &Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read the key: {e}", path.display()))?;
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode()).unwrap_or(0);
    if mode & 0o077 != 0 {
        log::warn!("{}: the secret key is readable by others (mode {:o}); chmod 600 it", path.display(), mode & 0o777);
    }
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{}: not a secret key (expected 64 hex digits, as written by edge-tool keygen)", path.display()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// The `bundle.sig` text for `message`: `ed25519 <public key hex> <signature hex>\n`.
pub fn sign(key: &SigningKey, message: &[u8]) -> String {
    format!("ed25519 {} {}\n", public_hex(&key.verifying_key()), hex::encode(key.sign(message).to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dus_box::bundle::keys::{parse_public, verify};

    #[test]
    fn a_signature_verifies_only_over_the_signed_bytes() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let sig = sign(&key, b"format = 1\n");
        assert_eq!(verify(&sig, b"format = 1\n").unwrap(), key.verifying_key());
        assert!(verify(&sig, b"format = 2\n").unwrap_err().contains("altered"));
        assert!(verify("ed25519 00", b"x").is_err());
    }

    #[test]
    fn keygen_writes_a_private_secret_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("signer");
        let key = generate().unwrap();
        let (secret, public) = write_pair(&key, &prefix).unwrap();
        assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(read_secret(&secret).unwrap().to_bytes(), key.to_bytes());
        assert_eq!(parse_public(&std::fs::read_to_string(&public).unwrap()).unwrap(), key.verifying_key());
        assert!(write_pair(&generate().unwrap(), &prefix).is_err());
        assert_eq!(read_secret(&secret).unwrap().to_bytes(), key.to_bytes());
    }
}
