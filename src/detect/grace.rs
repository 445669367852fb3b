//! The IdP grace rule (idp-api.md §5, scenarios.md "IdP findings"): the IdP and Atlassian are
//! pulled at different instants and the IdP pushes asynchronously, so an IdP discrepancy becomes a
//! finding only once it held in two consecutive complete IdP pulls spanning at least
//! `idp_grace_minutes`. Only opening waits: one already open stays open while it is detected; one
//! resolved that comes back (no candidate left: its streak ended when it was not detected) waits
//! again. Pure.

use chrono::{DateTime, Duration, Utc};

/// A discrepancy seen in consecutive complete IdP pulls of its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub finding_id: String,
    /// When the streak began (the first complete IdP pull that saw it).
    pub first_seen: DateTime<Utc>,
    /// The complete IdP pull (snapshot id) that saw it last.
    pub last_snapshot: i64,
}

/// The verdict on one detected IdP finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matured {
    /// The candidate to keep for the next pull.
    pub candidate: Candidate,
    /// Report it now.
    pub report: bool,
}

/// Judges a finding detected by the complete IdP pull `snapshot` at `now`: `previous` is its
/// candidate, if any; `previous_pull` the directory's last complete IdP pull before this one;
/// `open` whether it is already an open (or suppressed) finding.
pub fn judge(
    finding_id: &str,
    previous: Option<&Candidate>,
    previous_pull: Option<i64>,
    snapshot: i64,
    now: DateTime<Utc>,
    grace_minutes: i64,
    open: bool,
) -> Matured {
    let streak = previous.filter(|c| Some(c.last_snapshot) == previous_pull);
    let first_seen = streak.map_or(now, |c| c.first_seen);
    let report =
        open || (streak.is_some() && now - first_seen >= Duration::minutes(grace_minutes.max(0)));
    Matured {
        candidate: Candidate {
            finding_id: finding_id.to_string(),
            first_seen,
            last_snapshot: snapshot,
        },
        report,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::minutes(minutes)
    }

    #[test]
    fn one_pull_is_never_enough() {
        let m = judge("f", None, None, 1, t(0), 0, false);
        assert!(!m.report);
        assert_eq!(m.candidate.first_seen, t(0));
    }

    #[test]
    fn two_consecutive_pulls_spanning_the_grace() {
        let first = judge("f", None, Some(1), 2, t(0), 90, false).candidate;
        // Within the span: not yet.
        let m = judge("f", Some(&first), Some(2), 3, t(60), 90, false);
        assert!(!m.report);
        assert_eq!(m.candidate.first_seen, t(0));
        // Spanning 90 minutes: reported.
        let m = judge("f", Some(&m.candidate), Some(3), 4, t(90), 90, false);
        assert!(m.report);
    }

    #[test]
    fn a_gap_restarts_the_streak() {
        let first = judge("f", None, Some(1), 2, t(0), 90, false).candidate;
        // The previous complete IdP pull (3) did not see it: the streak restarts.
        let m = judge("f", Some(&first), Some(3), 4, t(120), 90, false);
        assert!(!m.report);
        assert_eq!(m.candidate.first_seen, t(120));
    }

    #[test]
    fn an_open_finding_stays_open() {
        assert!(judge("f", None, Some(1), 2, t(0), 90, true).report);
    }
}
