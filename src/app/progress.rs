//! A pull's progress on a terminal (`once`, `bench`): one line per source with the users, groups or
//! accounts and the pages received so far, and a line with the requests and retries per API
//! (indicatif). Nothing is drawn off a terminal or with `--format json`. Log lines written while a
//! display is up are printed above it ([`LogStderr`]), never through it; the lines are cleared when
//! the pull ends, before the command prints its summary.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::Settings;
use crate::pull::{NoProgress, Progress};

/// The display drawn now, if any: the log writes around it.
static ACTIVE: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// What one source has sent so far.
#[derive(Default)]
struct Counts {
    items: BTreeMap<&'static str, usize>,
    pages: usize,
}

impl Counts {
    /// `12,345 users · 40 groups · 126 pages`.
    fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .items
            .iter()
            .map(|(what, n)| format!("{} {what}", thousands(*n)))
            .collect();
        if self.pages > 0 {
            let s = if self.pages == 1 { "" } else { "s" };
            parts.push(format!("{} page{s}", thousands(self.pages)));
        }
        parts.join(" · ")
    }
}

/// Requests and retries per API label: (requests, retries by reason).
type Calls = BTreeMap<&'static str, (u64, BTreeMap<&'static str, u64>)>;

/// The progress lines of one pull.
pub struct Display {
    multi: MultiProgress,
    sources: Mutex<BTreeMap<String, (ProgressBar, Counts)>>,
    calls: ProgressBar,
    apis: Mutex<Calls>,
}

/// What `once` and `bench` hand the pull: a display on standard error when it is a terminal and
/// the output is not JSON, else nothing.
pub fn for_pull(settings: &Settings, json: bool) -> Arc<dyn Progress> {
    if json || !std::io::stderr().is_terminal() {
        return Arc::new(NoProgress);
    }
    Arc::new(Display::new(
        &sources(settings),
        ProgressDrawTarget::stderr(),
        true,
    ))
}

/// The sources a pull of `settings` reads, in the order the lines show them: each directory's
/// SCIM source, the accounts, each directory's IdP.
pub fn sources(settings: &Settings) -> Vec<String> {
    let dirs = &settings.atlassian.directories;
    dirs.iter()
        .map(|d| format!("scim:{}", d.name))
        .chain([crate::atlassian::accounts::ORIGIN.to_string()])
        .chain(
            dirs.iter()
                .filter(|d| d.idp.is_some())
                .map(|d| crate::idp::origin(&d.name)),
        )
        .collect()
}

impl Display {
    fn new(sources: &[String], target: ProgressDrawTarget, tick: bool) -> Display {
        let multi = MultiProgress::with_draw_target(target);
        let width = sources.iter().map(String::len).max().unwrap_or(0);
        let style = ProgressStyle::with_template(&format!(
            "{{spinner}} {{prefix:<{width}}}  {{msg}} {{elapsed:>4}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bars = sources
            .iter()
            .map(|s| {
                let bar = multi.add(
                    ProgressBar::new_spinner()
                        .with_style(style.clone())
                        .with_prefix(s.clone())
                        .with_message(if s.starts_with("idp:") {
                            // The IdP sends no pages here: its users are counted once read.
                            "reading the IdP (users, groups, job, log)"
                        } else {
                            "waiting for the first page"
                        }),
                );
                if tick {
                    bar.enable_steady_tick(Duration::from_millis(120));
                }
                (s.clone(), (bar, Counts::default()))
            })
            .collect();
        let calls = multi.add(
            ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        );
        if let Ok(mut active) = ACTIVE.lock() {
            *active = Some(multi.clone());
        }
        Display {
            multi,
            sources: Mutex::new(bars),
            calls,
            apis: Mutex::new(BTreeMap::new()),
        }
    }

    /// `requests: 130 (scim 120, accounts 10) · retries: 2 (scim rate_limited 2)`.
    fn describe_calls(apis: &Calls) -> String {
        let requests: u64 = apis.values().map(|(n, _)| n).sum();
        let per_api: Vec<String> = apis
            .iter()
            .filter(|(_, (n, _))| *n > 0)
            .map(|(api, (n, _))| format!("{api} {}", thousands(*n as usize)))
            .collect();
        let mut text = format!(
            "requests: {} ({})",
            thousands(requests as usize),
            per_api.join(", ")
        );
        let retries: Vec<String> = apis
            .iter()
            .flat_map(|(api, (_, by))| by.iter().map(move |(why, n)| format!("{api} {why} {n}")))
            .collect();
        if !retries.is_empty() {
            let total: u64 = apis.values().flat_map(|(_, by)| by.values()).sum();
            text.push_str(&format!(" · retries: {total} ({})", retries.join(", ")));
        }
        text
    }

    fn update_calls(&self, change: impl FnOnce(&mut Calls)) {
        if let Ok(mut apis) = self.apis.lock() {
            change(&mut apis);
            self.calls.set_message(Self::describe_calls(&apis));
        }
    }

    /// Clears the lines and stops drawing (also when dropped).
    pub fn finish(&self) {
        if let Ok(sources) = self.sources.lock() {
            for (bar, _) in sources.values() {
                bar.finish_and_clear();
            }
        }
        self.calls.finish_and_clear();
        let _ = self.multi.clear();
        if let Ok(mut active) = ACTIVE.lock() {
            *active = None;
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Progress for Display {
    fn page(&self, source: &str, items: &'static str, count: usize) {
        if let Ok(mut sources) = self.sources.lock()
            && let Some((bar, counts)) = sources.get_mut(source)
        {
            *counts.items.entry(items).or_default() += count;
            counts.pages += 1;
            bar.set_message(counts.describe());
        }
    }

    fn finished(&self, source: &str, complete: bool, records: usize) {
        if let Ok(mut sources) = self.sources.lock()
            && let Some((bar, counts)) = sources.get_mut(source)
        {
            if counts.pages == 0 {
                // A source that sends no pages (the IdP: one side at the end) reports its users.
                counts.items.insert("users", records);
            }
            let mark = if complete { "done" } else { "INCOMPLETE" };
            bar.finish_with_message(format!("{} · {mark}", counts.describe()));
        }
    }

    fn request(&self, api: &'static str, _class: &'static str) {
        self.update_calls(|apis| apis.entry(api).or_default().0 += 1);
    }

    fn retry(&self, api: &'static str, reason: &'static str) {
        self.update_calls(|apis| *apis.entry(api).or_default().1.entry(reason).or_default() += 1);
    }
}

/// `12345` → `12,345`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Standard error for the text and JSON logs: each event is written whole, above the progress
/// lines while a display is drawn.
pub struct LogStderr;

/// One log event on its way to standard error.
pub struct EventWriter(Vec<u8>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogStderr {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter(Vec::new())
    }
}

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        let write = || {
            let _ = std::io::stderr().lock().write_all(&self.0);
        };
        let active = ACTIVE.lock().ok().and_then(|a| a.clone());
        match active {
            Some(multi) => multi.suspend(write),
            None => write(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::InMemoryTerm;

    fn display(term: &InMemoryTerm) -> Display {
        let sources = ["scim:entra", "accounts", "idp:entra"].map(String::from);
        Display::new(
            &sources,
            ProgressDrawTarget::term_like(Box::new(term.clone())),
            false,
        )
    }

    #[test]
    fn each_source_shows_its_items_and_pages_and_the_calls_their_retries() {
        let term = InMemoryTerm::new(10, 120);
        let d = display(&term);
        d.page("scim:entra", "users", 100);
        d.page("scim:entra", "users", 100);
        d.page("scim:entra", "groups", 7);
        d.page("accounts", "accounts", 1000);
        d.page("accounts", "accounts", 234);
        for _ in 0..4 {
            d.request("scim", "2xx");
        }
        d.request("accounts", "2xx");
        d.retry("scim", "rate_limited");
        d.retry("scim", "rate_limited");
        d.retry("accounts", "server_error");
        d.finished("accounts", true, 1234);
        d.finished("idp:entra", false, 5);
        let screen = term.contents();
        let line = |prefix: &str| {
            screen
                .lines()
                .find(|l| l.contains(prefix))
                .unwrap_or_else(|| panic!("no {prefix} line in:\n{screen}"))
                .to_string()
        };
        assert!(
            line("scim:entra").contains("7 groups · 200 users · 3 pages"),
            "{screen}"
        );
        assert!(
            line("accounts  ").contains("1,234 accounts · 2 pages · done"),
            "{screen}"
        );
        assert!(
            line("idp:entra").contains("5 users · INCOMPLETE"),
            "{screen}"
        );
        assert!(
            line("requests:").contains(
                "requests: 5 (accounts 1, scim 4) · retries: 3 (accounts server_error 1, scim rate_limited 2)"
            ),
            "{screen}"
        );
        // The sources keep their order.
        let at = |s: &str| screen.find(s).unwrap();
        assert!(at("scim:entra") < at("accounts  ") && at("accounts  ") < at("idp:entra"));
        d.finish();
        assert_eq!(
            term.contents().trim(),
            "",
            "the lines are cleared at the end"
        );
    }

    #[test]
    fn a_page_of_a_source_not_listed_is_ignored_and_thousands_are_grouped() {
        let term = InMemoryTerm::new(10, 120);
        let d = display(&term);
        d.page("scim:other", "users", 3);
        assert!(!term.contents().contains("scim:other"));
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
