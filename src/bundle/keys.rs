//! Ed25519 keys for signing bundles: the secret key stays on the workstation (`PREFIX.key`, hex,
//! mode 0600), the public key goes into each box's `edge.toml` (`[models] trusted_keys`).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

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

pub fn public_hex(key: &VerifyingKey) -> String {
    hex::encode(key.to_bytes())
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

/// Parses a public key in hex (as in `PREFIX.pub` and `trusted_keys`).
pub fn parse_public(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("'{}' is not an Ed25519 public key (64 hex digits)", text.trim()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("'{}' is not a valid Ed25519 public key: {e}", text.trim()))
}

/// The `bundle.sig` text for `message`: `ed25519 <public key hex> <signature hex>\n`.
pub fn sign(key: &SigningKey, message: &[u8]) -> String {
    format!("ed25519 {} {}\n", public_hex(&key.verifying_key()), hex::encode(key.sign(message).to_bytes()))
}

/// Parses `bundle.sig` and checks it over `message`; returns the signer's key.
pub fn verify(sig_text: &str, message: &[u8]) -> Result<VerifyingKey, String> {
    let fields: Vec<&str> = sig_text.split_whitespace().collect();
    let [scheme, public, signature] = fields[..] else {
        return Err("bundle.sig is not 'ed25519 <public key> <signature>'".into());
    };
    if scheme != "ed25519" {
        return Err(format!("bundle.sig uses '{scheme}', only ed25519 is supported"));
    }
    let key = parse_public(public)?;
    let bytes: [u8; 64] =
        hex::decode(signature).ok().and_then(|b| b.try_into().ok()).ok_or("bundle.sig: the signature is not 128 hex digits")?;
    key.verify_strict(message, &Signature::from_bytes(&bytes))
        .map_err(|_| format!("the signature does not match bundle.toml (signer {public}): the bundle was altered after signing"))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

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
