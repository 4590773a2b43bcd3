//! Secrets: passwords held in memory as briefly and as quietly as possible.
//!
//! A [`Secret`] never prints itself (`Debug` shows `<redacted>`, and there
//! is no `Display`), and its memory is wiped when it is dropped.

use std::fmt;

use zeroize::Zeroizing;

/// A password or other secret text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(text: String) -> Self {
        Secret(Zeroizing::new(text))
    }

    /// The secret text itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_output_hides_the_secret() {
        let secret = Secret::new("hunter2".into());
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(secret.expose(), "hunter2");
    }
}
