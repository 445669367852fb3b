//! Schema and migrations, versioned by `PRAGMA user_version`; `application_id` marks our files.

use rusqlite::Connection;

/// `PRAGMA application_id` of a scimdrift database ("SCDR").
pub const APPLICATION_ID: i32 = 0x5343_4452;

/// Migrations in order; the schema version is the number applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE snapshots (
    id               INTEGER PRIMARY KEY,
    started_at       TEXT    NOT NULL,
    finished_at      TEXT    NOT NULL,
    duration_seconds REAL    NOT NULL,
    complete         INTEGER NOT NULL,
    scim_records     INTEGER NOT NULL,
    accounts         INTEGER NOT NULL,
    retries          INTEGER NOT NULL,
    versions_added   INTEGER NOT NULL DEFAULT 0,
    versions_closed  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE snapshot_sources (
    snapshot_id  INTEGER NOT NULL REFERENCES snapshots(id),
    source       TEXT    NOT NULL,
    directory_id TEXT,
    records      INTEGER NOT NULL,
    groups       INTEGER,
    complete     INTEGER NOT NULL,
    error        TEXT,
    PRIMARY KEY (snapshot_id, source)
) WITHOUT ROWID;

-- One row per version of a record: valid in snapshots [valid_from, valid_to), valid_to NULL = current.
CREATE TABLE scim_user_versions (
    id            INTEGER PRIMARY KEY,
    directory_id  TEXT    NOT NULL,
    scim_id       TEXT    NOT NULL,
    valid_from    INTEGER NOT NULL REFERENCES snapshots(id),
    valid_to      INTEGER REFERENCES snapshots(id),
    hash          BLOB    NOT NULL,
    external_id   TEXT,
    user_name     TEXT    NOT NULL,
    email         TEXT,
    display_name  TEXT,
    active        INTEGER,
    account_id    TEXT,
    groups_json   TEXT    NOT NULL,
    created       TEXT,
    last_modified TEXT,
    raw           TEXT    NOT NULL
);
CREATE UNIQUE INDEX scim_user_current ON scim_user_versions (directory_id, scim_id) WHERE valid_to IS NULL;
CREATE INDEX scim_user_history ON scim_user_versions (directory_id, scim_id, valid_from);

CREATE TABLE scim_group_versions (
    id            INTEGER PRIMARY KEY,
    directory_id  TEXT    NOT NULL,
    group_id      TEXT    NOT NULL,
    valid_from    INTEGER NOT NULL REFERENCES snapshots(id),
    valid_to      INTEGER REFERENCES snapshots(id),
    hash          BLOB    NOT NULL,
    display_name  TEXT,
    external_id   TEXT,
    members_json  TEXT    NOT NULL,
    raw           TEXT    NOT NULL
);
CREATE UNIQUE INDEX scim_group_current ON scim_group_versions (directory_id, group_id) WHERE valid_to IS NULL;

CREATE TABLE account_versions (
    id                INTEGER PRIMARY KEY,
    account_id        TEXT    NOT NULL,
    valid_from        INTEGER NOT NULL REFERENCES snapshots(id),
    valid_to          INTEGER REFERENCES snapshots(id),
    hash              BLOB    NOT NULL,
    account_type      TEXT,
    account_status    TEXT    NOT NULL,
    membership_status TEXT    NOT NULL,
    status            TEXT,
    claim_status      TEXT,
    management_source TEXT,
    email             TEXT,
    name              TEXT,
    added_to_org      TEXT,
    deactivated_on    TEXT,
    raw               TEXT    NOT NULL
);
CREATE UNIQUE INDEX account_current ON account_versions (account_id) WHERE valid_to IS NULL;
CREATE INDEX account_history ON account_versions (account_id, valid_from);
"#,
    r#"
-- Findings and their lifecycle. Identity = kind + sorted listed ids (hashed into id).
CREATE TABLE findings (
    id                  TEXT    PRIMARY KEY,
    kind                TEXT    NOT NULL,
    severity            TEXT    NOT NULL,
    status              TEXT    NOT NULL,   -- open | suppressed | resolved
    summary             TEXT    NOT NULL,
    subjects_json       TEXT    NOT NULL,   -- {"scim_users": [...], "accounts": [...]} as last seen
    suppression_json    TEXT,
    first_seen          TEXT    NOT NULL,
    first_seen_snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    last_seen           TEXT    NOT NULL,
    last_seen_snapshot  INTEGER NOT NULL REFERENCES snapshots(id),
    resolved_at         TEXT,
    resolved_snapshot   INTEGER REFERENCES snapshots(id),
    seen_count          INTEGER NOT NULL,   -- consecutive complete snapshots showing it
    times_opened        INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX findings_status ON findings (status, kind);
CREATE TABLE finding_events (
    finding_id  TEXT    NOT NULL REFERENCES findings(id),
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id),
    at          TEXT    NOT NULL,
    event       TEXT    NOT NULL            -- opened | resolved | reopened
);
CREATE INDEX finding_events_by_finding ON finding_events (finding_id, snapshot_id);
ALTER TABLE snapshots ADD COLUMN findings_reconciled INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
-- Daily reports, one per day (a rerun replaces it); the JSON re-renders every format.
CREATE TABLE reports (
    date         TEXT    PRIMARY KEY,       -- YYYY-MM-DD, in the schedule's time zone
    generated_at TEXT    NOT NULL,
    snapshot_id  INTEGER REFERENCES snapshots(id),
    report_json  TEXT    NOT NULL
);
"#,
    r#"
-- Remediation: the audit log (intent before the call, result after) and the plans made.
CREATE TABLE remediation_audit (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT    NOT NULL UNIQUE,  -- hash of finding, action, targets, snapshot, mode
    snapshot_id     INTEGER NOT NULL,
    finding_id      TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    mode            TEXT    NOT NULL,         -- dry_run | apply
    action_key      TEXT    NOT NULL,         -- finding|action|targets, across snapshots
    targets_json    TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    started_at      TEXT    NOT NULL,
    finished_at     TEXT,
    result          TEXT,                     -- success | failure | skipped | dry_run; NULL = intent only
    http_status     INTEGER,
    detail          TEXT
);
CREATE INDEX remediation_audit_pending ON remediation_audit (result);
CREATE TABLE remediation_plans (
    id          INTEGER PRIMARY KEY,
    created_at  TEXT    NOT NULL,
    snapshot_id INTEGER,
    plan_json   TEXT    NOT NULL
);
"#,
    r#"
-- unlink / move_email: the contested email and the record claiming it (JSON), re-checked before
-- the call and used to finish a move whose unlink succeeded in an earlier cycle.
ALTER TABLE remediation_audit ADD COLUMN contest_json TEXT;
"#,
    r#"
-- The shrink guard: a held snapshot is complete by the paging rules but a source shrank; it adds no
-- versions and is never current. shrink_json lists the shrunk populations of a held, confirmed or
-- accepted snapshot. data_quality_json: the fields a source could not read (counts, first notes).
ALTER TABLE snapshots ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN shrink_verdict TEXT;
ALTER TABLE snapshots ADD COLUMN shrink_json TEXT;
ALTER TABLE snapshot_sources ADD COLUMN data_quality_json TEXT;
"#,
    r#"
-- Accounts by accountType (the accounts source): the shrink guard also watches the people alone.
ALTER TABLE snapshot_sources ADD COLUMN account_types_json TEXT;
"#,
    r#"
-- The IdP side (idp-api.md): one version per change of an IdP user (intent, enabled, email, ...),
-- of a directory's job/mapping/groups; log events once each (deduplicated by id); per directory,
-- the last complete IdP pull and log read. raw = the normalized JSON (model::idp).
CREATE TABLE idp_user_versions (
    id           INTEGER PRIMARY KEY,
    directory_id TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    valid_from   INTEGER NOT NULL REFERENCES snapshots(id),
    valid_to     INTEGER REFERENCES snapshots(id),
    hash         BLOB    NOT NULL,
    user_principal_name TEXT,
    email        TEXT,
    enabled      INTEGER,
    intended     INTEGER NOT NULL,
    deleted      INTEGER NOT NULL,
    raw          TEXT    NOT NULL
);
CREATE UNIQUE INDEX idp_user_current ON idp_user_versions (directory_id, user_id) WHERE valid_to IS NULL;
CREATE INDEX idp_user_history ON idp_user_versions (directory_id, user_id, valid_from);
CREATE INDEX idp_user_email ON idp_user_versions (email);
CREATE TABLE idp_side_versions (
    id           INTEGER PRIMARY KEY,
    directory_id TEXT    NOT NULL,
    valid_from   INTEGER NOT NULL REFERENCES snapshots(id),
    valid_to     INTEGER REFERENCES snapshots(id),
    hash         BLOB    NOT NULL,
    job_status   TEXT,
    raw          TEXT    NOT NULL
);
CREATE UNIQUE INDEX idp_side_current ON idp_side_versions (directory_id) WHERE valid_to IS NULL;
CREATE TABLE idp_events (
    directory_id TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    at           TEXT    NOT NULL,
    user_id      TEXT,
    status       TEXT    NOT NULL,
    snapshot_id  INTEGER NOT NULL REFERENCES snapshots(id),
    raw          TEXT    NOT NULL,
    PRIMARY KEY (directory_id, id)
) WITHOUT ROWID;
CREATE INDEX idp_events_by_user ON idp_events (directory_id, user_id, at);
CREATE TABLE idp_state (
    directory_id          TEXT PRIMARY KEY,
    last_complete_snapshot INTEGER NOT NULL,
    logs_read_at          TEXT
) WITHOUT ROWID;
-- IdP discrepancies seen in consecutive complete IdP pulls, waiting out the grace span.
CREATE TABLE idp_candidates (
    finding_id    TEXT    PRIMARY KEY,
    directory_id  TEXT    NOT NULL,
    first_seen    TEXT    NOT NULL,
    last_snapshot INTEGER NOT NULL
) WITHOUT ROWID;
-- The directory whose IdP an IdP finding is about: only a complete IdP pull of it resolves it.
ALTER TABLE findings ADD COLUMN idp_directory TEXT;
"#,
    r#"
-- The shrink guard over an IdP source: its intended users (assigned, neither deleted nor
-- disabled), and whether the source was held (complete by the paging rules, but shrunk: treated
-- as incomplete for its directory's IdP findings).
ALTER TABLE snapshot_sources ADD COLUMN intended INTEGER;
ALTER TABLE snapshot_sources ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
-- Unknown is never evidence: an open finding the latest complete snapshot could not decide (a field
-- its kind reads was unknown) keeps its state; these are those fields (a JSON array), NULL once
-- decided again.
ALTER TABLE findings ADD COLUMN undetermined_json TEXT;
-- An IdP source's listings as read (users listed, assignments, group members): the shrink guard
-- watches each.
ALTER TABLE snapshot_sources ADD COLUMN listings_json TEXT;
"#,
    r#"
-- Dry-run remediation is audited when the plan changes, not on every cycle: the dry-run steps of
-- the last run, each with its verdict (the guards that blocked it, '' when it would run).
CREATE TABLE remediation_dry_runs (
    action_key   TEXT PRIMARY KEY,
    finding_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    action       TEXT NOT NULL,
    targets_json TEXT NOT NULL,
    verdict      TEXT NOT NULL
) WITHOUT ROWID;
"#,
    r#"
-- The IdP groups' direct user members as change history (scenarios.md "Group findings"): a version
-- per change of a group's member set (or name), not a row per member per pull. `raw` holds the name,
-- the count and a hash of the set; the members as of a snapshot are the users whose version then
-- lists the group (idp_user_versions).
CREATE TABLE idp_group_versions (
    id           INTEGER PRIMARY KEY,
    directory_id TEXT    NOT NULL,
    group_id     TEXT    NOT NULL,
    valid_from   INTEGER NOT NULL REFERENCES snapshots(id),
    valid_to     INTEGER REFERENCES snapshots(id),
    hash         BLOB    NOT NULL,
    display_name TEXT,
    member_count INTEGER NOT NULL,
    raw          TEXT    NOT NULL
);
CREATE UNIQUE INDEX idp_group_current ON idp_group_versions (directory_id, group_id) WHERE valid_to IS NULL;
"#,
    // Issue 24: raw JSON once per distinct content, zstd-compressed (store::raw). Version rows of
    // SCIM users, groups and accounts written since hold '' in `raw`; their text is here under
    // their `hash` (the xxh3-128 of the text).
    r#"
CREATE TABLE raw_json (
    id     INTEGER PRIMARY KEY,
    hash   BLOB    NOT NULL UNIQUE,
    codec  INTEGER NOT NULL,
    length INTEGER NOT NULL,
    body   BLOB    NOT NULL
);
"#,
];

/// The schema version this build writes.
pub const LATEST: i32 = MIGRATIONS.len() as i32;

/// Applies the migrations past `from`, each in its own write transaction. The version is read
/// again inside it: another process opening the same new file at the same time (the daemon and a
/// `scimdrift findings`) may have applied it meanwhile.
pub fn migrate(conn: &mut Connection, from: i32) -> rusqlite::Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let applied: i32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if applied > i as i32 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", i as i32 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
