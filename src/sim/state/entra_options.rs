//! The Entra / Graph knobs ([`EntraOptions`], in [`SimOptions::entra`](crate::sim::SimOptions)),
//! changeable at run time through [`SimHandle::set_options`](crate::sim::SimHandle::set_options).
//! Counted knobs (`throttle_burst`, `expire_token_after`) restart whenever the Entra options
//! change.

use std::time::Duration;

use crate::sim::world::entra::JobState;

/// The Graph endpoint families, as idp-api.md §1.1's permission table groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GraphFamily {
    /// `servicePrincipals` (by id, `$filter`) and `appRoleAssignedTo` (`Application.Read.All`).
    ServicePrincipals,
    /// `groups/{id}`, `members`, `transitiveMembers` (`GroupMember.Read.All`).
    Groups,
    /// `users`, `users/{id}` (`User.Read.All`).
    Users,
    /// `synchronization/jobs`, `…/schema` (`Synchronization.Read.All`).
    Synchronization,
    /// `auditLogs/provisioning` (`AuditLog.Read.All`).
    AuditLogs,
    /// `provisionOnDemand` (`Synchronization.ReadWrite.All`).
    ProvisionOnDemand,
}

/// How `…/jobs/{jobId}/schema` answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SchemaStyle {
    /// The job's rules.
    #[default]
    Normal,
    /// `500` in Graph's error shape.
    ServerError,
    /// `200` with `"synchronizationRules": []`.
    EmptyRules,
    /// The job's rules with the Group object mapping disabled (`"enabled": false`): the job
    /// pushes no groups.
    GroupsNotMapped,
}

/// Graph and token-endpoint knobs. `Default` mimics Entra.
#[derive(Clone, Debug, PartialEq)]
pub struct EntraOptions {
    /// `expires_in` (seconds) of issued access tokens; they stop working after it.
    pub expires_in: u64,
    /// `Retry-After` seconds on a burst `429`; `None` omits the header on every Graph `429`.
    /// (Window limits answer the seconds left in the window.)
    pub retry_after_seconds: Option<u64>,
    /// The next N Graph requests (after the options last changed) answer `429 TooManyRequests`.
    pub throttle_burst: u32,
    /// After this many Graph requests (since the options last changed) the next one is refused
    /// once with `401 InvalidAuthenticationToken` and its token is revoked: the client must fetch
    /// a new one.
    pub expire_token_after: Option<u32>,
    /// Most items per page, whatever `$top` asks (`$top` itself is capped at 999; lists without
    /// `$top` serve 100).
    pub page_size_cap: Option<usize>,
    /// Serve `x-ms-throttle-limit-percentage: <value>` on every Graph answer.
    pub throttle_limit_percentage: Option<f64>,
    /// `auditLogs/provisioning`: at most this many requests per window per tenant, then `429`.
    pub reports_limit: u32,
    pub reports_window: Duration,
    /// `provisionOnDemand`: at most this many requests per window per tenant, then `429`.
    pub on_demand_limit: u32,
    pub on_demand_window: Duration,
    /// Serve each log event's `servicePrincipal` as a one-element array (lenient).
    pub service_principal_as_array: bool,
    /// Serve `initiatedBy.initiatingType` instead of `initiatedBy.initiatorType` (lenient).
    pub initiating_type_spelling: bool,
    /// Serve absent executions and steady-state times as `0001-01-01T00:00:00Z` sentinels instead
    /// of `null`.
    pub year_one_sentinels: bool,
    /// Serve `mail: null` for these user ids.
    pub null_mail: Vec<String>,
    /// Serve `accountEnabled: null` for these user ids.
    pub null_account_enabled: Vec<String>,
    /// Serve unknown enum values: the job's `status.code` and every log event's status as
    /// `unknownFutureValue`.
    pub unknown_enums: bool,
    /// Hide the newest N assignments (by `createdDateTime`) from `appRoleAssignedTo` and from
    /// provision on demand's intent (replication lag).
    pub replication_lag: usize,
    /// These group ids answer `404 Request_ResourceNotFound` (deleted mid-pull) on
    /// `groups/{id}`, `members` and `transitiveMembers`.
    pub deleted_groups: Vec<String>,
    /// `auditLogs/provisioning` answers `403 Authorization_RequestDenied` (unlicensed tenant).
    pub logs_forbidden: bool,
    /// These families answer `403 Authorization_RequestDenied` (missing permission).
    pub forbidden: Vec<GraphFamily>,
    /// Serve the app's job in this state instead of the world's.
    pub job_state: Option<JobState>,
    /// Serve the job's last execution in this state (`Succeeded` | `Failed` |
    /// `EntryLevelErrors` | anything) instead of the world's.
    pub execution_state: Option<String>,
    /// How the schema answers.
    pub schema: SchemaStyle,
    /// Every list page after the first links back to itself: its `@odata.nextLink` is the link
    /// that served it (a nextLink already followed).
    pub next_link_loops: bool,
}

impl Default for EntraOptions {
    fn default() -> Self {
        Self {
            expires_in: 3599,
            retry_after_seconds: Some(1),
            throttle_burst: 0,
            expire_token_after: None,
            page_size_cap: None,
            throttle_limit_percentage: None,
            reports_limit: 5,
            reports_window: Duration::from_secs(10),
            on_demand_limit: 5,
            on_demand_window: Duration::from_secs(10),
            service_principal_as_array: false,
            initiating_type_spelling: false,
            year_one_sentinels: false,
            null_mail: Vec::new(),
            null_account_enabled: Vec::new(),
            unknown_enums: false,
            replication_lag: 0,
            deleted_groups: Vec::new(),
            logs_forbidden: false,
            forbidden: Vec::new(),
            job_state: None,
            execution_state: None,
            schema: SchemaStyle::Normal,
            next_link_loops: false,
        }
    }
}
