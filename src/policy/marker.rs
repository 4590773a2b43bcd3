//! The marker on every role pgacct creates: a `COMMENT ON ROLE` of
//! `pgacct ` and compact JSON, `{"v":1,"type":"vm","created":
//! "2026-12-07T05:40:00Z","ticket":"CHG-1"}`. It travels with the role, so
//! any pgacct (and any report) tells managed roles from others, and their
//! type, without the local audit trail.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What a marker comment starts with.
pub const PREFIX: &str = "pgacct ";

/// The version of the marker this pgacct writes.
pub const VERSION: u32 = 1;

/// A role's marker: the type it was created as, when, and the ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub v: u32,
    /// The account type.
    #[serde(rename = "type")]
    pub kind: String,
    /// UTC, RFC 3339, to the second.
    pub created: String,
    #[serde(default)]
    pub ticket: Option<String>,
}

impl Marker {
    pub fn new(kind: &str, created: Timestamp, ticket: Option<&str>) -> Marker {
        Marker {
            v: VERSION,
            kind: kind.to_owned(),
            created: created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ticket: ticket.map(str::to_owned),
        }
    }

    /// The comment: [`PREFIX`], then the marker as compact JSON, its keys
    /// in a fixed order.
    pub fn render(&self) -> String {
        // A struct of strings and a number always serializes.
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{PREFIX}{json}")
    }
}

/// The marker in a role's comment; `None` for any other comment. Keys a
/// later version adds are ignored.
pub fn parse(comment: &str) -> Option<Marker> {
    let json = comment.strip_prefix(PREFIX)?;
    serde_json::from_str::<Marker>(json).ok().filter(|m| m.v >= 1 && !m.kind.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Timestamp {
        "2026-12-07T05:40:00.918Z".parse().unwrap()
    }

    #[test]
    fn a_marker_is_prefix_and_compact_json() {
        assert_eq!(
            Marker::new("vm", at(), Some("CHG-1")).render(),
            r#"pgacct {"v":1,"type":"vm","created":"2026-12-07T05:40:00Z","ticket":"CHG-1"}"#
        );
        assert_eq!(
            Marker::new("k8s", at(), None).render(),
            r#"pgacct {"v":1,"type":"k8s","created":"2026-12-07T05:40:00Z","ticket":null}"#
        );
    }

    #[test]
    fn what_is_rendered_parses_back() {
        for ticket in [None, Some("CHG-1"), Some(r#"it's "quoted" \ and ünïcode"#)] {
            let marker = Marker::new("readonly", at(), ticket);
            assert_eq!(parse(&marker.render()), Some(marker));
        }
    }

    #[test]
    fn later_versions_parse_and_other_comments_do_not() {
        let later = parse(r#"pgacct {"v":2,"type":"vm","created":"2030-01-01T00:00:00Z","new":1}"#);
        assert_eq!(later.map(|m| (m.v, m.kind, m.ticket)), Some((2, "vm".into(), None)));
        for other in [
            "",
            "application account of team X",
            r#"{"v":1,"type":"vm","created":"2026-12-07T05:40:00Z"}"#,
            r#"pgacct{"v":1,"type":"vm","created":"2026-12-07T05:40:00Z"}"#,
            r#"pgacct {"v":0,"type":"vm","created":"2026-12-07T05:40:00Z"}"#,
            r#"pgacct {"v":1,"type":"","created":"2026-12-07T05:40:00Z"}"#,
            r#"pgacct {"v":1,"created":"2026-12-07T05:40:00Z"}"#,
            "pgacct not json",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }
}
