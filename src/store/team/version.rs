//! Whether a team store's schema version is one this pgacct can use: the
//! query that reads it, and the verdict, a typed error for a store from a
//! newer pgacct.

use super::{Names, current};

/// What a store's schema version means to this pgacct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// The schema exists but no migration has run.
    Empty,
    /// Older than this pgacct's: its owner runs `pgacct store init` again.
    Older(i32),
    Current,
}

/// Why a store cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error(
        "the team store in schema {schema} has schema version {found}, but this pgacct knows \
         only up to {known}"
    )]
    Newer { schema: String, found: i32, known: i32 },
}

impl VersionError {
    /// What to do instead.
    pub fn hint(&self) -> &'static str {
        match self {
            VersionError::Newer { .. } => {
                "a newer pgacct set up this store; upgrade pgacct (the store was not modified)"
            }
        }
    }
}

impl Names {
    /// The query that reads a store's schema version: one row, NULL when
    /// no migration has run. It fails when there is no store in the schema.
    pub fn version_query(&self) -> String {
        self.fill("SELECT max(version) FROM {schema}.schema_version")
    }

    /// Judges `found`, what [`Names::version_query`] read.
    pub fn check_version(&self, found: Option<i32>) -> Result<Version, VersionError> {
        match found {
            None => Ok(Version::Empty),
            Some(v) if v == current() => Ok(Version::Current),
            Some(v) if v < current() => Ok(Version::Older(v)),
            Some(found) => Err(VersionError::Newer {
                schema: self.schema.as_str().to_owned(),
                found,
                known: current(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(schema: &str, role: &str) -> Names {
        Names { schema: schema.parse().unwrap(), role: role.parse().unwrap() }
    }

    #[test]
    fn a_newer_store_is_refused_an_older_one_is_not() {
        let names = Names::default();
        assert_eq!(names.check_version(None), Ok(Version::Empty));
        assert_eq!(names.check_version(Some(current())), Ok(Version::Current));
        if current() > 1 {
            assert_eq!(names.check_version(Some(1)), Ok(Version::Older(1)));
        }
        let err = names.check_version(Some(current() + 1)).unwrap_err();
        assert_eq!(
            err,
            VersionError::Newer { schema: "pgacct".into(), found: current() + 1, known: current() }
        );
        assert!(err.to_string().contains("knows only up to"), "{err}");
        assert!(err.hint().contains("upgrade pgacct"));
    }

    #[test]
    fn the_version_query_names_the_schema() {
        assert_eq!(
            names("s2", "r2").version_query(),
            "SELECT max(version) FROM \"s2\".schema_version"
        );
    }
}
