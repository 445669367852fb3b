//! The raw JSON of SCIM records, SCIM groups and accounts, stored once per distinct content and
//! compressed (issue 24, item 4): table `raw_json`, keyed by the xxh3-128 hash every version row
//! already carries. A version row written since holds `''` in its own `raw` column; older rows keep
//! their text there. [`text_of`] reads either back as it arrived.

use rusqlite::{OptionalExtension, Transaction, params};

/// `raw_json.codec`: zstd with [`DICTIONARY_V1`] as a raw-content dictionary. The dictionary of a
/// codec never changes: a new one is a new codec, and old rows keep decoding with theirs.
const ZSTD_DICTIONARY_V1: i64 = 1;

/// What the three Atlassian bodies share (atlassian-api.md §1–§2: the SCIM user and group and the
/// Organizations API account, with made-up values): zstd refers back into it, so each record costs
/// little more than its own ids, names and dates. Fixed for [`ZSTD_DICTIONARY_V1`].
const DICTIONARY_V1: &[u8] = br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"00000000-0000-0000-0000-000000000000","displayName":"jira-software-users","externalId":"00000000-0000-0000-0000-000000000000","members":[{"value":"00000000-0000-0000-0000-000000000000","display":"Example Person","$ref":"https://api.atlassian.com/scim/directory/00000000-0000-0000-0000-000000000000/Users/00000000-0000-0000-0000-000000000000","type":"User"}],"meta":{"resourceType":"Group","created":"2024-01-01T00:00:00Z","lastModified":"2024-01-01T00:00:00Z","location":"https://api.atlassian.com/scim/directory/00000000-0000-0000-0000-000000000000/Groups/00000000-0000-0000-0000-000000000000"}}
{"accountId":"000000000000000000000000","accountType":"atlassian","accountStatus":"active","membershipStatus":"active","status":"active","claimStatus":"managed","managementSource":"synced","email":"person@example.com","name":"Example Person","nickname":"person","addedToOrg":"2024-01-01T00:00:00Z","deactivatedOn":null,"forDeletion":false}
{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","urn:scim:schemas:extension:atlassian-external:1.0"],"id":"00000000-0000-0000-0000-000000000000","externalId":"00000000-0000-0000-0000-000000000000","userName":"person@example.com","emails":[{"value":"person@example.com","type":"work","primary":true}],"name":{"givenName":"Example","familyName":"Person","formatted":"Example Person"},"displayName":"Example Person","active":true,"groups":[{"value":"00000000-0000-0000-0000-000000000000","display":"jira-software-users"}],"meta":{"resourceType":"User","created":"2024-01-01T00:00:00Z","lastModified":"2024-01-01T00:00:00Z","location":"https://api.atlassian.com/scim/directory/00000000-0000-0000-0000-000000000000/Users/00000000-0000-0000-0000-000000000000"},"urn:scim:schemas:extension:atlassian-external:1.0":{"atlassianAccountId":"000000000000000000000000"}}"#;

/// zstd's fastest level: the writer thread compresses every new version as it arrives.
const LEVEL: i32 = -1;

/// Compresses raw JSON for `raw_json` (one per pull's writer thread).
pub(super) struct Packer(zstd::bulk::Compressor<'static>);

impl Packer {
    pub(super) fn new() -> std::io::Result<Packer> {
        let mut c = zstd::bulk::Compressor::with_dictionary(LEVEL, DICTIONARY_V1)?;
        // The length is a column, and reading checks the text against the row's hash.
        c.include_contentsize(false)?;
        c.include_checksum(false)?;
        c.include_dictid(false)?;
        Ok(Packer(c))
    }

    fn pack(&mut self, raw: &str) -> rusqlite::Result<Vec<u8>> {
        self.0
            .compress(raw.as_bytes())
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
    }
}

/// Inserts bodies, each unless a body with its hash is already stored.
fn insert<'p>(
    tx: &Transaction,
    bodies: impl IntoIterator<Item = (&'p [u8; 16], usize, &'p [u8])>,
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO raw_json (hash, codec, length, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (hash) DO NOTHING",
    )?;
    for (hash, length, body) in bodies {
        stmt.execute(params![&hash[..], ZSTD_DICTIONARY_V1, length as i64, body])?;
    }
    Ok(())
}

/// Bodies compressed and not yet inserted, at most: inserted together (one statement look-up).
const PENDING: usize = 256;

/// Texts handed to the packing thread and not yet compressed, at most (a few KB each).
const IN_FLIGHT: usize = 1024;

/// One compressed text: its hash, its length, its body.
type Packed = ([u8; 16], usize, rusqlite::Result<Vec<u8>>);

/// The raw JSON of a pull's new versions, compressed on a thread of its own while the writer
/// inserts (compression was a fifth of the writer's time in a first pull): the writer hands each
/// text over and inserts the bodies as they come back, the rest at [`Packing::finish`]. Without
/// the thread (it could not start) it compresses inline. Dropped unfinished (a pull rolled back),
/// the thread ends once it has compressed what it was given.
pub(super) enum Packing {
    Thread {
        to: std::sync::mpsc::SyncSender<([u8; 16], String)>,
        from: std::sync::mpsc::Receiver<Packed>,
        thread: std::thread::JoinHandle<()>,
        pending: Vec<([u8; 16], usize, Vec<u8>)>,
    },
    Inline(Packer),
}

impl Packing {
    /// Errors: zstd could not start.
    pub(super) fn start() -> std::io::Result<Packing> {
        let mut packer = Packer::new()?;
        let (to, texts) = std::sync::mpsc::sync_channel::<([u8; 16], String)>(IN_FLIGHT);
        let (done, from) = std::sync::mpsc::channel::<Packed>();
        let spawned = std::thread::Builder::new()
            .name("scimdrift-store-pack".into())
            .spawn(move || {
                for (hash, raw) in texts {
                    let body = packer.pack(&raw);
                    if done.send((hash, raw.len(), body)).is_err() {
                        break;
                    }
                }
            });
        match spawned {
            Ok(thread) => Ok(Packing::Thread {
                to,
                from,
                thread,
                pending: Vec::with_capacity(PENDING),
            }),
            Err(e) => {
                tracing::debug!(error = %e, "no packing thread: compressed on the writer");
                Ok(Packing::Inline(Packer::new()?))
            }
        }
    }

    /// Stores `raw` (whose xxh3-128 is `hash`) unless a body with that hash is already stored,
    /// and inserts the bodies compressed since the last call.
    pub(super) fn store(
        &mut self,
        tx: &Transaction,
        hash: [u8; 16],
        raw: String,
    ) -> rusqlite::Result<()> {
        match self {
            Packing::Inline(p) => insert(tx, [(&hash, raw.len(), p.pack(&raw)?.as_slice())]),
            Packing::Thread {
                to, from, pending, ..
            } => {
                to.send((hash, raw)).map_err(|_| stopped())?;
                while let Ok((hash, length, body)) = from.try_recv() {
                    pending.push((hash, length, body?));
                }
                if pending.len() >= PENDING {
                    flush(tx, pending)?;
                }
                Ok(())
            }
        }
    }

    /// Inserts every body still being compressed.
    pub(super) fn finish(self, tx: &Transaction) -> rusqlite::Result<()> {
        let Packing::Thread {
            to,
            from,
            thread,
            mut pending,
        } = self
        else {
            return Ok(());
        };
        drop(to);
        for (hash, length, body) in from {
            pending.push((hash, length, body?));
        }
        flush(tx, &mut pending)?;
        thread.join().map_err(|_| stopped())
    }
}

fn flush(tx: &Transaction, pending: &mut Vec<([u8; 16], usize, Vec<u8>)>) -> rusqlite::Result<()> {
    insert(tx, pending.iter().map(|(h, l, b)| (h, *l, b.as_slice())))?;
    pending.clear();
    Ok(())
}

fn stopped() -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure("the raw JSON packing thread stopped".into())
}

/// The longest body decoded (a record's JSON is a few KB; a group's members list can be long).
const MAX_LENGTH: usize = 256 << 20;

/// Decodes one `raw_json` body. Errors name what is wrong (an unknown codec, a corrupted body).
fn unpack(codec: i64, length: i64, body: &[u8]) -> Result<String, String> {
    if codec != ZSTD_DICTIONARY_V1 {
        return Err(format!("unknown raw_json codec {codec}"));
    }
    // Our own column, yet read as untrusted: an absurd length must not allocate.
    let length = usize::try_from(length)
        .ok()
        .filter(|n| *n <= MAX_LENGTH)
        .ok_or_else(|| format!("corrupted raw_json length {length}"))?;
    let mut d = zstd::bulk::Decompressor::with_dictionary(DICTIONARY_V1)
        .map_err(|e| format!("cannot start zstd: {e}"))?;
    let bytes = d
        .decompress(body, length)
        .map_err(|e| format!("corrupted raw_json body: {e}"))?;
    if bytes.len() != length {
        return Err(format!(
            "corrupted raw_json body: {} bytes, {length} expected",
            bytes.len()
        ));
    }
    String::from_utf8(bytes).map_err(|_| "corrupted raw_json body: not UTF-8".into())
}

/// A versioned table whose rows carry raw JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawTable {
    ScimUsers,
    ScimGroups,
    Accounts,
}

impl RawTable {
    fn name(self) -> &'static str {
        match self {
            RawTable::ScimUsers => "scim_user_versions",
            RawTable::ScimGroups => "scim_group_versions",
            RawTable::Accounts => "account_versions",
        }
    }
}

/// The raw JSON of version row `id` of `table`, as it arrived: the row's own text, or its body in
/// `raw_json`. `Ok(None)`: no such row.
pub(super) fn text_of(
    conn: &rusqlite::Connection,
    table: RawTable,
    id: i64,
) -> rusqlite::Result<Option<Result<String, String>>> {
    let row: Option<(String, Vec<u8>)> = conn
        .query_row(
            &format!("SELECT raw, hash FROM {} WHERE id = ?1", table.name()),
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((raw, hash)) = row else {
        return Ok(None);
    };
    if !raw.is_empty() {
        return Ok(Some(Ok(raw)));
    }
    let Ok(expected) = <[u8; 16]>::try_from(hash.as_slice()) else {
        return Ok(Some(Err(format!(
            "{} row {id}: its hash is not 16 bytes",
            table.name()
        ))));
    };
    let body: Option<(i64, i64, Vec<u8>)> = conn
        .query_row(
            "SELECT codec, length, body FROM raw_json WHERE hash = ?1",
            [&hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(Some(match body {
        // The body's own check: the text must hash to the row's hash.
        Some((codec, length, body)) => unpack(codec, length, &body).and_then(|text| {
            if xxhash_rust::xxh3::xxh3_128(text.as_bytes()).to_le_bytes() == expected {
                Ok(text)
            } else {
                Err("corrupted raw_json body: its text does not match its hash".into())
            }
        }),
        None => Err(format!(
            "{} row {id}: its raw JSON is missing",
            table.name()
        )),
    }))
}

impl super::Store {
    /// The raw JSON of version row `id` of `table`, as the API sent it (from `raw_json` or, for a
    /// row written before it, the row itself). `Ok(None)`: no such row. A body that cannot be
    /// decoded is [`super::StoreError::Corrupt`], naming the table and row.
    pub fn raw_json(&self, table: RawTable, id: i64) -> Result<Option<String>, super::StoreError> {
        match text_of(&self.conn, table, id).map_err(self.err("cannot read raw JSON"))? {
            None => Ok(None),
            Some(Ok(text)) => Ok(Some(text)),
            Some(Err(detail)) => Err(super::StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!("{} row {id}: {detail}", table.name()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_round_trips_and_costs_a_fraction_of_its_text() {
        let raw = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","urn:scim:schemas:extension:atlassian-external:1.0"],"id":"3f1c9a52-7b2e-4d1a-9c3e-5b8f0a2d6e71","userName":"ana.ito@example.com","emails":[{"value":"ana.ito@example.com","type":"work","primary":true}],"displayName":"Ana Ito","active":true,"meta":{"resourceType":"User","created":"2024-03-11T09:12:44Z","lastModified":"2025-10-02T14:55:01Z"},"urn:scim:schemas:extension:atlassian-external:1.0":{"atlassianAccountId":"5b10ac8d82e05b22cc7d4ef5"}}"#;
        let mut p = Packer::new().unwrap();
        let body = p.0.compress(raw.as_bytes()).unwrap();
        assert!(
            body.len() * 3 < raw.len(),
            "{} of {}",
            body.len(),
            raw.len()
        );
        assert_eq!(unpack(1, raw.len() as i64, &body).unwrap(), raw);
    }

    #[test]
    fn a_corrupted_body_or_an_unknown_codec_is_an_error_not_a_panic() {
        let mut p = Packer::new().unwrap();
        let body = p.0.compress(b"{\"accountId\":\"x\"}").unwrap();
        assert!(unpack(2, 17, &body).unwrap_err().contains("codec 2"));
        assert!(unpack(1, 17, &body[..body.len() / 2]).is_err());
        assert!(unpack(1, 17, b"garbage").is_err());
        assert!(unpack(1, 5, &body).is_err(), "a wrong length is refused");
        assert!(unpack(1, -1, &body).is_err());
        assert!(
            unpack(1, i64::MAX, &body).is_err(),
            "an absurd length allocates nothing"
        );
    }
}
