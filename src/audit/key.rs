//! The audit key: a secret that turns the hash chain into an HMAC chain,
//! so that someone who can write the store file but does not hold the key
//! cannot append records that verify.
//!
//! The key is text: 32 to 1024 printable ASCII characters, no spaces (what
//! `openssl rand -hex 32` or `openssl rand -base64 32` prints), used as
//! the HMAC-SHA-256 key byte for byte. It comes from `PGACCT_AUDIT_KEY`, or
//! else from the file `[audit] key_file` names (a regular file that only
//! its owner may read, like libpq's password file; surrounding whitespace
//! is ignored). It is never stored in the registry, and records name it
//! only by its id, an HMAC of a fixed text that tells keys apart.

use std::fmt;
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// The environment variable that holds the key.
pub const KEY_VAR: &str = "PGACCT_AUDIT_KEY";

const MIN_LEN: usize = 32;
const MAX_LEN: usize = 1024;

/// `[audit]` in `config.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The file that holds the audit key (an absolute path); `PGACCT_AUDIT_KEY` wins over it.
    pub key_file: Option<PathBuf>,
}

impl KeyConfig {
    /// Checks what can be checked without reading the file.
    pub fn check(&self) -> Result<(), String> {
        match &self.key_file {
            Some(path) if !path.is_absolute() => {
                Err(format!("[audit] key_file must be an absolute path, not '{}'", path.display()))
            }
            _ => Ok(()),
        }
    }
}

/// An audit key, ready to make record hashes. `Debug` shows only its id.
#[derive(Clone)]
pub struct AuditKey {
    /// HMAC-SHA-256 keyed once, cloned for every record.
    mac: Hmac<Sha256>,
    id: String,
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditKey(id {}, <redacted>)", self.id)
    }
}

/// Why no key could be had from where it was configured.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "{source_name}: the audit key must be {MIN_LEN} to {MAX_LEN} characters long, not {len}"
    )]
    Length { source_name: String, len: usize },
    #[error(
        "{source_name}: the audit key must be printable ASCII without spaces \
         (e.g. `openssl rand -hex 32`)"
    )]
    Characters { source_name: String },
    #[error("audit key file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("audit key file {}: others may read or write it (mode {mode:04o})", path.display())]
    TooOpen { path: PathBuf, mode: u32 },
}

impl KeyError {
    pub fn hint(&self) -> String {
        match self {
            KeyError::TooOpen { path, .. } => format!("chmod 600 {}", path.display()),
            _ => format!(
                "make a key with `openssl rand -hex 32`; give it in {KEY_VAR}, or put it in a \
                 file (mode 0600) and name that in [audit] key_file"
            ),
        }
    }
}

impl AuditKey {
    /// The key `text` holds, checked; `source_name` says where it came from
    /// in errors (which never show the text).
    pub fn parse(text: &str, source_name: &str) -> Result<AuditKey, KeyError> {
        let text = text.trim_ascii();
        if !(MIN_LEN..=MAX_LEN).contains(&text.len()) {
            return Err(KeyError::Length { source_name: source_name.into(), len: text.len() });
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(KeyError::Characters { source_name: source_name.into() });
        }
        let mac =
            Hmac::<Sha256>::new_from_slice(text.as_bytes()).expect("HMAC takes keys of any length");
        let mut id_mac = mac.clone();
        id_mac.update(b"pgacct-audit-key-id");
        let id = super::chain::hex(&id_mac.finalize().into_bytes()[..8]);
        Ok(AuditKey { mac, id })
    }

    /// The key this process has: `PGACCT_AUDIT_KEY` (`env`) when set and
    /// not empty, else the key file, else none.
    pub fn find(env: Option<&str>, config: &KeyConfig) -> Result<Option<AuditKey>, KeyError> {
        if let Some(text) = env.filter(|t| !t.is_empty()) {
            return AuditKey::parse(text, KEY_VAR).map(Some);
        }
        match &config.key_file {
            Some(path) => AuditKey::read(path).map(Some),
            None => Ok(None),
        }
    }

    /// The key in the file at `path`, which must be a regular file that no
    /// one but its owner can read.
    pub fn read(path: &Path) -> Result<AuditKey, KeyError> {
        let fail = |reason: String| KeyError::File { path: path.to_owned(), reason };
        // stat before open: opening a FIFO would block.
        let before = std::fs::metadata(path).map_err(|err| fail(err.to_string()))?;
        if !before.is_file() {
            return Err(fail("not a regular file".into()));
        }
        let mut file = std::fs::File::open(path).map_err(|err| fail(err.to_string()))?;
        let meta = file.metadata().map_err(|err| fail(err.to_string()))?;
        if !meta.is_file() || (meta.dev(), meta.ino()) != (before.dev(), before.ino()) {
            return Err(fail("changed while it was read".into()));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen { path: path.to_owned(), mode });
        }
        let mut text = zeroize::Zeroizing::new(String::new());
        file.by_ref()
            .take(4 * MAX_LEN as u64)
            .read_to_string(&mut text)
            .map_err(|err| fail(err.to_string()))?;
        AuditKey::parse(&text, &format!("audit key file {}", path.display()))
    }

    /// Tells keys apart without revealing them: 16 hex digits.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// HMAC-SHA-256 under this key, ready for data.
    pub(super) fn mac(&self) -> Hmac<Sha256> {
        self.mac.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_key_is_long_printable_text_and_never_shows() {
        let key = AuditKey::parse(&format!("  {KEY}\n"), KEY_VAR).unwrap();
        assert_eq!(key.id().len(), 16);
        assert_eq!(AuditKey::parse(KEY, KEY_VAR).unwrap().id(), key.id(), "whitespace trimmed");
        assert_ne!(AuditKey::parse(&KEY.replace('0', "1"), KEY_VAR).unwrap().id(), key.id());
        assert!(!format!("{key:?}").contains(KEY));

        let short = AuditKey::parse(&KEY[1..], KEY_VAR).unwrap_err().to_string();
        assert!(short.contains("31") && !short.contains(&KEY[1..]), "{short}");
        let spaced = format!("{} {}", &KEY[..16], &KEY[16..]);
        let err = AuditKey::parse(&spaced, KEY_VAR).unwrap_err().to_string();
        assert!(err.contains("printable") && !err.contains(&KEY[..16]), "{err}");
        assert!(AuditKey::parse(&"é".repeat(20), KEY_VAR).is_err());
    }

    #[test]
    fn the_variable_wins_over_the_file_and_an_empty_one_counts_as_unset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        std::fs::write(&path, format!("{}\n", KEY.to_uppercase())).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = KeyConfig { key_file: Some(path) };
        let from_file = AuditKey::find(None, &config).unwrap().unwrap();
        assert_eq!(AuditKey::find(Some(""), &config).unwrap().unwrap().id(), from_file.id());
        let from_env = AuditKey::find(Some(KEY), &config).unwrap().unwrap();
        assert_ne!(from_env.id(), from_file.id());
        assert!(AuditKey::find(None, &KeyConfig::default()).unwrap().is_none());
    }

    #[test]
    fn a_key_file_others_can_read_or_that_is_not_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        std::fs::write(&path, KEY).unwrap();
        for mode in [0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = AuditKey::read(&path).unwrap_err();
            assert!(err.to_string().contains("others may read"), "{err}");
            assert_eq!(err.hint(), format!("chmod 600 {}", path.display()));
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(AuditKey::read(&path).is_ok());
        let err = AuditKey::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        assert!(AuditKey::read(&dir.path().join("missing")).is_err());
        let relative = KeyConfig { key_file: Some("audit.key".into()) };
        assert!(relative.check().unwrap_err().contains("absolute"));
    }
}
