//! How long a password stays valid: a type's `valid_for_days`, or
//! `--valid-for` for one run; and the `VALID UNTIL` that makes from now.

use std::fmt;

use jiff::{SignedDuration, Timestamp};

use super::MAX_VALID_FOR_DAYS;

/// A span a password stays valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidFor {
    Span(SignedDuration),
    /// `never`: `VALID UNTIL 'infinity'`.
    Never,
}

impl ValidFor {
    pub fn days(days: u32) -> ValidFor {
        ValidFor::Span(SignedDuration::from_hours(24 * i64::from(days)))
    }

    /// `--valid-for`: a span such as `30d`, `12h` or `2w` (as `audit show
    /// --since` takes them), up to ten years, or `never`.
    pub fn parse(text: &str) -> Result<ValidFor, String> {
        if text == "never" {
            return Ok(ValidFor::Never);
        }
        let most = ValidFor::days(MAX_VALID_FOR_DAYS);
        match crate::time::span(text) {
            Some(span) if span.is_positive() && ValidFor::Span(span) <= most => {
                Ok(ValidFor::Span(span))
            }
            Some(_) => Err(format!(
                "a span must be more than 0 and at most {MAX_VALID_FOR_DAYS}d (ten years)"
            )),
            None => Err(format!(
                "invalid span '{text}': use a number and a unit (30d, 12h, 2w), or never"
            )),
        }
    }

    /// The `VALID UNTIL` this makes, counted from `now`.
    pub fn from(self, now: Timestamp) -> ValidUntil {
        match self {
            // Within ten years of now: far from jiff's limits.
            ValidFor::Span(span) => ValidUntil::At(now.saturating_add(span).unwrap_or(now)),
            ValidFor::Never => ValidUntil::Never,
        }
    }
}

impl PartialOrd for ValidFor {
    fn partial_cmp(&self, other: &ValidFor) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (ValidFor::Span(a), ValidFor::Span(b)) => a.partial_cmp(b),
            (ValidFor::Never, ValidFor::Never) => Some(std::cmp::Ordering::Equal),
            (ValidFor::Never, _) => Some(std::cmp::Ordering::Greater),
            (_, ValidFor::Never) => Some(std::cmp::Ordering::Less),
        }
    }
}

/// As `--valid-for` takes it back: `30d`, `12h`, `never`.
impl fmt::Display for ValidFor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ValidFor::Span(span) = self else { return f.write_str("never") };
        let seconds = span.as_secs();
        let (unit, size) = [("d", 86_400), ("h", 3_600), ("m", 60)]
            .into_iter()
            .find(|(_, size)| seconds % size == 0)
            .unwrap_or(("s", 1));
        write!(f, "{}{unit}", seconds / size)
    }
}

/// A role's `VALID UNTIL`, as a change sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidUntil {
    At(Timestamp),
    Never,
}

impl ValidUntil {
    /// As `VALID UNTIL` takes it: `2027-01-06T05:40:00Z`, or `infinity`.
    pub fn literal(self) -> String {
        match self {
            ValidUntil::At(at) => at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ValidUntil::Never => "infinity".to_owned(),
        }
    }

    /// In a status: `valid until 2027-01-06` (the day, in UTC), or `valid
    /// until infinity`.
    pub fn status(self) -> String {
        match self {
            ValidUntil::At(at) => format!("valid until {}", at.strftime("%Y-%m-%d")),
            ValidUntil::Never => "valid until infinity".to_owned(),
        }
    }
}

impl fmt::Display for ValidUntil {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.literal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-12-07T05:40:12.345Z".parse().unwrap()
    }

    #[test]
    fn spans_and_never_are_read() {
        assert_eq!(ValidFor::parse("30d"), Ok(ValidFor::days(30)));
        assert_eq!(ValidFor::parse("2w"), Ok(ValidFor::days(14)));
        assert_eq!(ValidFor::parse("12h"), Ok(ValidFor::Span(SignedDuration::from_hours(12))));
        assert_eq!(ValidFor::parse("3650d"), Ok(ValidFor::days(3650)));
        assert_eq!(ValidFor::parse("never"), Ok(ValidFor::Never));
        for text in ["30d", "12h", "90m", "45s", "never"] {
            assert_eq!(ValidFor::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(ValidFor::parse("2w").unwrap().to_string(), "14d");
    }

    #[test]
    fn nothing_forever_and_nonsense_are_refused() {
        for (text, said) in [
            ("0d", "more than 0"),
            ("3651d", "at most 3650d"),
            ("30", "invalid span '30'"),
            ("-1d", "invalid span"),
            ("forever", "or never"),
        ] {
            let err = ValidFor::parse(text).unwrap_err();
            assert!(err.contains(said), "{text}: {err}");
        }
    }

    #[test]
    fn valid_until_counts_from_now_to_the_second() {
        let until = ValidFor::days(30).from(now());
        assert_eq!(until.literal(), "2027-01-06T05:40:12Z");
        assert_eq!(until.status(), "valid until 2027-01-06");
        assert_eq!(ValidFor::Never.from(now()).literal(), "infinity");
        assert_eq!(ValidFor::Never.from(now()).status(), "valid until infinity");
    }
}
