//! The report's trend: open findings by severity at the end of each of the last days, from the
//! findings' lifecycle in the store (`finding_events`). Pure.

use chrono::{DateTime, Days, NaiveDate, Utc};

use super::model::TrendDay;
use crate::detect::Severity;
use crate::store::Lifecycle;

/// Days the trend covers, the report's day included.
pub const DAYS: u64 = 30;

/// Whether a finding was open just before `cutoff`: its last event before then opened it (or kept
/// it, `undetermined`), not `resolved`. A finding suppressed now is left out (when its suppression
/// began is not recorded).
fn open_at(l: &Lifecycle, cutoff: DateTime<Utc>) -> bool {
    if l.suppressed {
        return false;
    }
    let last = l
        .events
        .iter()
        .rfind(|(at, _)| crate::model::parse_utc(at).is_some_and(|t| t < cutoff));
    matches!(
        last.map(|(_, e)| e.as_str()),
        Some("opened" | "reopened" | "unsuppressed" | "undetermined")
    )
}

/// Open findings by severity at the end of each of the [`DAYS`] days up to `day` (oldest first),
/// days ending at midnight in `tz`; the report's own day ends at `now` instead.
pub fn trend(
    lifecycles: &[Lifecycle],
    day: NaiveDate,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Vec<TrendDay> {
    // The next day's first local time that exists: midnight, or (where a clock change skips
    // midnight, as in America/Santiago) the first hour after it.
    let end_of = |d: NaiveDate| -> DateTime<Utc> {
        let next = d.checked_add_days(Days::new(1)).unwrap_or(d);
        (0..4)
            .find_map(|h| next.and_hms_opt(h, 0, 0)?.and_local_timezone(tz).earliest())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(now)
            .min(now)
    };
    (0..DAYS)
        .rev()
        .filter_map(|back| day.checked_sub_days(Days::new(back)))
        .map(|d| {
            let cutoff = end_of(d);
            let count = |s: Severity| {
                lifecycles
                    .iter()
                    .filter(|l| l.severity == s && open_at(l, cutoff))
                    .count()
            };
            TrendDay {
                date: d,
                critical: count(Severity::Critical),
                high: count(Severity::High),
                medium: count(Severity::Medium),
                low: count(Severity::Low),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn life(severity: Severity, events: &[(&str, &str)]) -> Lifecycle {
        Lifecycle {
            severity,
            suppressed: false,
            events: events
                .iter()
                .map(|(a, e)| (a.to_string(), e.to_string()))
                .collect(),
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        crate::model::parse_utc(s).unwrap()
    }

    #[test]
    fn each_day_counts_what_was_open_at_its_end() {
        let l = [
            // Open from the 2nd, resolved on the 4th, reopened on the 5th.
            life(
                Severity::Critical,
                &[
                    ("2026-03-02T10:00:00Z", "opened"),
                    ("2026-03-04T10:00:00Z", "resolved"),
                    ("2026-03-05T23:59:00Z", "reopened"),
                ],
            ),
            life(Severity::Low, &[("2026-03-01T00:00:00Z", "opened")]),
        ];
        let day = NaiveDate::from_ymd_opt(2026, 3, 6).unwrap();
        let tr = trend(&l, day, chrono_tz::UTC, t("2026-03-06T12:00:00Z"));
        assert_eq!(tr.len(), DAYS as usize);
        assert_eq!(tr.last().unwrap().date, day);
        let at = |d: u32| {
            tr.iter()
                .find(|x| x.date == NaiveDate::from_ymd_opt(2026, 3, d).unwrap())
                .map(|x| (x.critical, x.low))
                .unwrap()
        };
        assert_eq!(at(1), (0, 1));
        assert_eq!(at(2), (1, 1));
        assert_eq!(at(3), (1, 1));
        assert_eq!(at(4), (0, 1), "resolved during the day");
        assert_eq!(at(5), (1, 1), "reopened a minute before midnight");
        assert_eq!(at(6), (1, 1));
        assert_eq!(tr[0].critical + tr[0].low, 0, "before anything opened");
    }

    #[test]
    fn days_end_at_midnight_in_the_schedules_time_zone_and_suppressed_ones_are_left_out() {
        // Opened at 23:30 UTC on the 1st = 00:30 on the 2nd in Berlin.
        let mut l = [life(Severity::High, &[("2026-03-01T23:30:00Z", "opened")])];
        let day = NaiveDate::from_ymd_opt(2026, 3, 3).unwrap();
        let now = t("2026-03-03T12:00:00Z");
        let berlin = trend(&l, day, chrono_tz::Europe::Berlin, now);
        let utc = trend(&l, day, chrono_tz::UTC, now);
        let on = |tr: &[TrendDay], d: u32| {
            tr.iter()
                .find(|x| x.date == NaiveDate::from_ymd_opt(2026, 3, d).unwrap())
                .unwrap()
                .high
        };
        assert_eq!((on(&utc, 1), on(&berlin, 1)), (1, 0));
        l[0].suppressed = true;
        assert_eq!(on(&trend(&l, day, chrono_tz::UTC, now), 2), 0);
    }

    #[test]
    fn a_day_whose_midnight_a_clock_change_skips_still_ends() {
        // Chile starts summer time at local midnight on 2026-09-06: 00:00 does not exist there.
        let l = [life(
            Severity::High,
            &[
                ("2026-09-01T12:00:00Z", "opened"),
                ("2026-09-10T12:00:00Z", "resolved"),
            ],
        )];
        let day = NaiveDate::from_ymd_opt(2026, 9, 20).unwrap();
        let tr = trend(
            &l,
            day,
            chrono_tz::America::Santiago,
            t("2026-09-20T12:00:00Z"),
        );
        let on = |d: u32| {
            tr.iter()
                .find(|x| x.date == NaiveDate::from_ymd_opt(2026, 9, d).unwrap())
                .unwrap()
                .high
        };
        assert_eq!((on(5), on(6), on(11)), (1, 1, 0));
    }
}
