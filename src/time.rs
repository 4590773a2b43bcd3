//! Timestamps as pgacct writes them: UTC, RFC 3339, milliseconds; and
//! spans as options give them (`90s`, `30m`, `24h`, `7d`, `2w`).

use jiff::SignedDuration;

/// The current time, e.g. `2026-11-26T17:49:03.127Z`.
pub fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A span such as `90s`, `30m` (or `30min`), `24h`, `7d`, `2w`: a whole
/// number and one unit; `None` for anything else, or one too long.
pub fn span(text: &str) -> Option<SignedDuration> {
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(digits);
    let number: i64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    Some(SignedDuration::from_secs(number.checked_mul(seconds)?))
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

    #[test]
    fn spans_are_a_number_and_a_unit() {
        let hours = |h| Some(super::SignedDuration::from_hours(h));
        assert_eq!(super::span("30d"), hours(720));
        assert_eq!(super::span("2w"), hours(336));
        assert_eq!(super::span("12h"), hours(12));
        for nonsense in ["", "d", "30", "30 d", "-3d", "1.5d", "5y", "99999999999999999999w"] {
            assert_eq!(super::span(nonsense), None, "{nonsense:?}");
        }
    }
}
