//! The rules of the finding kinds, their severities and the `[detect]` section, stated.

use std::collections::HashSet;

use super::*;

#[test]
fn severities_read_back_as_written_and_nothing_else_reads() {
    let all = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    let names: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["low", "medium", "high", "critical"]);
    for s in all {
        assert_eq!(s.as_str().parse::<Severity>(), Ok(s));
        assert_eq!(s.to_string(), s.as_str(), "Display is the name");
    }
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "ordered low to critical"
    );
    let err = "urgent".parse::<Severity>().unwrap_err();
    assert!(
        err.contains("\"urgent\"") && err.contains("critical"),
        "{err}"
    );
    assert!("High".parse::<Severity>().is_err(), "names are lower-case");
}

#[test]
fn kinds_read_back_and_each_has_its_own_fix_and_its_severities() {
    let mut fixes = HashSet::new();
    for k in Kind::ALL {
        assert_eq!(k.as_str().parse::<Kind>(), Ok(k));
        assert_eq!(k.to_string(), k.as_str());
        let fix = k.suggested_fix();
        assert!(fix.len() > 40 && fix.ends_with('.'), "{k}: {fix:?}");
        assert!(fixes.insert(fix), "{k} shares its fix with another kind");
        let severities = k.severities();
        assert_eq!(
            severities.first(),
            Some(&k.severity()),
            "{k}: the kind's own first"
        );
        assert!(
            severities.windows(2).all(|w| w[0] > w[1]),
            "{k}: most severe first"
        );
    }
    assert_eq!(
        Kind::IdpDisabledScimActive.severities(),
        [Severity::Critical, Severity::High]
    );
    assert_eq!(
        Kind::OrphanScimRecord.severities(),
        [Severity::High, Severity::Medium]
    );
    assert_eq!(Kind::DuplicateEmail.severities(), [Severity::High]);
    let err = "duplicate".parse::<Kind>().unwrap_err();
    assert!(
        err.contains("duplicate_email"),
        "the error lists the kinds: {err}"
    );
}

#[test]
fn the_detect_section_is_checked_key_by_key() {
    let key = |c: DetectConfig| c.validate().unwrap_err().0;
    assert!(DetectConfig::default().validate().is_ok());
    let d = DetectConfig::default;
    assert_eq!(
        key(DetectConfig {
            stale_after_days: -1,
            ..d()
        }),
        "stale_after_days"
    );
    assert_eq!(
        key(DetectConfig {
            idp_grace_minutes: 10_081,
            ..d()
        }),
        "idp_grace_minutes"
    );
    assert_eq!(
        key(DetectConfig {
            disabled_kinds: vec!["no_synced_groups".into(), "nope".into()],
            ..d()
        }),
        "disabled_kinds[1]"
    );
    let s = DetectConfig {
        stale_after_days: 7,
        idp_grace_minutes: 0,
        disabled_kinds: vec!["no_synced_groups".into()],
    }
    .settings();
    assert_eq!(
        (s.stale_after_days, s.idp_grace_minutes, s.disabled),
        (7, 0, vec![Kind::NoSyncedGroups])
    );
}

#[test]
fn a_record_is_named_by_its_email_else_its_user_name_else_its_id() {
    let who = |r: &crate::model::ScimRecord| {
        let compact: crate::model::compact::Records = [r].into_iter().collect();
        who(compact.iter().next().unwrap()).to_string()
    };
    let mut r = super::test_support::record("r1", "ana@example.com");
    r.user_name = "ana.user".into();
    assert_eq!(who(&r), "ana@example.com");
    r.email = Some(String::new());
    assert_eq!(who(&r), "ana.user");
    r.email = None;
    assert_eq!(who(&r), "ana.user");
    r.user_name = String::new();
    assert_eq!(who(&r), "r1");
}
