//! The team store's hash chain, recomputed on the client: the server's
//! append function (`store::team`) sets each record's time, writer and
//! hash, and this file says byte for byte what that hash covers, so that
//! `audit verify` can check the shared trail from any machine.
//!
//! `hash = hex(SHA-256(canonical))`, where `canonical` is a sequence of
//! fields, each either `N` (NULL) or `S<len>:<bytes>` (the UTF-8 bytes of
//! the value, `len` their count in decimal): the version tag
//! `pgacct-team-v1`, the previous record's hash, then every column of the
//! record in table order. Numbers are in decimal, booleans `true`/`false`,
//! the time `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC. Length prefixes keep
//! field boundaries unambiguous and NULL distinct from an empty string.
//! A record moved in from a local trail (`imported_from` set, schema
//! version 2) has three more fields at the end: `imported_from`,
//! `imported_id`, `imported_hash`; any other record hashes as in version 1.
//!
//! The file depends on nothing else of pgacct: the integration tests
//! compile it as it is and check it against real servers.

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first record (the local trail's too).
pub const TEAM_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The first field of every canonical form; a new form gets a new tag.
pub const TEAM_VERSION: &str = "pgacct-team-v1";

/// The time as the canonical form spells it; PostgreSQL's
/// `to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.
const TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

/// Every column of a row of the team store's `audit` table except its
/// hashes, in table order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRecord {
    pub id: i64,
    /// Set by the server, in microseconds.
    pub ts: jiff::Timestamp,
    /// `started`, `ok` or `failed`.
    pub outcome: String,
    pub started_id: Option<i64>,
    /// The database user who wrote the record (its `session_user`), set by
    /// the server.
    pub actor: String,
    /// The OS user pgacct ran as, as the client reported it.
    pub os_user: String,
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
    /// Copied from a local trail by `store migrate`.
    pub imported: bool,
    /// The identity of the local trail it was copied from (`file:<hash of
    /// its first record>`), its id and its hash there; `None` for records
    /// written in the store.
    pub imported_from: Option<String>,
    pub imported_id: Option<i64>,
    pub imported_hash: Option<String>,
}

impl TeamRecord {
    /// The hash the server gives this record when it follows `prev_hash`.
    pub fn hash(&self, prev_hash: &str) -> String {
        hex(&Sha256::digest(self.canonical(prev_hash)))
    }

    /// The bytes the hash covers.
    pub fn canonical(&self, prev_hash: &str) -> Vec<u8> {
        let mut out = Canonical(Vec::with_capacity(512));
        out.text(Some(TEAM_VERSION));
        out.text(Some(prev_hash));
        out.number(Some(self.id));
        out.text(Some(&self.ts.strftime(TS_FORMAT).to_string()));
        out.text(Some(&self.outcome));
        out.number(self.started_id);
        out.text(Some(&self.actor));
        out.text(Some(&self.os_user));
        out.text(Some(&self.host));
        out.number(Some(self.pid));
        out.text(self.ci_job.as_deref());
        out.text(self.ticket.as_deref());
        out.text(Some(&self.operation));
        out.text(self.env.as_deref());
        out.text(self.db.as_deref());
        out.text(self.cluster.as_deref());
        out.text(self.role.as_deref());
        out.text(Some(&self.status));
        out.text(self.error.as_deref());
        out.number(self.duration_ms);
        out.text(self.sql.as_deref());
        out.text(Some(if self.imported { "true" } else { "false" }));
        if self.imported_from.is_some() {
            out.text(self.imported_from.as_deref());
            out.number(self.imported_id);
            out.text(self.imported_hash.as_deref());
        }
        out.0
    }
}

struct Canonical(Vec<u8>);

impl Canonical {
    fn text(&mut self, value: Option<&str>) {
        match value {
            None => self.0.push(b'N'),
            Some(value) => {
                self.0.extend_from_slice(format!("S{}:", value.len()).as_bytes());
                self.0.extend_from_slice(value.as_bytes());
            }
        }
    }

    fn number(&mut self, value: Option<i64>) {
        self.text(value.map(|n| n.to_string()).as_deref());
    }
}

/// A row of the team trail as stored: the record and its two hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRow {
    pub record: TeamRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// Where and how the team chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamBreak {
    pub id: i64,
    pub problem: String,
}

/// `audit verify` over the team trail: fed the rows in id order, one at a
/// time, it keeps only the last id and hash.
#[derive(Debug, Clone)]
pub struct TeamChain {
    last_id: Option<i64>,
    expected_prev: String,
    records: u64,
}

impl Default for TeamChain {
    fn default() -> Self {
        TeamChain { last_id: None, expected_prev: TEAM_GENESIS.to_owned(), records: 0 }
    }
}

impl TeamChain {
    /// Checks the next row: that it follows the one before (the server
    /// numbers records 1, 2, 3, ..., so a gap is a removed row, and a link
    /// to another hash an inserted, replaced or re-ordered one) and that
    /// its hash is the one its contents give (an edited row does not). The
    /// problems are worded as the local trail's.
    pub fn step(&mut self, row: &TeamRow) -> Result<(), TeamBreak> {
        let id = row.record.id;
        let last = self.last_id.unwrap_or(0);
        if id <= last {
            return Err(TeamBreak { id, problem: format!("record #{id} is out of order") });
        }
        if id > last + 1 {
            let problem = if id == last + 2 {
                format!("record #{} is missing (deleted)", last + 1)
            } else {
                format!("records #{} to #{} are missing (deleted)", last + 1, id - 1)
            };
            return Err(TeamBreak { id: last + 1, problem });
        }
        if row.prev_hash != self.expected_prev {
            let after = if last == 0 { "the start".to_owned() } else { format!("record #{last}") };
            let problem =
                format!("record #{id} does not follow {after} (inserted, replaced or re-ordered)");
            return Err(TeamBreak { id, problem });
        }
        if row.record.hash(&row.prev_hash) != row.hash {
            let problem = format!("record #{id} does not match its hash (edited)");
            return Err(TeamBreak { id, problem });
        }
        self.last_id = Some(id);
        self.expected_prev.clone_from(&row.hash);
        self.records += 1;
        Ok(())
    }

    /// How many rows have verified.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The last verified row's id and hash.
    pub fn head(&self) -> Option<(i64, &str)> {
        self.last_id.map(|id| (id, self.expected_prev.as_str()))
    }
}

/// Verifies a whole trail, given in id order: the first break, if any.
#[cfg_attr(not(test), allow(dead_code, reason = "pgacct streams the rows through TeamChain"))]
pub fn verify_team_chain<'a>(
    rows: impl IntoIterator<Item = &'a TeamRow>,
) -> Result<u64, TeamBreak> {
    let mut chain = TeamChain::default();
    for row in rows {
        chain.step(row)?;
    }
    Ok(chain.records())
}

fn hex(bytes: &[u8]) -> String {
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

    /// Record #2 of a trail written through `append_audit` on PostgreSQL 15,
    /// with the hash the server gave it.
    fn from_the_server() -> TeamRow {
        TeamRow {
            record: TeamRecord {
                id: 2,
                ts: "2026-12-07T02:28:41.103596Z".parse().unwrap(),
                outcome: "ok".into(),
                started_id: Some(1),
                actor: "alice".into(),
                os_user: "me".into(),
                host: "h".into(),
                pid: 1,
                ci_job: Some(String::new()),
                ticket: Some("T-1".into()),
                operation: "registry.add".into(),
                env: Some("qa".into()),
                db: Some("db".into()),
                cluster: Some("h:5432".into()),
                role: None,
                status: "added é".into(),
                error: None,
                duration_ms: Some(12),
                sql: Some("SELECT 1".into()),
                imported: false,
                imported_from: None,
                imported_id: None,
                imported_hash: None,
            },
            prev_hash: "4e6a614e2b2f26e7d175a2b59ea5fd5bb294f6cf0184e6cfad5f02b8e1908dd0".into(),
            hash: "14400ed4595486d9102e562c1e56083a3e3f8fbb4b72c39610f6059b459eae87".into(),
        }
    }

    /// The canonical form is a contract with the server's `canonical()`:
    /// these bytes are what `convert_from(canonical(a), 'UTF8')` printed.
    #[test]
    fn the_canonical_form_is_the_servers() {
        let row = from_the_server();
        assert_eq!(
            String::from_utf8(row.record.canonical(&row.prev_hash)).unwrap(),
            "S14:pgacct-team-v1\
             S64:4e6a614e2b2f26e7d175a2b59ea5fd5bb294f6cf0184e6cfad5f02b8e1908dd0\
             S1:2S27:2026-12-07T02:28:41.103596ZS2:okS1:1S5:aliceS2:meS1:hS1:1S0:S3:T-1\
             S12:registry.addS2:qaS2:dbS6:h:5432NS8:added éNS2:12S8:SELECT 1S5:false"
        );
        assert_eq!(row.record.hash(&row.prev_hash), row.hash);
    }

    /// Record #3 of a store of schema version 2 on PostgreSQL 15, moved in
    /// by `import_audit`: the import fields close the canonical form.
    #[test]
    fn an_imported_record_hashes_its_origin_too() {
        let row = TeamRow {
            record: TeamRecord {
                id: 3,
                ts: "2026-11-26T17:49:03.2Z".parse().unwrap(),
                outcome: "ok".into(),
                started_id: Some(2),
                actor: "bob".into(),
                os_user: "bob".into(),
                host: "bast".into(),
                pid: 4,
                ci_job: None,
                ticket: None,
                operation: "registry.add".into(),
                env: Some("prod".into()),
                db: Some("orders".into()),
                cluster: Some("h:1".into()),
                role: None,
                status: "target added".into(),
                error: None,
                duration_ms: Some(3),
                sql: None,
                imported: true,
                imported_from: Some("file:abc".into()),
                imported_id: Some(2),
                imported_hash: Some("bb".into()),
            },
            prev_hash: "e9c71020442d6d73fbd200a560e0c9ee7445d8f68fbb26c5575fcb68abf4e719".into(),
            hash: "1790bbd3dd76eb2bdc3c333279405c5dc0074d71940e34747ebefb5fde0e2998".into(),
        };
        assert_eq!(
            String::from_utf8(row.record.canonical(&row.prev_hash)).unwrap(),
            "S14:pgacct-team-v1\
             S64:e9c71020442d6d73fbd200a560e0c9ee7445d8f68fbb26c5575fcb68abf4e719\
             S1:3S27:2026-11-26T17:49:03.200000ZS2:okS1:2S3:bobS3:bobS4:bastS1:4NN\
             S12:registry.addS4:prodS6:ordersS3:h:1NS12:target addedNS1:3NS4:true\
             S8:file:abcS1:2S2:bb"
        );
        assert_eq!(row.record.hash(&row.prev_hash), row.hash);
        let mut other = row.record.clone();
        other.imported_hash = Some("bc".into());
        assert_ne!(other.hash(&row.prev_hash), row.hash);
    }

    /// Whole seconds still spell six digits, as `to_char(.., 'US')` does.
    #[test]
    fn the_time_always_has_microseconds() {
        let mut record = from_the_server().record;
        record.ts = "2026-12-07T02:28:41Z".parse().unwrap();
        let canonical = String::from_utf8(record.canonical(TEAM_GENESIS)).unwrap();
        assert!(canonical.contains("S27:2026-12-07T02:28:41.000000Z"), "{canonical}");
    }

    #[test]
    fn every_field_and_the_previous_hash_count() {
        let row = from_the_server();
        let base = row.record.hash(&row.prev_hash);
        assert_ne!(row.record.hash(TEAM_GENESIS), base);
        let changed: [fn(&mut TeamRecord); 5] = [
            |r| r.actor = "bob".into(),
            |r| r.ts += jiff::SignedDuration::from_micros(1),
            |r| r.ci_job = None,
            |r| r.imported = true,
            |r| r.id = 3,
        ];
        for change in changed {
            let mut record = row.record.clone();
            change(&mut record);
            assert_ne!(record.hash(&row.prev_hash), base, "{record:?}");
        }
        // Moving bytes from one field to the next changes the hash too.
        let mut moved = row.record.clone();
        moved.env = Some("qad".into());
        moved.db = Some("b".into());
        assert_ne!(moved.hash(&row.prev_hash), base);
    }

    fn trail(n: i64) -> Vec<TeamRow> {
        let mut rows: Vec<TeamRow> = Vec::new();
        for id in 1..=n {
            let mut record = from_the_server().record;
            record.id = id;
            let prev_hash = rows.last().map_or(TEAM_GENESIS.to_owned(), |r| r.hash.clone());
            let hash = record.hash(&prev_hash);
            rows.push(TeamRow { record, prev_hash, hash });
        }
        rows
    }

    #[test]
    fn an_intact_trail_verifies() {
        assert_eq!(verify_team_chain(&trail(5)), Ok(5));
        assert_eq!(verify_team_chain(&[]), Ok(0));
        let mut chain = TeamChain::default();
        for row in &trail(2) {
            chain.step(row).unwrap();
        }
        assert_eq!(chain.head(), Some((2, trail(2)[1].hash.as_str())));
    }

    #[test]
    fn the_first_bad_record_is_named() {
        let mut edited = trail(5);
        edited[2].record.status = "nothing happened".into();
        let err = verify_team_chain(&edited).unwrap_err();
        assert_eq!(err.id, 3);
        assert_eq!(err.problem, "record #3 does not match its hash (edited)");

        let mut removed = trail(5);
        removed.remove(1);
        let err = verify_team_chain(&removed).unwrap_err();
        assert_eq!((err.id, err.problem.as_str()), (2, "record #2 is missing (deleted)"));

        let mut first_gone = trail(3);
        first_gone.remove(0);
        assert_eq!(verify_team_chain(&first_gone).unwrap_err().id, 1);

        // Rows renumbered into each other's places: the link breaks.
        let mut swapped = trail(3);
        swapped.swap(1, 2);
        (swapped[1].record.id, swapped[2].record.id) = (2, 3);
        let err = verify_team_chain(&swapped).unwrap_err();
        assert_eq!(
            (err.id, err.problem.as_str()),
            (2, "record #2 does not follow record #1 (inserted, replaced or re-ordered)")
        );
    }
}
