//! `--since` and `--until`: RFC 3339 times, dates, and relative spans.

use jiff::civil::{Date, DateTime, Time};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};

/// A bound on record times, in the records' own format, so that it
/// compares as text. `since` bounds are inclusive, `until` bounds exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeBound(String);

impl TimeBound {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn at(ts: Timestamp) -> TimeBound {
        TimeBound(ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
    }
}

/// Which end of a range a bound closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Since,
    Until,
}

/// Reads `2026-11-26T10:00:00Z` (any offset; none means UTC), `2026-11-26`
/// (a whole day in UTC: from its start for `--since`, through its end for
/// `--until`), or a span before `now` such as `90s`, `30m`, `24h`, `7d`,
/// `2w`.
pub fn parse_bound(text: &str, side: Side, now: Timestamp) -> Result<TimeBound, String> {
    let text = text.trim();
    let inclusive_end = |ts: Timestamp| match side {
        Side::Since => ts,
        Side::Until => ts + SignedDuration::from_millis(1),
    };
    if let Some(span) = crate::time::span(text) {
        return now.checked_sub(span).map(TimeBound::at).map_err(|err| err.to_string());
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(TimeBound::at(inclusive_end(ts)));
    }
    if let Ok(civil) = text.parse::<DateTime>()
        && text.contains('T')
    {
        let ts = TimeZone::UTC.to_timestamp(civil).map_err(|err| err.to_string())?;
        return Ok(TimeBound::at(inclusive_end(ts)));
    }
    if let Ok(date) = text.parse::<Date>() {
        let day = match side {
            Side::Since => date,
            Side::Until => date.tomorrow().map_err(|err| err.to_string())?,
        };
        let ts = TimeZone::UTC
            .to_timestamp(day.to_datetime(Time::midnight()))
            .map_err(|err| err.to_string())?;
        return Ok(TimeBound::at(ts));
    }
    Err(format!(
        "invalid time '{text}': use RFC 3339 (2026-11-26T10:00:00Z), a date (2026-11-26), or a \
         span before now (90s, 30m, 24h, 7d, 2w)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-11-26T12:00:00Z".parse().unwrap()
    }

    fn bound(text: &str, side: Side) -> String {
        parse_bound(text, side, now()).unwrap().0
    }

    #[test]
    fn spans_count_back_from_now() {
        assert_eq!(bound("24h", Side::Since), "2026-11-25T12:00:00.000Z");
        assert_eq!(bound("7d", Side::Since), "2026-11-19T12:00:00.000Z");
        assert_eq!(bound("2w", Side::Since), "2026-11-12T12:00:00.000Z");
        assert_eq!(bound("30m", Side::Until), "2026-11-26T11:30:00.000Z");
        assert_eq!(bound("90s", Side::Since), "2026-11-26T11:58:30.000Z");
    }

    #[test]
    fn dates_cover_whole_utc_days() {
        assert_eq!(bound("2026-11-01", Side::Since), "2026-11-01T00:00:00.000Z");
        assert_eq!(bound("2026-11-01", Side::Until), "2026-11-02T00:00:00.000Z");
    }

    #[test]
    fn times_take_any_offset_and_until_includes_them() {
        assert_eq!(bound("2026-11-01T10:00:00+02:00", Side::Since), "2026-11-01T08:00:00.000Z");
        assert_eq!(bound("2026-11-01T10:00:00Z", Side::Until), "2026-11-01T10:00:00.001Z");
        assert_eq!(bound("2026-11-01T10:00:00", Side::Since), "2026-11-01T10:00:00.000Z");
    }

    #[test]
    fn nonsense_is_refused_with_examples() {
        let err = parse_bound("yesterday", Side::Since, now()).unwrap_err();
        assert!(err.contains("invalid time 'yesterday'") && err.contains("7d"), "{err}");
        assert!(parse_bound("5y", Side::Since, now()).is_err());
    }
}
