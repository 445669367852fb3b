//! Recording a pull as it streams in. A dedicated thread owns the database for the pull and holds
//! one transaction from the first page to the end: each page's records are compared (by hash of their
//! raw JSON) with the current versions and only changes are written. A complete pull closes the
//! versions of records that vanished, runs detection and commits; an incomplete one rolls everything
//! back and stores only its snapshot row with what failed. A crash mid-pull commits nothing.

use std::collections::HashMap;
use std::thread::JoinHandle;

use rusqlite::{OptionalExtension, Transaction, params};
use tokio::sync::{mpsc, oneshot};
use xxhash_rust::xxh3::xxh3_128;

use super::findings::{self, Reconciled};
use super::{Store, StoreError};
use crate::detect::IdpInput;
use crate::detect::{History, RecordRef};
use crate::findings::Current;
use crate::model::PullMeta;
use crate::model::idp::IdpSide;
use crate::model::{Account, ScimGroup, ScimRecord, Verdict};
use crate::model::{Item, PageSink};

/// What recording a pull did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub snapshot_id: i64,
    pub complete: bool,
    /// Complete by the paging rules, but a source shrank: stored, not current (see `shrink`).
    pub held: bool,
    /// New version rows (new or changed records).
    pub versions_added: u64,
    /// Versions closed (changed or gone records).
    pub versions_closed: u64,
}

/// The population of one complete pull, as detection sees it.
#[derive(Debug, Default)]
pub struct Population {
    pub records: Vec<ScimRecord>,
    pub groups: Vec<ScimGroup>,
    pub accounts: Vec<Account>,
    /// The IdP side of each directory whose IdP pull is complete, with its stored history.
    pub idp: Vec<IdpInput>,
}

/// What detection found in one complete snapshot.
pub struct Analysis {
    pub current: Vec<Current>,
    /// What detection could not decide: the stored findings it leaves undetermined keep their
    /// state.
    pub undetermined: crate::detect::Undetermined,
    /// `[detect] idp_grace_minutes`: IdP findings are held back as candidates until it passed.
    pub idp_grace_minutes: i64,
    /// The directories with an `idp` configured: the open IdP findings of any other directory are
    /// resolved (nothing would ever evaluate them again).
    pub idp_directories: std::collections::HashSet<String>,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Detection, run inside the snapshot's transaction with what it needs from history.
pub type Analyse = Box<dyn FnOnce(&Population, &History) -> Analysis + Send>;

/// One page of one source.
pub enum Batch {
    Users(Vec<Item<ScimRecord>>),
    Groups(Vec<Item<ScimGroup>>),
    Accounts(Vec<Item<Account>>),
    /// One directory's whole IdP side (kept only if its IdP source is complete).
    Idp(Box<IdpSide>),
}

enum Msg {
    Batch(Batch),
    Finish(Box<PullMeta>, Option<Analyse>, Verdict),
}

/// Where the pull sends its pages. Cheap to clone; sending waits when the writer is behind.
#[derive(Clone)]
pub struct BatchSink(mpsc::Sender<Msg>);

impl BatchSink {
    /// Hands one page to the writer. If the writer has failed, the page is dropped and the failure
    /// is reported by [`Recorder::finish`].
    pub async fn send(&self, batch: Batch) {
        let _ = self.0.send(Msg::Batch(batch)).await;
    }
}

impl PageSink<ScimRecord> for BatchSink {
    async fn accept(&self, items: Vec<Item<ScimRecord>>) {
        self.send(Batch::Users(items)).await
    }
}

impl PageSink<ScimGroup> for BatchSink {
    async fn accept(&self, items: Vec<Item<ScimGroup>>) {
        self.send(Batch::Groups(items)).await
    }
}

impl PageSink<Account> for BatchSink {
    async fn accept(&self, items: Vec<Item<Account>>) {
        self.send(Batch::Accounts(items)).await
    }
}

/// What the writer returns when the pull is finished.
pub struct Finished {
    pub store: Store,
    pub recorded: Recorded,
    pub reconciled: Option<Reconciled>,
}

/// A pull being recorded.
pub struct Recorder {
    sink: BatchSink,
    done: oneshot::Receiver<Result<Finished, StoreError>>,
    thread: JoinHandle<()>,
}

impl Recorder {
    /// Starts recording into `store` on a dedicated thread.
    pub fn start(store: Store) -> Recorder {
        let (tx, rx) = mpsc::channel(16);
        let (done_tx, done) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("scimdrift-store".into())
            .spawn(move || {
                let _ = done_tx.send(write_pull(store, rx));
            })
            .expect("spawning the store writer thread");
        Recorder {
            sink: BatchSink(tx),
            done,
            thread,
        }
    }

    /// The sink the pull sends its pages to.
    pub fn sink(&self) -> BatchSink {
        self.sink.clone()
    }

    /// Ends the pull: commits it (complete, and `verdict` not held) or stores only its snapshot
    /// row (incomplete or held).
    pub async fn finish(
        self,
        meta: PullMeta,
        analyse: Option<Analyse>,
        verdict: Verdict,
    ) -> Result<Finished, StoreError> {
        let _ = self
            .sink
            .0
            .send(Msg::Finish(Box::new(meta), analyse, verdict))
            .await;
        drop(self.sink);
        let result = self.done.await;
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
        result.unwrap_or_else(|_| {
            Err(StoreError::Writer(
                "the store writer stopped unexpectedly".into(),
            ))
        })
    }
}

/// One versioned table: how to key its current rows.
pub(super) struct Table {
    name: &'static str,
    /// SQL expression of the natural key, matched by the Rust-side key.
    key_sql: &'static str,
}

const USERS: Table = Table {
    name: "scim_user_versions",
    key_sql: "directory_id || char(31) || scim_id",
};
const GROUPS: Table = Table {
    name: "scim_group_versions",
    key_sql: "directory_id || char(31) || group_id",
};
const ACCOUNTS: Table = Table {
    name: "account_versions",
    key_sql: "account_id",
};
pub(super) const IDP_USERS: Table = Table {
    name: "idp_user_versions",
    key_sql: "directory_id || char(31) || user_id",
};
pub(super) const IDP_GROUPS: Table = Table {
    name: "idp_group_versions",
    key_sql: "directory_id || char(31) || group_id",
};
pub(super) const IDP_SIDES: Table = Table {
    name: "idp_side_versions",
    key_sql: "directory_id",
};

pub(super) fn composite(a: &str, b: &str) -> String {
    format!("{a}\u{1f}{b}")
}

/// The current versions of one table during a pull: key → (row id, hash). What is left at the end
/// vanished from the source.
pub(super) struct Live {
    table: &'static Table,
    rows: HashMap<String, (i64, [u8; 16])>,
    pub(super) added: u64,
    pub(super) closed: u64,
}

impl Live {
    pub(super) fn load(tx: &Transaction, table: &'static Table) -> rusqlite::Result<Live> {
        let mut stmt = tx.prepare(&format!(
            "SELECT id, {}, hash FROM {} WHERE valid_to IS NULL",
            table.key_sql, table.name
        ))?;
        let rows = stmt
            .query_map([], |r| {
                let hash: Vec<u8> = r.get(2)?;
                let mut h = [0u8; 16];
                if hash.len() == 16 {
                    h.copy_from_slice(&hash);
                }
                Ok((r.get::<_, String>(1)?, (r.get(0)?, h)))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Live {
            table,
            rows,
            added: 0,
            closed: 0,
        })
    }

    /// Returns the hash to write when the item is new or changed (closing the old version), `None`
    /// when it is unchanged.
    pub(super) fn observe(
        &mut self,
        tx: &Transaction,
        snapshot_id: i64,
        key: String,
        raw: &str,
    ) -> rusqlite::Result<Option<[u8; 16]>> {
        let hash = xxh3_128(raw.as_bytes()).to_le_bytes();
        match self.rows.remove(&key) {
            Some((_, old)) if old == hash => return Ok(None),
            Some((id, _)) => self.close(tx, snapshot_id, id)?,
            None => {}
        }
        self.added += 1;
        Ok(Some(hash))
    }

    fn close(&mut self, tx: &Transaction, snapshot_id: i64, id: i64) -> rusqlite::Result<()> {
        tx.prepare_cached(&format!(
            "UPDATE {} SET valid_to = ?1 WHERE id = ?2",
            self.table.name
        ))?
        .execute(params![snapshot_id, id])?;
        self.closed += 1;
        Ok(())
    }

    /// Closes every version not seen in this pull.
    fn close_vanished(&mut self, tx: &Transaction, snapshot_id: i64) -> rusqlite::Result<()> {
        self.close_vanished_where(tx, snapshot_id, |_| true)
    }

    /// Closes the versions not seen in this pull whose key passes `keep` (e.g. one directory's).
    pub(super) fn close_vanished_where(
        &mut self,
        tx: &Transaction,
        snapshot_id: i64,
        of: impl Fn(&str) -> bool,
    ) -> rusqlite::Result<()> {
        let keys: Vec<String> = self.rows.keys().filter(|k| of(k)).cloned().collect();
        for key in keys {
            if let Some((id, _)) = self.rows.remove(&key) {
                self.close(tx, snapshot_id, id)?;
            }
        }
        Ok(())
    }
}

/// Writes the new and changed items of one page (unchanged ones cost nothing) and keeps each item
/// for detection.
fn stage<T>(
    tx: &Transaction,
    snapshot_id: i64,
    live: &mut Live,
    items: Vec<Item<T>>,
    key: fn(&T) -> String,
    insert: fn(&Transaction, i64, &T, &[u8], &str) -> rusqlite::Result<()>,
    keep: &mut Vec<T>,
) -> rusqlite::Result<()> {
    for (item, raw) in items {
        if let Some(hash) = live.observe(tx, snapshot_id, key(&item), &raw)? {
            insert(tx, snapshot_id, &item, &hash, &raw)?;
        }
        keep.push(item);
    }
    Ok(())
}

fn user_key(r: &ScimRecord) -> String {
    composite(&r.directory_id, &r.scim_id)
}

fn group_key(g: &ScimGroup) -> String {
    composite(&g.directory_id, &g.group_id)
}

fn account_key(a: &Account) -> String {
    a.account_id.clone()
}

/// The writer thread's body.
fn write_pull(mut store: Store, mut rx: mpsc::Receiver<Msg>) -> Result<Finished, StoreError> {
    let path = store.path.clone();
    let err = |context| {
        let path = path.clone();
        move |source| StoreError::Sqlite {
            path,
            context,
            source,
        }
    };
    let tx = store
        .conn
        .transaction()
        .map_err(err("cannot begin transaction"))?;
    // The snapshot row comes first so versions can reference it; it is rewritten at the end.
    tx.execute(
        "INSERT INTO snapshots (started_at, finished_at, duration_seconds, complete, scim_records, accounts, retries)
         VALUES ('', '', 0, 0, 0, 0, 0)",
        [],
    )
    .map_err(err("cannot insert snapshot"))?;
    let snapshot_id = tx.last_insert_rowid();
    let mut users = Live::load(&tx, &USERS).map_err(err("cannot read current versions"))?;
    let mut groups = Live::load(&tx, &GROUPS).map_err(err("cannot read current versions"))?;
    let mut accounts = Live::load(&tx, &ACCOUNTS).map_err(err("cannot read current versions"))?;
    let mut population = Population::default();
    let mut idp_sides: Vec<IdpSide> = Vec::new();
    let (meta, analyse, verdict) = loop {
        match rx.blocking_recv() {
            Some(Msg::Batch(batch)) => {
                let pop = &mut population;
                let staged = match batch {
                    Batch::Users(items) => stage(
                        &tx,
                        snapshot_id,
                        &mut users,
                        items,
                        user_key,
                        insert_user,
                        &mut pop.records,
                    ),
                    Batch::Groups(items) => stage(
                        &tx,
                        snapshot_id,
                        &mut groups,
                        items,
                        group_key,
                        insert_group,
                        &mut pop.groups,
                    ),
                    Batch::Accounts(items) => stage(
                        &tx,
                        snapshot_id,
                        &mut accounts,
                        items,
                        account_key,
                        insert_account,
                        &mut pop.accounts,
                    ),
                    Batch::Idp(side) => {
                        idp_sides.push(*side);
                        Ok(())
                    }
                };
                staged.map_err(err("cannot write versions"))?;
            }
            Some(Msg::Finish(meta, analyse, verdict)) => break (meta, analyse, verdict),
            None => {
                return Err(StoreError::Writer(
                    "the pull ended without finishing".into(),
                ));
            }
        }
    };
    let held = matches!(verdict, Verdict::Held(_));
    if !meta.complete() || held {
        // Nothing of an incomplete or held pull enters the history: roll back, keep only the
        // snapshot row with its sources (their counts, what failed, what shrank).
        drop(tx);
        drop(population);
        let tx = store
            .conn
            .transaction()
            .map_err(err("cannot begin transaction"))?;
        let id = insert_snapshot(&tx, &meta).map_err(err("cannot insert snapshot"))?;
        if meta.complete() {
            record_verdict(&tx, id, &verdict).map_err(err("cannot insert snapshot"))?;
        }
        tx.commit().map_err(err("cannot commit snapshot"))?;
        let recorded = Recorded {
            snapshot_id: id,
            complete: false,
            held,
            versions_added: 0,
            versions_closed: 0,
        };
        return Ok(Finished {
            store,
            recorded,
            reconciled: None,
        });
    }
    for live in [&mut users, &mut groups, &mut accounts] {
        live.close_vanished(&tx, snapshot_id)
            .map_err(err("cannot close versions"))?;
    }
    // Only a complete IdP side enters the history; an incomplete one leaves its directory's IdP
    // state (and findings) as they were.
    idp_sides.retain(|side| meta.idp_complete(&side.directory_id));
    let mut idp_evaluated = super::idp::Evaluated::new();
    let (idp_added, idp_closed) = if idp_sides.is_empty() {
        (0, 0)
    } else {
        let stats = super::idp::record(&tx, snapshot_id, &meta, idp_sides)
            .map_err(err("cannot write the IdP side"))?;
        population.idp = stats.inputs;
        idp_evaluated = stats.evaluated;
        (stats.added, stats.closed)
    };
    let recorded = Recorded {
        snapshot_id,
        complete: true,
        held: false,
        versions_added: users.added + groups.added + accounts.added + idp_added,
        versions_closed: users.closed + groups.closed + accounts.closed + idp_closed,
    };
    update_snapshot(&tx, snapshot_id, &meta, &recorded).map_err(err("cannot update snapshot"))?;
    record_verdict(&tx, snapshot_id, &verdict).map_err(err("cannot update snapshot"))?;
    let mut reconciled = None;
    if let Some(analyse) = analyse {
        let history = History {
            inactive_since: findings::inactive_since(&tx, snapshot_id)
                .map_err(err("cannot read inactive history"))?,
            previous_links: previous_links(&tx, snapshot_id, &population.records)
                .map_err(err("cannot read link history"))?,
        };
        let analysis = analyse(&population, &history);
        let current = super::idp::mature(&tx, snapshot_id, &analysis, &idp_evaluated)
            .map_err(err("cannot judge IdP findings"))?;
        super::idp::unconfigured(&tx, &analysis.idp_directories, &mut idp_evaluated)
            .map_err(err("cannot judge IdP findings"))?;
        let at = meta.finished_at.to_rfc3339();
        reconciled = Some(
            findings::reconcile(
                &tx,
                snapshot_id,
                &at,
                &current,
                &idp_evaluated,
                &analysis.undetermined,
            )
            .map_err(err("cannot reconcile findings"))?,
        );
    }
    tx.commit().map_err(err("cannot commit snapshot"))?;
    Ok(Finished {
        store,
        recorded,
        reconciled,
    })
}

/// The account each record whose link is unknown in snapshot `snapshot_id` was last linked to
/// before it (none when it never was).
fn previous_links(
    tx: &Transaction,
    snapshot_id: i64,
    records: &[ScimRecord],
) -> rusqlite::Result<HashMap<RecordRef, String>> {
    let mut out = HashMap::new();
    let mut stmt = tx.prepare_cached(
        "SELECT account_id FROM scim_user_versions
         WHERE directory_id = ?1 AND scim_id = ?2 AND valid_from < ?3 AND account_id IS NOT NULL
         ORDER BY valid_from DESC LIMIT 1",
    )?;
    for r in records.iter().filter(|r| r.link_unknown) {
        let before: Option<String> = stmt
            .query_row(params![r.directory_id, r.scim_id, snapshot_id], |row| {
                row.get(0)
            })
            .optional()?;
        if let Some(a) = before {
            out.insert(RecordRef::of(r), a);
        }
    }
    Ok(out)
}

fn insert_snapshot(tx: &Transaction, meta: &PullMeta) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO snapshots (started_at, finished_at, duration_seconds, complete, scim_records, accounts, retries)
         VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6)",
        params![
            meta.started_at.to_rfc3339(),
            meta.finished_at.to_rfc3339(),
            meta.duration_seconds,
            meta.scim_records() as i64,
            meta.accounts() as i64,
            meta.retries as i64,
        ],
    )?;
    let id = tx.last_insert_rowid();
    insert_sources(tx, id, meta)?;
    Ok(id)
}

fn update_snapshot(
    tx: &Transaction,
    id: i64,
    meta: &PullMeta,
    rec: &Recorded,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE snapshots SET started_at = ?2, finished_at = ?3, duration_seconds = ?4, complete = 1,
             scim_records = ?5, accounts = ?6, retries = ?7, versions_added = ?8, versions_closed = ?9
         WHERE id = ?1",
        params![
            id,
            meta.started_at.to_rfc3339(),
            meta.finished_at.to_rfc3339(),
            meta.duration_seconds,
            meta.scim_records() as i64,
            meta.accounts() as i64,
            meta.retries as i64,
            rec.versions_added as i64,
            rec.versions_closed as i64,
        ],
    )?;
    insert_sources(tx, id, meta)
}

fn insert_sources(tx: &Transaction, id: i64, meta: &PullMeta) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO snapshot_sources (snapshot_id, source, directory_id, records, groups, complete, error,
             data_quality_json, account_types_json, intended, held, listings_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for s in &meta.sources {
        let dq = (!s.data_quality.is_empty())
            .then(|| serde_json::to_string(&s.data_quality).ok())
            .flatten();
        stmt.execute(params![
            id,
            s.source,
            s.directory_id,
            s.records as i64,
            s.groups.map(|g| g as i64),
            s.complete,
            s.error,
            dq,
            s.account_types
                .as_ref()
                .and_then(|t| serde_json::to_string(t).ok()),
            s.intended.map(|n| n as i64),
            s.held,
            s.listings
                .as_ref()
                .and_then(|l| serde_json::to_string(l).ok()),
        ])?;
    }
    Ok(())
}

/// Marks a snapshot held, confirmed or accepted by the shrink guard, with what shrank.
fn record_verdict(tx: &Transaction, id: i64, verdict: &Verdict) -> rusqlite::Result<()> {
    let Some(label) = verdict.label() else {
        return Ok(());
    };
    let shrinks = serde_json::to_string(verdict.shrinks()).unwrap_or_else(|_| "[]".into());
    tx.execute(
        "UPDATE snapshots SET held = ?2, shrink_verdict = ?3, shrink_json = ?4 WHERE id = ?1",
        params![id, matches!(verdict, Verdict::Held(_)), label, shrinks],
    )
    .map(drop)
}

fn insert_user(
    tx: &Transaction,
    snapshot_id: i64,
    r: &ScimRecord,
    hash: &[u8],
    raw: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO scim_user_versions (directory_id, scim_id, valid_from, hash, external_id, user_name, email,
             display_name, active, account_id, groups_json, created, last_modified, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        r.directory_id,
        r.scim_id,
        snapshot_id,
        hash,
        r.external_id,
        r.user_name,
        r.email,
        r.display_name,
        r.active,
        r.account_id,
        serde_json::to_string(&r.groups).unwrap_or_else(|_| "[]".into()),
        r.created,
        r.last_modified,
        raw
    ])
    .map(drop)
}

fn insert_group(
    tx: &Transaction,
    snapshot_id: i64,
    g: &ScimGroup,
    hash: &[u8],
    raw: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO scim_group_versions (directory_id, group_id, valid_from, hash, display_name, external_id,
             members_json, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        g.directory_id,
        g.group_id,
        snapshot_id,
        hash,
        g.display_name,
        g.external_id,
        serde_json::to_string(&g.members).unwrap_or_else(|_| "[]".into()),
        raw
    ])
    .map(drop)
}

fn insert_account(
    tx: &Transaction,
    snapshot_id: i64,
    a: &Account,
    hash: &[u8],
    raw: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO account_versions (account_id, valid_from, hash, account_type, account_status,
             membership_status, status, claim_status, management_source, email, name, added_to_org,
             deactivated_on, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        a.account_id,
        snapshot_id,
        hash,
        a.account_type,
        a.account_status,
        a.membership_status,
        a.status,
        a.claim_status,
        a.management_source,
        a.email,
        a.name,
        a.added_to_org,
        a.deactivated_on,
        raw
    ])
    .map(drop)
}
