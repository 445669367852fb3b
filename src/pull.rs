//! One pull: every SCIM directory (users and groups) and the org's accounts, fetched concurrently and
//! streamed page by page into the store. The snapshot is complete only if every source is
//! (atlassian-api.md §5).

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::atlassian::accounts::{self, AccountsClient};
use crate::atlassian::paging::{Item, PageSink, Paged};
use crate::atlassian::scim::ScimClient;
use crate::atlassian::settings::AtlassianSettings;
use crate::atlassian::{ApiError, HttpLayer};
use crate::model::{Account, DataQuality};
use crate::store::BatchSink;

pub use crate::atlassian::Keys;
pub use crate::model::{PullMeta, SourceStatus};

/// Told of a pull's progress as it happens; `once` and `bench` draw it on a terminal
/// (`crate::app::progress`). Calls come from the pull's tasks, concurrently.
pub trait Progress: Send + Sync {
    /// One page of `items` (`"users"`, `"groups"` or `"accounts"`, `count` of them) from `source`
    /// (`scim:<name>`, `accounts`).
    fn page(&self, source: &str, items: &'static str, count: usize);
    /// `source` is finished (`scim:<name>`, `accounts` or `idp:<name>`): complete or not, with its
    /// record count.
    fn finished(&self, source: &str, complete: bool, records: usize);
    /// One request to `api` (its label, e.g. `scim`, `graph`), answered with `class` (`2xx`, …).
    fn request(&self, _api: &'static str, _class: &'static str) {}
    /// One retry of a request to `api`, by `reason` (`rate_limited`, `server_error`, …).
    fn retry(&self, _api: &'static str, _reason: &'static str) {}
}

/// No progress display (the daemon, tests, `--format json`, off a terminal).
pub struct NoProgress;

impl Progress for NoProgress {
    fn page(&self, _: &str, _: &'static str, _: usize) {}
    fn finished(&self, _: &str, _: bool, _: usize) {}
}

/// The pull's request and retry events, told to both the metrics and the progress display.
struct Tee {
    events: std::sync::Arc<dyn crate::http::HttpEvents>,
    progress: std::sync::Arc<dyn Progress>,
}

impl crate::http::HttpEvents for Tee {
    fn request(&self, api: &'static str, class: &'static str) {
        self.events.request(api, class);
        self.progress.request(api, class);
    }
    fn retry(&self, api: &'static str, reason: &'static str) {
        self.events.retry(api, reason);
        self.progress.retry(api, reason);
    }
}

/// A sink that tells the progress display of each page on its way to the store.
struct Watched<'a, S> {
    inner: &'a S,
    source: &'a str,
    items: &'static str,
    progress: &'a dyn Progress,
}

impl<T: Send + 'static, S: PageSink<T> + Sync> PageSink<T> for Watched<'_, S> {
    async fn accept(&self, items: Vec<Item<T>>) {
        self.progress.page(self.source, self.items, items.len());
        self.inner.accept(items).await
    }
}

/// A pull that could not start (e.g. the HTTP client failed to build): incomplete, with why.
pub fn failed(started_at: DateTime<Utc>, error: &ApiError) -> PullMeta {
    PullMeta {
        started_at,
        finished_at: Utc::now(),
        duration_seconds: 0.0,
        sources: vec![SourceStatus {
            source: error.origin.clone(),
            directory_id: None,
            records: 0,
            groups: None,
            complete: false,
            error: Some(error.to_string()),
            account_types: None,
            logs: None,
            intended: None,
            held: false,
            data_quality: DataQuality::default(),
            listings: Default::default(),
        }],
        retries: 0,
        api_requests: BTreeMap::new(),
        api_retries: BTreeMap::new(),
        idp_jobs: BTreeMap::new(),
        throttled: Default::default(),
    }
}

fn status(
    source: String,
    directory_id: Option<String>,
    records: Paged,
    groups: Option<Paged>,
) -> SourceStatus {
    let error = records
        .error
        .as_ref()
        .or(groups.as_ref().and_then(|g| g.error.as_ref()))
        .map(ToString::to_string);
    let (group_count, group_notes) = match groups {
        Some(g) => (Some(g.count), g.notes),
        None => (None, Vec::new()),
    };
    SourceStatus {
        source,
        directory_id,
        records: records.count,
        groups: group_count,
        complete: error.is_none(),
        error,
        account_types: None,
        logs: None,
        intended: None,
        held: false,
        data_quality: DataQuality::gather(records.notes.into_iter().chain(group_notes)),
        listings: Default::default(),
    }
}

/// Notes logged one by one per source and pull; past it, one line with the rest's count.
const NOTES_LOGGED: usize = 20;

/// The log lines of one source's data-quality notes: once per record and field, capped.
fn log_data_quality(s: &SourceStatus) {
    let dq = &s.data_quality;
    for n in dq.notes.iter().take(NOTES_LOGGED) {
        tracing::warn!(
            source = %n.source,
            id = %n.id,
            field = %n.field,
            "unreadable field left unknown, record kept: {}",
            n.problem
        );
    }
    if dq.total > NOTES_LOGGED as u64 {
        tracing::warn!(
            source = %s.source,
            more = dq.total - NOTES_LOGGED as u64,
            "more unreadable fields left unknown (see `scimdrift once` or the report)"
        );
    }
}

/// A sink that counts accounts by type on their way to the store.
struct CountTypes<'a> {
    inner: &'a BatchSink,
    counts: std::sync::Mutex<BTreeMap<String, u64>>,
}

impl PageSink<Account> for CountTypes<'_> {
    async fn accept(&self, items: Vec<Item<Account>>) {
        if let Ok(mut c) = self.counts.lock() {
            for (a, _) in &items {
                *c.entry(a.type_label().to_string()).or_default() += 1;
            }
        }
        self.inner.accept(items).await
    }
}

/// What one IdP pull adds to the pull's summary.
type IdpOutcome = (
    SourceStatus,
    u64,
    BTreeMap<(&'static str, &'static str), u64>,
    BTreeMap<(&'static str, &'static str), u64>,
    Option<crate::model::idp::ProvisioningHealth>,
    BTreeMap<&'static str, f64>,
);

/// Pulls directory `d`'s IdP and sends its side to the store.
async fn pull_idp(
    d: &crate::atlassian::settings::DirectorySettings,
    settings: &crate::idp::IdpSettings,
    cred: std::sync::Arc<crate::idp::Credential>,
    a: &AtlassianSettings,
    sink: &BatchSink,
    events: std::sync::Arc<dyn crate::http::HttpEvents>,
    known: crate::idp::Known,
) -> IdpOutcome {
    let origin = crate::idp::origin(&d.name);
    let pulled = crate::idp::pull(
        settings,
        &cred,
        &a.http,
        &d.id,
        &origin,
        &known,
        Utc::now(),
        events,
    )
    .await;
    // The job of a complete side, for the cycle's metrics (an incomplete side says nothing).
    let job = pulled
        .status
        .complete
        .then(|| crate::model::idp::ProvisioningHealth {
            job: pulled.side.job.clone(),
            app: pulled.side.app.clone(),
        });
    sink.send(crate::store::Batch::Idp(Box::new(pulled.side)))
        .await;
    (
        pulled.status,
        pulled.retries,
        pulled.api_requests,
        pulled.api_retries,
        job,
        pulled.throttled,
    )
}

/// Runs one pull of every source of the `[atlassian]` section, concurrently, sending every page to
/// `sink`: the SCIM directories, the accounts, and each directory's IdP (`idp:<name>`, with what
/// `known[directory id]` says of its history, see [`crate::idp::pull`]). Every request and retry is also
/// reported to `events` as it happens, and every page, request, retry and finished source to
/// `progress`.
pub async fn run(
    a: &AtlassianSettings,
    keys: &Keys,
    sink: &BatchSink,
    events: std::sync::Arc<dyn crate::http::HttpEvents>,
    known: &std::collections::HashMap<String, crate::idp::Known>,
    progress: std::sync::Arc<dyn Progress>,
) -> PullMeta {
    let started_at = Utc::now();
    let clock = Instant::now();
    let events: std::sync::Arc<dyn crate::http::HttpEvents> = std::sync::Arc::new(Tee {
        events,
        progress: progress.clone(),
    });
    let watch = &*progress;
    let http = match HttpLayer::new(&a.base_url, &a.http) {
        Ok(h) => h.with_events(events.clone()),
        Err(e) => return failed(started_at, &e),
    };
    let directory_pulls = a.directories.iter().zip(&keys.directories).map(|(d, key)| {
        let client = ScimClient {
            http: &http,
            directory_id: &d.id,
            origin: format!("scim:{}", d.name),
            key,
            page_size: a.http.scim_page_size,
        };
        async move {
            let watched = |items| Watched {
                inner: sink,
                source: &client.origin,
                items,
                progress: watch,
            };
            let (user_pages, group_pages) = (watched("users"), watched("groups"));
            let (users, groups) =
                tokio::join!(client.users(&user_pages), client.groups(&group_pages));
            let s = status(
                client.origin.clone(),
                Some(d.id.clone()),
                users,
                Some(groups),
            );
            watch.finished(&s.source, s.complete, s.records);
            s
        }
    });
    let accounts_client = AccountsClient {
        http: &http,
        org_id: &a.org_id,
        key: &keys.org,
        endpoint: a.accounts_endpoint,
        page_size: a.http.accounts_page_size,
    };
    let typed = CountTypes {
        inner: sink,
        counts: Default::default(),
    };
    let accounts_watched = Watched {
        inner: &typed,
        source: accounts::ORIGIN,
        items: "accounts",
        progress: watch,
    };
    let mut idp_pulls = Vec::new();
    for (d, cred) in a.directories.iter().zip(&keys.idp) {
        if let (Some(settings), Some(cred)) = (&d.idp, cred) {
            idp_pulls.push(pull_idp(
                d,
                settings,
                cred.clone(),
                a,
                sink,
                events.clone(),
                known.get(&d.id).cloned().unwrap_or_default(),
            ));
        }
    }
    let (mut sources, accounts, idp) = tokio::join!(
        futures::future::join_all(directory_pulls),
        async {
            let paged = accounts_client.accounts(&accounts_watched).await;
            watch.finished(accounts::ORIGIN, paged.error.is_none(), paged.count);
            paged
        },
        futures::future::join_all(idp_pulls.into_iter().map(|p| async {
            let outcome = p.await;
            watch.finished(&outcome.0.source, outcome.0.complete, outcome.0.records);
            outcome
        })),
    );
    let mut account_status = status(accounts::ORIGIN.to_string(), None, accounts, None);
    account_status.account_types = Some(typed.counts.into_inner().unwrap_or_default());
    sources.push(account_status);
    let mut retries = http.stats.total_retries();
    let mut api_requests = http
        .stats
        .requests
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    let mut api_retries = http
        .stats
        .retries
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    let mut throttled = http.stats.throttled_seconds();
    let mut idp_jobs = BTreeMap::new();
    for (status, r, requests, retried, job, held) in idp {
        for (api, secs) in held {
            *throttled.entry(api).or_default() += secs;
        }
        if let Some(job) = job {
            idp_jobs.insert(status.source.clone(), job);
        }
        sources.push(status);
        retries += r;
        for (k, n) in requests {
            *api_requests.entry(k).or_default() += n;
        }
        for (k, n) in retried {
            *api_retries.entry(k).or_default() += n;
        }
    }
    for s in &sources {
        log_data_quality(s);
        match &s.error {
            None => tracing::info!(source = %s.source, records = s.records, "source complete"),
            Some(e) => {
                tracing::warn!(source = %s.source, records = s.records, "source incomplete: {e}")
            }
        }
    }
    PullMeta {
        started_at,
        finished_at: Utc::now(),
        duration_seconds: clock.elapsed().as_secs_f64(),
        sources,
        retries,
        api_requests,
        api_retries,
        throttled,
        idp_jobs,
    }
}
