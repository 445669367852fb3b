//! Ids and pages must add up (atlassian-api.md §5): an id listed twice anywhere in a listing (SCIM
//! users, SCIM groups, accounts; on one page or across pages), a `links.next` naming a cursor
//! already followed, and a SCIM page holding more `Resources` than its `itemsPerPage` or than the
//! `count` asked make that source incomplete: `once` exits 1, the error names the source, the
//! page and the id, and no finding is opened or resolved. Black-box against the simulator over
//! loopback, through the `scimdrift` binary.

mod common;

use std::collections::BTreeMap;

use common::Env;
use scimdrift::findings::Status;
use scimdrift::sim::{Api, BadNext, FaultKind, FaultRule, Faults};
use serde_json::{Map, Value, json};

/// Every finding as JSON (status, times seen and all), in id order.
fn findings(env: &Env) -> Vec<Value> {
    let mut all = env.store().findings().unwrap();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    all.iter()
        .map(|f| serde_json::to_value(f).unwrap())
        .collect()
}

/// The scenario world after one complete `once`.
async fn settled() -> Env {
    let env = Env::scenarios(10).await;
    let out = env.cli(&["once"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    env
}

/// `once --format json` under `faults`: exit 1, the snapshot incomplete; every finding and the
/// latest complete snapshot as they were. The errors of the incomplete sources, by source.
async fn incomplete(env: &Env, faults: Faults) -> BTreeMap<String, String> {
    let before = findings(env);
    let current = env.store().latest_complete().unwrap().unwrap().snapshot_id;
    env.sim.set_faults(faults);
    let out = env.cli(&["once", "--format", "json"]).await;
    env.sim.set_faults(Faults::default());
    let once: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{once:#}");
    assert_eq!(once["complete"], false);
    assert_eq!(findings(env), before, "a finding changed");
    assert_eq!(
        env.store().latest_complete().unwrap().unwrap().snapshot_id,
        current
    );
    once["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["complete"] == false)
        .map(|s| {
            let e = s["error"].as_str().unwrap_or_default().to_string();
            (s["source"].as_str().unwrap().to_string(), e)
        })
        .collect()
}

fn set(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

/// The leaver of the scenario world: its SCIM record (inactive) and its account (with access).
fn leaver(env: &Env) -> (String, String) {
    let f = env
        .store()
        .findings()
        .unwrap()
        .into_iter()
        .find(|f| f.kind.as_str() == "idp_inactive_account_active" && f.status == Status::Open)
        .expect("the leaver finding is open");
    (
        f.scim_users[0].scim_id.clone(),
        f.accounts[0].account_id.clone(),
    )
}

/// An inactive copy of the leaver's account, on its own page or on an earlier one, would resolve
/// the leaver finding if the first copy won (and the account it replaced would vanish).
#[tokio::test]
async fn an_account_listed_twice_never_resolves_the_leaver() {
    let env = settled().await;
    let (_, account) = leaver(&env);
    let errors = incomplete(
        &env,
        Faults::rules([FaultRule::new(FaultKind::RepeatItem {
            id: account.clone(),
            set: set(json!({"accountStatus": "inactive"})),
        })
        .on(Api::Accounts)]),
    )
    .await;
    let e = &errors["accounts"];
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(e.starts_with("accounts ("), "{e}");
    assert!(
        e.contains(&format!("id {account:?} is listed twice")),
        "{e}"
    );

    // Across pages: one account a page, the inactive copy on the first.
    let world = env.sim.world();
    let at = world
        .accounts
        .iter()
        .position(|a| a.account_id == account)
        .unwrap();
    assert!(at > 0, "the leaver's account is not the first");
    let a = &world.accounts[at];
    env.sim.set_options(|o| o.accounts_page_cap = 1);
    let copy = json!({
        "accountId": a.account_id, "accountType": "atlassian", "accountStatus": "inactive",
        "membershipStatus": "active", "email": a.email,
    });
    let errors = incomplete(
        &env,
        Faults::rules([FaultRule::new(FaultKind::InjectItem {
            item: copy,
            counted: false,
        })
        .on(Api::Accounts)
        .once()]),
    )
    .await;
    let e = &errors["accounts"];
    assert!(e.starts_with("accounts (cursor="), "{e}");
    assert!(
        e.ends_with(&format!("item 0: id {account:?} is listed twice")),
        "{e}"
    );
}

/// `links.next` naming the cursor that served the page (followed already), or on the first page
/// its own cursor (the first page served again, every id listed twice).
#[tokio::test]
async fn links_next_back_to_a_served_page_is_incomplete() {
    let env = settled().await;
    env.sim.set_options(|o| o.accounts_page_cap = 5);
    let back = |skip| {
        Faults::rules([FaultRule::new(FaultKind::BadLinksNext(BadNext::ThisPage))
            .on(Api::Accounts)
            .skip(skip)
            .once()])
    };
    let e = &incomplete(&env, back(1)).await["accounts"];
    assert!(e.starts_with("accounts (cursor="), "{e}");
    assert!(
        e.ends_with("links.next is a cursor already followed: the chain loops back"),
        "{e}"
    );
    let first = env.sim.world().accounts[0].account_id.clone();
    let e = &incomplete(&env, back(0)).await["accounts"];
    assert!(e.starts_with("accounts (cursor="), "{e}");
    assert!(
        e.ends_with(&format!("item 0: id {first:?} is listed twice")),
        "{e}"
    );
}

/// The leaver's SCIM record listed twice, an active copy first; a group listed twice; a record of
/// page 1 listed again on page 2.
#[tokio::test]
async fn a_scim_user_or_group_listed_twice_is_incomplete() {
    let env = settled().await;
    let (record, _) = leaver(&env);
    let world = env.sim.world();
    let dir = world
        .directories
        .iter()
        .find(|d| d.users.iter().any(|u| u.id == record))
        .unwrap()
        .clone();
    let source = format!("scim:{}", dir.name);
    let errors = incomplete(
        &env,
        Faults::rules([FaultRule::new(FaultKind::RepeatItem {
            id: record.clone(),
            set: set(json!({"active": true})),
        })
        .on(Api::Scim)
        .path_contains("/Users")]),
    )
    .await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[&source];
    assert!(
        e.starts_with(&format!("{source} (Users startIndex=1): item ")),
        "{e}"
    );
    assert!(
        e.ends_with(&format!("id {record:?} is listed twice")),
        "{e}"
    );

    let group = dir.groups[0].id.clone();
    let errors = incomplete(
        &env,
        Faults::rules([FaultRule::new(FaultKind::RepeatItem {
            id: group.clone(),
            set: Map::new(),
        })
        .in_directory(dir.id.clone())
        .path_contains("/Groups")]),
    )
    .await;
    let e = &errors[&source];
    assert!(
        e.starts_with(&format!("{source} (Groups startIndex=1): item ")),
        "{e}"
    );
    assert!(e.ends_with(&format!("id {group:?} is listed twice")), "{e}");

    // Page 2 (one record, room for more) lists the first record again.
    let n = dir.users.len();
    assert!(n >= 3);
    env.sim.set_options(|o| o.scim_page_cap = n - 1);
    let first = &dir.users[0];
    let errors = incomplete(
        &env,
        Faults::rules([FaultRule::new(FaultKind::InjectItem {
            item: json!({"id": first.id, "userName": first.user_name, "active": false}),
            counted: true,
        })
        .in_directory(dir.id.clone())
        .path_contains("/Users")
        .skip(1)
        .once()]),
    )
    .await;
    let e = &errors[&source];
    assert_eq!(
        e,
        &format!(
            "{source} (Users startIndex={n}): item 0: id {:?} is listed twice",
            first.id
        )
    );
}

/// One real-looking record too many on page 1 (a fresh id, `totalResults` unchanged): reading on
/// from the count received would skip a record of page 2 and still add up.
#[tokio::test]
async fn a_scim_page_longer_than_asked_or_stated_is_incomplete() {
    let mut env = settled().await;
    let dir = env.sim.world().directories[0].clone();
    let source = format!("scim:{}", dir.name);
    let per_page = dir.users.len() / 2;
    assert!(per_page >= 2);
    env.sim.set_options(|o| o.scim_page_cap = per_page);
    let extra = |counted| {
        Faults::rules([FaultRule::new(FaultKind::InjectItem {
            item: json!({"id": "extra-record", "userName": "extra@example.com", "active": true}),
            counted,
        })
        .in_directory(dir.id.clone())
        .path_contains("/Users")
        .once()])
    };
    // More than the page says (the count asked is 100).
    let e = &incomplete(&env, extra(false)).await[&source];
    assert_eq!(
        e,
        &format!(
            "{source} (Users startIndex=1): page holds {} Resources, more than its itemsPerPage \
             ({per_page}): the next startIndex would skip records (item {per_page} is id {:?})",
            per_page + 1,
            dir.users[per_page - 1].id
        )
    );
    // As many as the page says, more than asked.
    let text = std::fs::read_to_string(&env.config).unwrap();
    let text = text.replace(
        "[atlassian.http]\n",
        &format!("[atlassian.http]\nscim_page_size = {per_page}\n"),
    );
    std::fs::write(&env.config, text).unwrap();
    env.settings = scimdrift::config::Settings::load(Some(&env.config)).unwrap();
    let e = &incomplete(&env, extra(true)).await[&source];
    assert!(
        e.contains(&format!(
            "page holds {} Resources, more than the count asked ({per_page})",
            per_page + 1
        )),
        "{e}"
    );
}
