//! Write-only values (project env values, webhook secrets, git tokens): the [`Secret`] type that never
//! shows its value when serialised or debug-printed, and the seal at rest: AES-256-GCM with a key in
//! `data_dir/secret.key` (mode 0600) or `VERSIONGATE_SECRET_KEY` (64 hex characters).

use aes_gcm::aead::{Aead, Key, KeyInit, Nonce};
use aes_gcm::Aes256Gcm;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::Cell;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const PREFIX: &str = "enc:v1:";
/// What a write-only value looks like when read back.
pub(crate) const MASK: &str = "***";

/// A write-only value. It serialises as `***` (an empty one as `""`) and debug-prints as `***`, so no API
/// answer, log line or printed config can show it, whichever field holds it. Only [`reveal`] (the store,
/// and a PATCH merge on the server) serialises the value itself.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one place that uses it (a signature check, a container's env, a git login).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { MASK })
    }
}

thread_local! {
    static REVEAL: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (a serialisation: synchronous, no await) with every [`Secret`] serialising its value.
pub(crate) fn reveal<T>(f: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            REVEAL.with(|r| r.set(false));
        }
    }
    REVEAL.with(|r| r.set(true));
    let _reset = Reset;
    f()
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let revealed = REVEAL.with(Cell::get);
        serializer.serialize_str(if revealed || self.0.is_empty() { &self.0 } else { MASK })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("VERSIONGATE_SECRET_KEY must be 64 hex characters (32 bytes); generate one with `openssl rand -hex 32`")]
    BadKey,
    #[error("cannot read or create the secret key file {path}: {source}. Check that data_dir is writable")]
    KeyFile { path: PathBuf, source: std::io::Error },
    #[error("cannot generate random bytes: {0}")]
    Random(String),
    #[error("a stored secret cannot be decrypted: the key in data_dir/secret.key (or VERSIONGATE_SECRET_KEY) is not the one it was written with")]
    WrongKey,
}

pub(crate) struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// Random bytes from the OS.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], SecretError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
    Ok(bytes)
}

/// Creates (or truncates) `path` with mode 0600 and writes `text`.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())
}

impl SecretBox {
    pub(crate) fn from_hex(hex_key: &str) -> Result<SecretBox, SecretError> {
        let bytes: [u8; 32] =
            hex::decode(hex_key.trim()).ok().and_then(|b| b.try_into().ok()).ok_or(SecretError::BadKey)?;
        let key: Key<Aes256Gcm> = bytes.into();
        Ok(SecretBox { cipher: Aes256Gcm::new(&key) })
    }

    /// The key from `env_key` when set, else from `data_dir/secret.key`, generated on first use.
    pub(crate) fn load_or_create(data_dir: &Path, env_key: Option<&str>) -> Result<SecretBox, SecretError> {
        if let Some(key) = env_key.filter(|k| !k.trim().is_empty()) {
            return SecretBox::from_hex(key);
        }
        let path = data_dir.join("secret.key");
        let file_err = |source| SecretError::KeyFile { path: path.clone(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) => SecretBox::from_hex(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = hex::encode(random::<32>()?);
                write_private(&path, &format!("{key}\n")).map_err(file_err)?;
                SecretBox::from_hex(&key)
            }
            Err(e) => Err(file_err(e)),
        }
    }

    /// `enc:v1:<hex of nonce and ciphertext>`; empty values stay empty.
    pub(crate) fn seal(&self, plain: &str) -> Result<String, SecretError> {
        if plain.is_empty() {
            return Ok(String::new());
        }
        let nonce_bytes = random::<12>()?;
        let nonce: Nonce<Aes256Gcm> = nonce_bytes.into();
        let sealed = self.cipher.encrypt(&nonce, plain.as_bytes()).map_err(|_| SecretError::WrongKey)?;
        Ok(format!("{PREFIX}{}{}", hex::encode(nonce_bytes), hex::encode(sealed)))
    }

    /// The plaintext of a sealed value; a value without the prefix was stored before encryption and is returned as is.
    pub(crate) fn open(&self, stored: &str) -> Result<String, SecretError> {
        let Some(body) = stored.strip_prefix(PREFIX) else { return Ok(stored.to_owned()) };
        let bytes = hex::decode(body).map_err(|_| SecretError::WrongKey)?;
        if bytes.len() < 12 {
            return Err(SecretError::WrongKey);
        }
        let nonce_bytes: [u8; 12] = bytes[..12].try_into().map_err(|_| SecretError::WrongKey)?;
        let nonce: Nonce<Aes256Gcm> = nonce_bytes.into();
        let plain = self.cipher.decrypt(&nonce, &bytes[12..]).map_err(|_| SecretError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| SecretError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_its_value_only_when_revealed() {
        let s = Secret::from("hunter2");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(serde_json::to_string(&Secret::default()).unwrap(), "\"\"", "empty stays visibly empty");
        assert_eq!(reveal(|| serde_json::to_string(&s).unwrap()), "\"hunter2\"");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"", "masked again after reveal");
        let back: Secret = serde_json::from_str("\"new\"").unwrap();
        assert_eq!(back.expose(), "new");
    }

    #[test]
    fn sealed_values_round_trip_and_hide_the_plaintext() {
        let b = SecretBox::from_hex(&"ab".repeat(32)).unwrap();
        let sealed = b.seal("postgres://user:hunter2@db").unwrap();
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("hunter2"));
        assert_ne!(sealed, b.seal("postgres://user:hunter2@db").unwrap(), "a fresh nonce every time");
        assert_eq!(b.open(&sealed).unwrap(), "postgres://user:hunter2@db");
        assert_eq!(b.open("legacy plain").unwrap(), "legacy plain");
        let other = SecretBox::from_hex(&"cd".repeat(32)).unwrap();
        assert!(matches!(other.open(&sealed), Err(SecretError::WrongKey)));
        assert!(matches!(SecretBox::from_hex("short"), Err(SecretError::BadKey)));
    }

    #[test]
    fn the_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretBox::load_or_create(dir.path(), None).unwrap();
        let mode = std::fs::metadata(dir.path().join("secret.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = a.seal("x").unwrap();
        let b = SecretBox::load_or_create(dir.path(), None).unwrap();
        assert_eq!(b.open(&sealed).unwrap(), "x");
    }
}
