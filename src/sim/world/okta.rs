//! The Okta org a simulated Atlassian Cloud app lives in (idp-api.md §2, §4): its users, the app
//! and its users, groups and group-push mappings, the System Log, and the credentials it accepts.

use chrono::{DateTime, Utc};

/// One Okta org, provisioning one SCIM directory of the world. Served under `/okta/{org}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOkta {
    /// The path segment of this org (`{base}/okta/{org}` is its `base_url`).
    pub org: String,
    /// The SCIM directory the app provisions into.
    pub directory_id: String,
    pub app: SimOktaApp,
    pub service_app: SimServiceApp,
    /// The SSWS API token the org accepts.
    pub api_token: String,
    pub users: Vec<SimOktaUser>,
    /// The app's users (assignments), in assignment order.
    pub app_users: Vec<SimAppUser>,
    pub groups: Vec<SimOktaGroup>,
    /// The groups assigned to the app (`apps/{id}/groups`), by id.
    pub app_groups: Vec<String>,
    pub push_mappings: Vec<SimPushMapping>,
    pub events: Vec<SimOktaEvent>,
}

/// The Atlassian Cloud app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOktaApp {
    pub id: String,
    pub label: String,
    /// `ACTIVE`, `INACTIVE`, …
    pub status: String,
    pub features: Vec<String>,
}

/// The OAuth service app scimdrift signs in as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimServiceApp {
    pub client_id: String,
    /// `PUBLIC KEY` PEM of the key its assertions must be signed with.
    pub public_key_pem: String,
    /// When set, assertions must carry this `kid`.
    pub key_id: Option<String>,
    /// The scopes granted to it.
    pub scopes: Vec<String>,
    /// "Require DPoP header in token requests" (the default for apps created since 2024).
    pub dpop_required: bool,
}

/// An Okta user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOktaUser {
    /// `00u…`
    pub id: String,
    /// `ACTIVE`, `SUSPENDED`, `DEPROVISIONED`, …
    pub status: String,
    pub login: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// One of the app's users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimAppUser {
    pub user_id: String,
    /// The SCIM id of the record Okta created (absent until provisioned).
    pub external_id: Option<String>,
    /// `USER` or `GROUP`.
    pub scope: String,
    /// App user status (`PROVISIONED`, `STAGED`, …).
    pub status: String,
    /// `SYNCHRONIZED`, `ERROR`, …; `None` omits it.
    pub sync_state: Option<String>,
    /// `credentials.userName`.
    pub user_name: String,
    /// `profile.email`.
    pub email: String,
    /// `AppUser` id (`0ua…`), as System Log targets name it.
    pub app_user_id: String,
}

/// An Okta group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOktaGroup {
    /// `00g…`
    pub id: String,
    pub name: String,
    /// Okta user ids.
    pub members: Vec<String>,
}

/// A group-push mapping of the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPushMapping {
    pub id: String,
    pub source_group_id: String,
    pub target_group_id: Option<String>,
    /// `ACTIVE`, `ERROR`, `INACTIVE`.
    pub status: String,
    pub error_summary: Option<String>,
}

/// A System Log event about the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOktaEvent {
    pub uuid: String,
    pub published: DateTime<Utc>,
    /// `application.provision.user.push`, …
    pub event_type: String,
    /// `SUCCESS` or `FAILURE`.
    pub result: String,
    pub reason: Option<String>,
    /// The Okta user (a `User` target), unless the knob names only the `AppUser`; empty for an
    /// event about the app itself (`application.integration.authentication_failure`).
    pub user_id: String,
}

impl SimOkta {
    pub fn user(&self, id: &str) -> Option<&SimOktaUser> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn user_mut(&mut self, id: &str) -> Option<&mut SimOktaUser> {
        self.users.iter_mut().find(|u| u.id == id)
    }

    pub fn app_user_mut(&mut self, user_id: &str) -> Option<&mut SimAppUser> {
        self.app_users.iter_mut().find(|a| a.user_id == user_id)
    }

    /// Keeps users, app users and group members in id order and events in time order, as Okta
    /// lists them (the fake then serves a page without sorting, and finds a user by binary
    /// search); call after adding some.
    pub fn sort(&mut self) {
        self.users.sort_by(|a, b| a.id.cmp(&b.id));
        self.app_users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        for g in &mut self.groups {
            g.members.sort();
        }
        self.events
            .sort_by(|a, b| a.published.cmp(&b.published).then(a.uuid.cmp(&b.uuid)));
    }

    /// Deactivates a user as Okta does: `DEPROVISIONED`, and every app assignment removed.
    pub fn deactivate(&mut self, user_id: &str) {
        if let Some(u) = self.user_mut(user_id) {
            u.status = "DEPROVISIONED".into();
        }
        self.app_users.retain(|a| a.user_id != user_id);
    }
}
