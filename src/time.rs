//! Timestamps as pgacct writes them: UTC, RFC 3339, milliseconds.

/// The current time, e.g. `2026-11-26T17:49:03.127Z`.
pub fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_rfc3339_utc_with_milliseconds() {
        let now = super::now();
        assert_eq!(now.len(), "2026-11-26T17:49:03.127Z".len(), "{now}");
        assert!(now.ends_with('Z'));
        assert!(now.parse::<jiff::Timestamp>().is_ok(), "{now}");
    }
}
