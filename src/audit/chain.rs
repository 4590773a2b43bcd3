//! The hash chain: what exactly a record's hash covers.
//!
//! `hash = hex(SHA-256(prev_hash ‖ canonical))`, where `canonical` is the
//! compact JSON array of a version tag and every field of the record, the
//! id included, in a fixed order. Including the id makes a re-ordered or
//! re-numbered record fail; including `prev_hash` makes a deleted or
//! inserted one fail at the record after it.
//!
//! A record made with an audit key has instead
//! `hash = hex(HMAC-SHA-256(key, prev_hash ‖ canonical))`, over the same
//! bytes: without the key, no one can make a record that verifies.

use hmac::Mac;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use sha2::digest::Update;
use sha2::{Digest, Sha256};

use super::AuditKey;

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Bumped if the canonical form ever changes; old records keep theirs.
const VERSION: &str = "pgacct-audit-v1";

/// Every field of a record except its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: i64,
    pub ts: String,
    /// `started`, `ok` or `failed`.
    pub outcome: String,
    pub started_id: Option<i64>,
    pub actor: String,
    pub host: String,
    pub pid: i64,
    pub ci_job: Option<String>,
    pub ticket: Option<String>,
    pub operation: String,
    pub env: Option<String>,
    pub db: Option<String>,
    pub cluster: Option<String>,
    pub role: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
    pub sql: Option<String>,
}

impl Record {
    /// The hash this record has when it follows a record with `prev_hash`.
    pub fn hash(&self, prev_hash: &str) -> String {
        let mut sha = HashWriter(Sha256::new());
        Digest::update(&mut sha.0, prev_hash.as_bytes());
        serde_json::to_writer(&mut sha, &Canonical(self))
            .expect("writing JSON into a hash cannot fail");
        hex(&sha.0.finalize())
    }

    /// The hash this record has when it follows `prev_hash` and is made
    /// with `key`; the plain [`Record::hash`] without one.
    pub fn hash_with(&self, key: Option<&AuditKey>, prev_hash: &str) -> String {
        let Some(key) = key else { return self.hash(prev_hash) };
        let mut mac = HashWriter(key.mac());
        Mac::update(&mut mac.0, prev_hash.as_bytes());
        serde_json::to_writer(&mut mac, &Canonical(self))
            .expect("writing JSON into a hash cannot fail");
        hex(&mac.0.finalize().into_bytes())
    }
}

/// The record as its canonical JSON array, streamed without building it.
struct Canonical<'a>(&'a Record);

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut seq = serializer.serialize_seq(Some(19))?;
        seq.serialize_element(VERSION)?;
        seq.serialize_element(&r.id)?;
        seq.serialize_element(&r.ts)?;
        seq.serialize_element(&r.outcome)?;
        seq.serialize_element(&r.started_id)?;
        seq.serialize_element(&r.actor)?;
        seq.serialize_element(&r.host)?;
        seq.serialize_element(&r.pid)?;
        seq.serialize_element(&r.ci_job)?;
        seq.serialize_element(&r.ticket)?;
        seq.serialize_element(&r.operation)?;
        seq.serialize_element(&r.env)?;
        seq.serialize_element(&r.db)?;
        seq.serialize_element(&r.cluster)?;
        seq.serialize_element(&r.role)?;
        seq.serialize_element(&r.status)?;
        seq.serialize_element(&r.error)?;
        seq.serialize_element(&r.duration_ms)?;
        seq.serialize_element(&r.sql)?;
        seq.end()
    }
}

/// A hash or MAC as an `io::Write`, so that JSON streams into it.
struct HashWriter<H>(H);

impl<H: Update> std::io::Write for HashWriter<H> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            id: 1,
            ts: "2026-11-26T17:49:03.127Z".into(),
            outcome: "started".into(),
            started_id: None,
            actor: "alice".into(),
            host: "bastion".into(),
            pid: 4242,
            ci_job: None,
            ticket: Some("CHG-1".into()),
            operation: "registry.add".into(),
            env: Some("prod".into()),
            db: Some("orders".into()),
            cluster: Some("db1:5432".into()),
            role: None,
            status: "add \"x\"".into(),
            error: None,
            duration_ms: None,
            sql: None,
        }
    }

    /// The canonical form is a contract: tools outside pgacct (and the
    /// benchmark's filler) compute the same hashes.
    #[test]
    fn the_canonical_form_is_stable() {
        assert_eq!(
            serde_json::to_string(&Canonical(&record())).unwrap(),
            r#"["pgacct-audit-v1",1,"2026-11-26T17:49:03.127Z","started",null,"alice","bastion",4242,null,"CHG-1","registry.add","prod","orders","db1:5432",null,"add \"x\"",null,null,null]"#
        );
        // sha256(GENESIS ‖ canonical), as computed by Python's hashlib and json.
        assert_eq!(
            record().hash(GENESIS),
            "b907cd727c386f66bed74d948bd3b23c5a345815e6b3a6502374333f047e8ab2"
        );
    }

    /// An HMAC over the same bytes, with the key as given: what Python's
    /// `hmac.new(key, prev_hash + canonical, sha256)` computes.
    #[test]
    fn a_keyed_hash_is_an_hmac_of_the_same_bytes() {
        let key = AuditKey::parse("0123456789abcdef0123456789abcdef", "test").unwrap();
        assert_eq!(
            record().hash_with(Some(&key), GENESIS),
            "f31b0da4419c441b7cd8fab6ed19fa433efa1c6980ecf80f9a19ce62de08c853"
        );
        assert_eq!(key.id(), "67d2c2943e507080");
        assert_eq!(record().hash_with(None, GENESIS), record().hash(GENESIS));
    }

    #[test]
    fn every_field_and_the_previous_hash_count() {
        let base = record().hash(GENESIS);
        assert_ne!(record().hash(&"1".repeat(64)), base);
        let mut moved = record();
        moved.id = 2;
        assert_ne!(moved.hash(GENESIS), base);
        let mut edited = record();
        edited.ticket = None;
        assert_ne!(edited.hash(GENESIS), base);
        // null and an empty string are different values.
        let mut empty = record();
        empty.ci_job = Some(String::new());
        assert_ne!(empty.hash(GENESIS), base);
    }
}
