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

use super::bulk::Deferred;
use super::findings::{self, Reconciled};
use super::raw::Packing;
use super::{Store, StoreError};
use crate::detect::IdpInput;
use crate::detect::{History, RecordRef};
use crate::findings::Current;
use crate::model::PullMeta;
use crate::model::compact::{Accounts, Records};
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

/// The population of one complete pull, as detection sees it: its records and accounts compact
/// ([`crate::model::compact`]), without the fields nothing reads from them (they stay in the
/// store).
#[derive(Debug, Default)]
pub struct Population {
    pub records: Records,
    pub groups: Vec<ScimGroup>,
    pub accounts: Accounts,
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
                let mut store = store;
                let mut reference = None;
                let result = write_pull(&mut store, rx, &mut reference);
                let written = result.is_ok();
                let _ = done_tx.send(result);
                // The WAL into the main file once the result is told, off the critical path.
                let path = store.path.clone();
                super::integrity::after_pull(&path, reference, written, move || checkpoint(store));
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
    /// The columns of the natural key, in the order [`key_of`] takes them.
    key_columns: &'static [&'static str],
    /// Read whole in one pass rather than through its current-rows index: the big tables whose
    /// rows are small (their raw JSON in `raw_json`).
    scan: bool,
}

const USERS: Table = Table {
    name: "scim_user_versions",
    key_columns: &["directory_id", "scim_id"],
    scan: true,
};
const GROUPS: Table = Table {
    name: "scim_group_versions",
    key_columns: &["directory_id", "group_id"],
    scan: true,
};
const ACCOUNTS: Table = Table {
    name: "account_versions",
    key_columns: &["account_id"],
    scan: true,
};
pub(super) const IDP_USERS: Table = Table {
    name: "idp_user_versions",
    key_columns: &["directory_id", "user_id"],
    scan: false,
};
pub(super) const IDP_GROUPS: Table = Table {
    name: "idp_group_versions",
    key_columns: &["directory_id", "group_id"],
    scan: false,
};
pub(super) const IDP_SIDES: Table = Table {
    name: "idp_side_versions",
    key_columns: &["directory_id"],
    scan: false,
};

/// A natural key (its columns' values, in order) as the 128-bit hash a [`Live`] map is keyed by:
/// no string is kept per row.
pub(super) fn key_of(parts: &[&str]) -> u128 {
    match key_from(parts.iter().map(|p| Ok::<_, std::convert::Infallible>(*p))) {
        Ok(key) => key,
        Err(never) => match never {},
    }
}

/// [`key_of`] over parts read one by one (a row's columns, in place); the first error stops it.
fn key_from<'p, E>(parts: impl IntoIterator<Item = Result<&'p str, E>>) -> Result<u128, E> {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            h.update(&[0x1f]);
        }
        h.update(part?.as_bytes());
    }
    Ok(h.digest128())
}

/// A hasher for keys that are already hashes (xxh3): their low bits, as they are.
#[derive(Default)]
pub(super) struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

type Rows = HashMap<u128, (i64, [u8; 16]), std::hash::BuildHasherDefault<Prehashed>>;

/// The current versions of one table during a pull: key → (row id, hash of the raw JSON). What is
/// left at the end vanished from the source.
pub(super) struct Live {
    table: &'static Table,
    rows: Rows,
    pub(super) added: u64,
    pub(super) closed: u64,
}

impl Live {
    /// The current versions of `table` (of directory `scope` only, when given).
    pub(super) fn load(
        conn: &rusqlite::Connection,
        table: &'static Table,
        scope: Option<&str>,
    ) -> rusqlite::Result<Live> {
        let clock = std::time::Instant::now();
        // Every current version: one pass over the table in row order (its rows are small; the
        // partial index would cost a random look-up per row), or one directory's by its index.
        let (indexed, filter) = match scope {
            Some(_) => ("", " AND directory_id = ?1"),
            None if table.scan => (" NOT INDEXED", ""),
            None => ("", ""),
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT id, hash, {} FROM {}{indexed} WHERE valid_to IS NULL{filter}",
            table.key_columns.join(", "),
            table.name
        ))?;
        let mut rows = Rows::default();
        let mut query = match scope {
            Some(d) => stmt.query([d])?,
            None => stmt.query([])?,
        };
        let odd = |what: String| {
            rusqlite::Error::ToSqlConversionFailure(format!("{}: {what}", table.name).into())
        };
        while let Some(r) = query.next()? {
            let id: i64 = r.get(0)?;
            // A hash of another shape reads as "changed": the record gets a new version.
            let mut h = [0u8; 16];
            if let Ok(hash) = r.get_ref(1)?.as_blob()
                && hash.len() == 16
            {
                h.copy_from_slice(hash);
            }
            let key = key_from(table.key_columns.iter().enumerate().map(|(i, column)| {
                r.get_ref(2 + i)?
                    .as_str()
                    .map_err(|_| odd(format!("row {id}: {column} is not text")))
            }))?;
            if rows.insert(key, (id, h)).is_some() {
                return Err(odd(format!("row {id}: two current versions share its key")));
            }
        }
        drop(query);
        tracing::debug!(
            table = table.name,
            rows = rows.len(),
            seconds = clock.elapsed().as_secs_f64(),
            "current versions read"
        );
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
        key: u128,
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
    pub(super) fn close_vanished(
        &mut self,
        tx: &Transaction,
        snapshot_id: i64,
    ) -> rusqlite::Result<()> {
        let mut ids: Vec<i64> = self.rows.drain().map(|(_, (id, _))| id).collect();
        ids.sort_unstable();
        for id in ids {
            self.close(tx, snapshot_id, id)?;
        }
        Ok(())
    }
}

/// The current versions of the three Atlassian tables, read on connections of their own while
/// the first pages arrive (the writer holds the write lock, so they are what its transaction
/// sees): SCIM users on a second thread, groups and accounts on this one (the fetch soon waits
/// for them, so the cores are free).
fn load_atlassian(path: &std::path::Path) -> Result<[Live; 3], StoreError> {
    let read = |conn: &rusqlite::Connection, table| {
        Live::load(conn, table, None).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            context: "cannot read current versions",
            source,
        })
    };
    let (users, rest) = crate::detect::both(
        "scimdrift-store-load",
        || read(&super::open_reader(path, false)?, &USERS),
        || {
            let conn = super::open_reader(path, false)?;
            Ok::<_, StoreError>((read(&conn, &GROUPS)?, read(&conn, &ACCOUNTS)?))
        },
    );
    let (groups, accounts) = rest?;
    Ok([users?, groups, accounts])
}

/// The current versions of SCIM users, SCIM groups and accounts, in that order.
fn load_three(conn: &rusqlite::Connection) -> rusqlite::Result<[Live; 3]> {
    Ok([
        Live::load(conn, &USERS, None)?,
        Live::load(conn, &GROUPS, None)?,
        Live::load(conn, &ACCOUNTS, None)?,
    ])
}

#[allow(clippy::too_many_arguments)]
fn stage<T, K: Keep<T>>(
    tx: &Transaction,
    snapshot_id: i64,
    live: &mut Live,
    packer: &mut Packing,
    items: Vec<Item<T>>,
    key: fn(&T) -> u128,
    (sql, insert): (&str, Insert<T>),
    keep: &mut K,
    deferred: &mut Deferred,
) -> rusqlite::Result<()> {
    if !items.is_empty() {
        deferred.before_rows(tx, live.table.name)?;
    }
    // Looked up once a page, not once a row.
    let mut stmt = tx.prepare_cached(sql)?;
    for (item, raw) in items {
        if let Some(hash) = live.observe(tx, snapshot_id, key(&item), &raw)? {
            insert(&mut stmt, snapshot_id, &item, &hash)?;
            packer.store(tx, hash, raw)?;
        }
        keep.keep(item);
    }
    Ok(())
}

/// Binds one version row to its table's insert and runs it.
type Insert<T> = fn(&mut rusqlite::Statement<'_>, i64, &T, &[u8]) -> rusqlite::Result<()>;

/// Where a staged item goes for detection: records and accounts into their compact copy (what
/// nothing reads from them stays in the store alone), groups as they are.
trait Keep<T> {
    fn keep(&mut self, item: T);
}

impl Keep<ScimRecord> for Records {
    fn keep(&mut self, item: ScimRecord) {
        self.push(&item);
    }
}

impl Keep<Account> for Accounts {
    fn keep(&mut self, item: Account) {
        self.push(&item);
    }
}

impl Keep<ScimGroup> for Vec<ScimGroup> {
    fn keep(&mut self, item: ScimGroup) {
        self.push(item);
    }
}

/// Stages one page into its table (an IdP side is kept whole for the end).
#[allow(clippy::too_many_arguments)]
fn stage_batch(
    tx: &Transaction,
    snapshot_id: i64,
    [users, groups, accounts]: &mut [Live; 3],
    packer: &mut Packing,
    batch: Batch,
    pop: &mut Population,
    idp_sides: &mut Vec<IdpSide>,
    deferred: &mut Deferred,
) -> rusqlite::Result<()> {
    match batch {
        Batch::Users(items) => stage(
            tx,
            snapshot_id,
            users,
            packer,
            items,
            user_key,
            (INSERT_USER_SQL, insert_user),
            &mut pop.records,
            deferred,
        ),
        Batch::Groups(items) => stage(
            tx,
            snapshot_id,
            groups,
            packer,
            items,
            group_key,
            (INSERT_GROUP_SQL, insert_group),
            &mut pop.groups,
            deferred,
        ),
        Batch::Accounts(items) => stage(
            tx,
            snapshot_id,
            accounts,
            packer,
            items,
            account_key,
            (INSERT_ACCOUNT_SQL, insert_account),
            &mut pop.accounts,
            deferred,
        ),
        Batch::Idp(side) => {
            idp_sides.push(*side);
            Ok(())
        }
    }
}

fn user_key(r: &ScimRecord) -> u128 {
    key_of(&[&r.directory_id, &r.scim_id])
}

fn group_key(g: &ScimGroup) -> u128 {
    key_of(&[&g.directory_id, &g.group_id])
}

fn account_key(a: &Account) -> u128 {
    key_of(&[&a.account_id])
}

/// Makes the pull's commit durable (it did not wait for the disk: the `-wal` is synced here,
/// whatever the checkpoint can copy), checkpoints the WAL (PASSIVE: readers are not waited for) and
/// closes the writer's connection; false when any of it failed.
fn checkpoint(store: Store) -> bool {
    let clock = std::time::Instant::now();
    let wal = super::side_file(&store.path, "-wal");
    if let Err(e) = std::fs::File::open(&wal).and_then(|f| f.sync_data()) {
        // No -wal (nothing written), or the sync failed: the next FULL commit syncs it.
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(error = %e, "cannot sync the store's WAL after the pull");
        }
    }
    let done = store
        .conn
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
    let closed = store.conn.close().map_err(|(_, e)| e);
    match (done, closed) {
        (Ok((frames, done)), Ok(())) => {
            tracing::debug!(
                frames,
                checkpointed = done,
                seconds = clock.elapsed().as_secs_f64(),
                "store checkpointed after the pull"
            );
            true
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "cannot checkpoint the store after the pull");
            false
        }
    }
}

/// Before detection: the page cache's dirty pages go to the WAL now (they would at the commit)
/// and the cache is handed back, so the cache and detection's indexes never peak together. A
/// failure (a full disk, an I/O error) is logged; the statements after it fail the pull.
fn give_back_page_cache(tx: &Transaction) {
    // The cache a pull grew ([`grow_cache`]) back to the store's own size: what runs after
    // detection reads through it again.
    let shrunk = tx.pragma_update(None, "cache_size", -(CACHE_MIN_KIB as i64));
    if let Err(e) = shrunk
        .and_then(|()| tx.cache_flush())
        .and_then(|()| tx.release_memory())
    {
        tracing::warn!(error = %e, "the page cache was not handed back before detection");
    }
    // SQLite allocates through glibc's malloc (the rest of the process through jemalloc).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The page cache of a pull's writer, per row recorded: the version and `raw_json` indexes take
/// about this much (KiB per 1,000 rows) and are written in random order (ids are random), so a
/// cache that holds them keeps each insert from re-reading pages (300,000 users written into
/// tables that had rows: 18 → 14 s). Below [`CACHE_MIN_KIB`] the store's own cache holds them; the
/// cache is handed back before detection, whose indexes take more per row, so it never raises the
/// cycle's peak. A first import ([`Deferred`]) appends rows and builds its indexes after them: it
/// keeps the store's cache.
const CACHE_KIB_PER_1000_ROWS: usize = 200;
const CACHE_MIN_KIB: usize = super::CACHE_KIB;
const CACHE_MAX_KIB: usize = 256 * 1024;

/// Grows the writer's page cache with the rows recorded so far (see [`CACHE_KIB_PER_1000_ROWS`]).
fn grow_cache(tx: &Transaction, rows: usize, cache_kib: &mut usize) {
    let want = (rows * CACHE_KIB_PER_1000_ROWS / 1000).clamp(CACHE_MIN_KIB, CACHE_MAX_KIB);
    if want < *cache_kib + *cache_kib / 8 {
        return;
    }
    match tx.pragma_update(None, "cache_size", -(want as i64)) {
        Ok(()) => {
            tracing::debug!(rows, kib = want, "the writer's page cache grown");
            *cache_kib = want;
        }
        Err(e) => tracing::debug!(error = %e, "the page cache was not grown"),
    }
}

/// Pages kept while the current versions are read, at most (a page: up to 100 records and their
/// raw JSON).
const MAX_WAITING: usize = 32;

/// The writer thread's body.
/// `reference`: the store's stamp once the write lock is held, if it was known good then.
fn write_pull(
    store: &mut Store,
    mut rx: mpsc::Receiver<Msg>,
    reference: &mut Option<super::integrity::Stamp>,
) -> Result<Finished, StoreError> {
    let path = store.path.clone();
    let err = |context| {
        let path = path.clone();
        move |source| StoreError::Sqlite {
            path,
            context,
            source,
        }
    };
    // The commit does not checkpoint: [`checkpoint`] does, after the result is told.
    store
        .conn
        .pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(err("cannot set the checkpoint"))?;
    // Nor does it wait for the disk (a first pull at 100,000 users: 0.4-0.7 s less): that
    // checkpoint's thread syncs the `-wal` first. A power loss before then rolls this pull back
    // whole (WAL: never a torn snapshot), and the next pull makes it again; a remediation intent,
    // written with FULL on its own connection, syncs the WAL, and with it this pull, before its
    // call.
    store
        .conn
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(err("cannot set synchronous"))?;
    // IMMEDIATE: the write lock first, so the current versions read beside it are this
    // transaction's.
    let tx = store
        .conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(err("cannot begin transaction"))?;
    *reference = super::integrity::known_good(&path);
    // The snapshot row comes first so versions can reference it; it is rewritten at the end.
    tx.execute(
        "INSERT INTO snapshots (started_at, finished_at, duration_seconds, complete, scim_records, accounts, retries)
         VALUES ('', '', 0, 0, 0, 0, 0)",
        [],
    )
    .map_err(err("cannot insert snapshot"))?;
    let snapshot_id = tx.last_insert_rowid();
    let mut deferred = Deferred::default();
    let loading = {
        let path = path.clone();
        std::thread::Builder::new()
            .name("scimdrift-store-load".into())
            .spawn(move || {
                let clock = std::time::Instant::now();
                let loaded = load_atlassian(&path);
                let seconds = clock.elapsed().as_secs_f64();
                tracing::debug!(seconds, "current versions loaded");
                loaded
            })
    };
    let started = std::time::Instant::now();
    let mut loading = loading
        .inspect_err(|e| tracing::debug!(error = %e, "no loader thread: read on the writer"))
        .ok();
    let mut lives: Option<[Live; 3]> = None;
    if loading.is_none() {
        // No thread to read them beside: read here, before the first page.
        lives = Some(load_three(&tx).map_err(err("cannot read current versions"))?);
    }
    let mut packer =
        Packing::start().map_err(|e| StoreError::Writer(format!("cannot start zstd: {e}")))?;
    // Pages that arrived before the current versions were read.
    let mut waiting: Vec<Batch> = Vec::new();
    let mut population = Population::default();
    let mut idp_sides: Vec<IdpSide> = Vec::new();
    let mut sized = false;
    let mut cache_kib = CACHE_MIN_KIB;
    let (meta, analyse, verdict) = loop {
        let Some(msg) = rx.blocking_recv() else {
            return Err(StoreError::Writer(
                "the pull ended without finishing".into(),
            ));
        };
        if let Msg::Finish(meta, ..) = &msg
            && !meta.complete()
        {
            // Rolled back whole: the pages still waiting need no staging.
            waiting.clear();
        }
        let finishing = matches!(msg, Msg::Finish(..));
        // Waiting pages hold their raw JSON: past a few, the fetch waits for the load instead.
        if lives.is_none()
            && (finishing
                || waiting.len() >= MAX_WAITING
                || loading.as_ref().is_some_and(|l| l.is_finished()))
            && let Some(l) = loading.take()
        {
            tracing::debug!(
                waiting = waiting.len(),
                seconds = started.elapsed().as_secs_f64(),
                "current versions read"
            );
            let loaded = l
                .join()
                .map_err(|_| StoreError::Writer("the loader thread panicked".into()))?;
            lives = Some(loaded?);
        }
        if let Some(loaded) = lives.as_mut() {
            if !sized {
                // Sized from the last pull (and a little growth): no doubling, little to spare.
                let room = |n: usize| n + n / 64 + 64;
                population.records.reserve_exact(room(loaded[0].rows.len()));
                population.groups.reserve_exact(room(loaded[1].rows.len()));
                population
                    .accounts
                    .reserve_exact(room(loaded[2].rows.len()));
                sized = true;
            }
            for batch in waiting.drain(..) {
                stage_batch(
                    &tx,
                    snapshot_id,
                    loaded,
                    &mut packer,
                    batch,
                    &mut population,
                    &mut idp_sides,
                    &mut deferred,
                )
                .map_err(err("cannot write versions"))?;
            }
        }
        let rows = population.records.len() + population.groups.len() + population.accounts.len();
        // A first import appends rows (their indexes come after): no page cache to grow for it.
        if !(deferred.covers(USERS.name) && deferred.covers(ACCOUNTS.name)) {
            grow_cache(&tx, rows, &mut cache_kib);
        }
        match msg {
            Msg::Batch(batch) => match lives.as_mut() {
                Some(l) => stage_batch(
                    &tx,
                    snapshot_id,
                    l,
                    &mut packer,
                    batch,
                    &mut population,
                    &mut idp_sides,
                    &mut deferred,
                )
                .map_err(err("cannot write versions"))?,
                None => waiting.push(batch),
            },
            Msg::Finish(meta, analyse, verdict) => break (meta, analyse, verdict),
        }
    };
    let [mut users, mut groups, mut accounts] =
        lives.ok_or_else(|| StoreError::Writer("the current versions were never read".into()))?;
    population.records.finish();
    population.accounts.finish();
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "the pull's pages are recorded"
    );
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
            recorded,
            reconciled: None,
        });
    }
    packer.finish(&tx).map_err(err("cannot write versions"))?;
    deferred
        .rebuild(&tx)
        .map_err(err("cannot build the indexes"))?;
    for live in [&mut users, &mut groups, &mut accounts] {
        live.close_vanished(&tx, snapshot_id)
            .map_err(err("cannot close versions"))?;
        // Its map is empty now: its memory goes before detection runs.
        live.rows.shrink_to_fit();
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
            inactive_since: findings::inactive_since(
                &tx,
                snapshot_id,
                population
                    .records
                    .iter()
                    .filter(|r| r.active() == Some(false))
                    .map(|r| (r.directory_id(), r.scim_id())),
            )
            .map_err(err("cannot read inactive history"))?,
            previous_links: previous_links(&tx, snapshot_id, &population.records)
                .map_err(err("cannot read link history"))?,
        };
        // The history's queries read through the page cache too: handed back after them.
        give_back_page_cache(&tx);
        let clock = std::time::Instant::now();
        let analysis = analyse(&population, &history);
        tracing::debug!(
            seconds = clock.elapsed().as_secs_f64(),
            history_seconds = (clock - started).as_secs_f64(),
            "detection ran"
        );
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
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "the pull is committed"
    );
    Ok(Finished {
        recorded,
        reconciled,
    })
}

/// The account each record whose link is unknown in snapshot `snapshot_id` was last linked to
/// before it (none when it never was).
fn previous_links(
    tx: &Transaction,
    snapshot_id: i64,
    records: &Records,
) -> rusqlite::Result<HashMap<RecordRef, String>> {
    let mut out = HashMap::new();
    let mut stmt = tx.prepare_cached(
        "SELECT account_id FROM scim_user_versions
         WHERE directory_id = ?1 AND scim_id = ?2 AND valid_from < ?3 AND account_id IS NOT NULL
         ORDER BY valid_from DESC LIMIT 1",
    )?;
    for r in records.iter().filter(|r| r.link_unknown()) {
        let before: Option<String> = stmt
            .query_row(params![r.directory_id(), r.scim_id(), snapshot_id], |row| {
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

const INSERT_USER_SQL: &str = "INSERT INTO scim_user_versions (directory_id, scim_id, valid_from, hash, external_id, user_name, email,
             display_name, active, account_id, groups_json, created, last_modified, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

fn insert_user(
    stmt: &mut rusqlite::Statement<'_>,
    snapshot_id: i64,
    r: &ScimRecord,
    hash: &[u8],
) -> rusqlite::Result<()> {
    stmt.execute(params![
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
        "" // the text is in raw_json
    ])
    .map(drop)
}

const INSERT_GROUP_SQL: &str = "INSERT INTO scim_group_versions (directory_id, group_id, valid_from, hash, display_name, external_id,
             members_json, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

fn insert_group(
    stmt: &mut rusqlite::Statement<'_>,
    snapshot_id: i64,
    g: &ScimGroup,
    hash: &[u8],
) -> rusqlite::Result<()> {
    stmt.execute(params![
        g.directory_id,
        g.group_id,
        snapshot_id,
        hash,
        g.display_name,
        g.external_id,
        serde_json::to_string(&g.members).unwrap_or_else(|_| "[]".into()),
        "" // the text is in raw_json
    ])
    .map(drop)
}

const INSERT_ACCOUNT_SQL: &str =
    "INSERT INTO account_versions (account_id, valid_from, hash, account_type, account_status,
             membership_status, status, claim_status, management_source, email, name, added_to_org,
             deactivated_on, raw)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

fn insert_account(
    stmt: &mut rusqlite::Statement<'_>,
    snapshot_id: i64,
    a: &Account,
    hash: &[u8],
) -> rusqlite::Result<()> {
    stmt.execute(params![
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
        "" // the text is in raw_json
    ])
    .map(drop)
}
