//! The grace rule: an IdP discrepancy becomes a finding only after two consecutive complete IdP
//! pulls spanning `idp_grace_minutes`; the streak is over complete IdP pulls.

use super::*;

#[tokio::test]
async fn nothing_after_one_pull_even_without_a_grace_span() {
    let env = idp_env(0).await;
    let o = env.pull().await;
    assert!(o.pull.all_complete());
    assert!(open_idp(&env).is_empty());
    assert_eq!(count(&env, "SELECT COUNT(*) FROM idp_candidates"), 14);
}

#[tokio::test]
async fn nothing_within_the_grace_span() {
    let env = idp_env(90).await;
    env.pull().await;
    env.pull().await;
    let all = labelled(&env, &env.store().findings().unwrap());
    assert!(idp_only(all.clone()).is_empty(), "{all:#?}");
}

/// complete, IdP-incomplete, complete: the incomplete pull is not the second of two; the two
/// complete ones around it are consecutive complete IdP pulls.
#[tokio::test]
async fn an_incomplete_idp_pull_is_not_one_of_the_two() {
    let env = idp_env(0).await;
    let first = env.pull().await;
    assert!(first.pull.all_complete());
    let main = group_id(&env, "Atlassian Users");
    env.sim
        .set_entra_options(|o| o.deleted_groups = vec![main.clone()]);
    let second = env.pull().await;
    assert!(second.recorded.complete);
    assert!(!second.pull.all_complete());
    assert!(open_idp(&env).is_empty(), "{:#?}", open_idp(&env));
    env.sim.set_entra_options(|o| o.deleted_groups.clear());
    let third = env.pull().await;
    assert!(third.pull.all_complete());
    assert_eq!(open_idp(&env), expected_idp());
}
