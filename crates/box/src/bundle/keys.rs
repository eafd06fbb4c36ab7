//! Ed25519 public keys and bundle signatures, as a box checks them: the public keys come from
//! `edge.toml` (`[models] trusted_keys`). Making keys and signing is the workstation's
//! (`dus_workstation::signing`).

use ed25519_dalek::{Signature, VerifyingKey};

/// A public key as hex, the way `PREFIX.pub`, `trusted_keys` and `bundle.sig` write it.
pub fn public_hex(key: &VerifyingKey) -> String {
    hex::encode(key.to_bytes())
}

/// Parses a public key in hex (as in `PREFIX.pub` and `trusted_keys`).
pub fn parse_public(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("'{}' is not an Ed25519 public key (64 hex digits)", text.trim()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("'{}' is not a valid Ed25519 public key: {e}", text.trim()))
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
