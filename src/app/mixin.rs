//! `scimdrift mixin`: the Prometheus alert rules and the Grafana dashboard generated from one source,
//! in the shape of the ecosystem's monitoring mixins: templates (`dashboards/mixin/alerts.yml`,
//! `dashboards/mixin/scimdrift.json`) and a config block (`dashboards/mixin/config.toml`: the job
//! selector, the runbook base URL, each alert's `for:`, the dashboard's uid and title), all built
//! into the binary. A template names a config value as `%(key)s` (`%(for.ScimdriftDown)s`).
//!
//! The committed `dashboards/alerts.yml` and `dashboards/scimdrift.json` are this generator's output
//! for the default config; a test checks they are current.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

/// The default config block (`dashboards/mixin/config.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../dashboards/mixin/config.toml");

/// The templates: (file name written, template text).
pub const TEMPLATES: [(&str, &str); 2] = [
    (
        "alerts.yml",
        include_str!("../../dashboards/mixin/alerts.yml"),
    ),
    (
        "scimdrift.json",
        include_str!("../../dashboards/mixin/scimdrift.json"),
    ),
];

/// The generated files: (file name, contents), for the default config overlaid with `overrides`
/// (a TOML text holding only the keys it changes; `None`: the defaults).
///
/// Errors name the key: one not in the config block, a selector that is not PromQL label matchers,
/// a runbook URL that is not http(s) or holds a quote, white space or a fragment, a `for.*` that is
/// not a Prometheus duration, a dashboard uid Grafana would refuse.
pub fn generate(overrides: Option<&str>) -> Result<Vec<(&'static str, String)>> {
    let values = config(overrides)?;
    TEMPLATES
        .iter()
        .map(|(name, template)| {
            let json = name.ends_with(".json");
            let text =
                render(template, &values, json).with_context(|| format!("template {name}"))?;
            if json {
                serde_json::from_str::<serde_json::Value>(&text)
                    .with_context(|| format!("{name} generated is not JSON"))?;
            }
            Ok((*name, text))
        })
        .collect()
}

/// The config block's values by dotted key (`selector`, `for.ScimdriftDown`), validated.
fn config(overrides: Option<&str>) -> Result<BTreeMap<String, String>> {
    let mut values = flatten(DEFAULT_CONFIG).context("the default mixin config")?;
    if let Some(text) = overrides {
        for (key, value) in flatten(text)? {
            if !values.contains_key(&key) {
                let known: Vec<_> = values.keys().map(String::as_str).collect();
                bail!(
                    "mixin config: unknown key `{key}` (known: {})",
                    known.join(", ")
                );
            }
            values.insert(key, value);
        }
    }
    for (key, value) in &values {
        let ok = match key.as_str() {
            "selector" => check_selector(value),
            "runbook_url" => check_url(value),
            "dashboard_uid" => check_uid(value),
            "dashboard_title" if value.trim().is_empty() => Err("empty".into()),
            k if k.starts_with("for.") => check_duration(value),
            _ => Ok(()),
        };
        ok.map_err(|why| anyhow::anyhow!("mixin config: `{key}` = {value:?}: {why}"))?;
    }
    Ok(values)
}

/// A TOML text's string values by dotted key (one table level: `[for]`).
fn flatten(text: &str) -> Result<BTreeMap<String, String>> {
    let table: toml::Table = text.parse().context("mixin config: not TOML")?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        match value {
            toml::Value::String(s) => {
                out.insert(key, s);
            }
            toml::Value::Table(t) => {
                for (sub, v) in t {
                    let Some(s) = v.as_str() else {
                        bail!("mixin config: `{key}.{sub}` must be a string");
                    };
                    out.insert(format!("{key}.{sub}"), s.to_string());
                }
            }
            _ => bail!("mixin config: `{key}` must be a string"),
        }
    }
    Ok(out)
}

/// `template` with each `%(key)s` replaced by its value (JSON-escaped in a JSON template). An
/// unknown key is an error naming its line.
fn render(template: &str, values: &BTreeMap<String, String>, json: bool) -> Result<String> {
    let mut out = String::with_capacity(template.len() + template.len() / 8);
    for (n, line) in template.split_inclusive('\n').enumerate() {
        let mut rest = line;
        while let Some(start) = rest.find("%(") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find(")s") else {
                bail!("line {}: `%(` without `)s`", n + 1);
            };
            let key = &after[..end];
            let Some(value) = values.get(key) else {
                bail!("line {}: no config key `{key}`", n + 1);
            };
            if json {
                let quoted = serde_json::to_string(value)?;
                out.push_str(&quoted[1..quoted.len() - 1]);
            } else {
                out.push_str(value);
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

/// PromQL label matchers: `name op "value"`, comma-separated, `op` one of `=`, `!=`, `=~`, `!~`;
/// a regular expression must compile (RE2 syntax, as Prometheus). No control character (the
/// selector lands in YAML lines and Grafana JSON) and no `{{` or `}}` (alert annotations are
/// Prometheus templates).
fn check_selector(s: &str) -> Result<(), String> {
    if s.chars().any(char::is_control) {
        return Err("holds a control character (a line break?)".into());
    }
    if s.contains("{{") || s.contains("}}") {
        return Err("holds {{ or }}, which alert annotations would read as a template".into());
    }
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err("empty: give at least one label matcher, e.g. job=\"scimdrift\"".into());
    }
    loop {
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("expected a label name at `{rest}`"));
        }
        rest = rest[name_len..].trim_start();
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))
            .ok_or_else(|| format!("expected =, !=, =~ or !~ after `{name}`"))?;
        rest = rest[op.len()..].trim_start();
        let Some(body) = rest.strip_prefix('"') else {
            return Err(format!("expected a double-quoted value for `{name}`"));
        };
        let mut end = None;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = Some(i);
                    break;
                }
                '\n' => break,
                _ => {}
            }
        }
        let end = end.ok_or_else(|| format!("unterminated value of `{name}`"))?;
        if op.ends_with('~') {
            let pattern = unescape(&body[..end]);
            regex::Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| format!("the regular expression of `{name}` does not compile: {e}"))?;
        }
        rest = body[end + 1..].trim_start();
        if rest.is_empty() {
            return Ok(());
        }
        rest = rest
            .strip_prefix(',')
            .ok_or_else(|| format!("expected `,` before `{rest}`"))?
            .trim_start();
    }
}

/// A PromQL double-quoted string's text with its escapes (`\\`, `\"`, `\n`, …) read.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn check_url(s: &str) -> Result<(), String> {
    if !(s.starts_with("https://") || s.starts_with("http://")) {
        return Err("not an http(s) URL".into());
    }
    if s.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\' || c == '#') {
        return Err("holds white space, a quote, a backslash or a fragment (#…)".into());
    }
    Ok(())
}

fn check_uid(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err("a Grafana uid is 1 to 40 of A-Z a-z 0-9 - _".into())
    }
}

/// A Prometheus duration: one or more `<number><unit>`, each unit at most once and from the largest
/// to the smallest (y, w, d, h, m, s, ms), in all at most 292 years (Prometheus' limit).
fn check_duration(s: &str) -> Result<(), String> {
    let bad = || Err("not a Prometheus duration (e.g. 30s, 5m, 1h30m)".to_string());
    // Units from the largest, with their milliseconds.
    const UNITS: [(&str, u128); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("ms", 1),
        ("m", 60_000),
        ("s", 1_000),
    ];
    // The order units must come in (`ms` is the smallest, though matched before `m`).
    let rank = |u: &str| {
        ["y", "w", "d", "h", "m", "s", "ms"]
            .iter()
            .position(|x| *x == u)
    };
    let mut rest = s;
    if rest.is_empty() {
        return bad();
    }
    let mut last: Option<usize> = None;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 || digits > 20 {
            return bad();
        }
        let n: u128 = rest[..digits]
            .parse()
            .map_err(|_| "not a number".to_string())?;
        rest = &rest[digits..];
        let Some((unit, ms)) = UNITS.into_iter().find(|(u, _)| rest.starts_with(u)) else {
            return bad();
        };
        let r = rank(unit);
        if last.is_some_and(|l| r <= Some(l)) {
            return Err("units must each come once, from the largest (y w d h m s ms)".into());
        }
        last = r;
        total += n * ms;
        rest = &rest[unit.len()..];
    }
    if total > 292 * 365 * 86_400_000 {
        return Err("longer than Prometheus allows (292 years)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(out: &[(&str, String)], name: &str) -> String {
        out.iter().find(|(n, _)| *n == name).unwrap().1.clone()
    }

    #[test]
    fn a_config_block_reaches_every_expression_duration_and_link() {
        let out = generate(Some(
            "selector = 'job=\"idm\", env!~\"dev|test\"'\n\
             runbook_url = \"https://wiki.example.com/scimdrift\"\n\
             dashboard_uid = \"idm-scimdrift\"\n\
             [for]\nScimdriftDown = \"2m\"\n",
        ))
        .unwrap();
        let rules = file(&out, "alerts.yml");
        assert!(!rules.contains("%("), "{rules}");
        assert!(
            !rules.contains("scimdrift.*"),
            "the default selector is gone"
        );
        assert!(rules.contains("absent(up{job=\"idm\", env!~\"dev|test\"})"));
        assert!(rules.contains(
            "scimdrift_source_up{job=\"idm\", env!~\"dev|test\", source!~\"idp:.*\"} == 0"
        ));
        assert!(
            rules.contains(
                "runbook_url: \"https://wiki.example.com/scimdrift#runbook-scimdriftdown\""
            )
        );
        assert!(rules.contains("for: 2m"));
        assert!(
            rules.contains("for: 30m"),
            "the other durations keep their defaults"
        );
        let dashboard: serde_json::Value =
            serde_json::from_str(&file(&out, "scimdrift.json")).unwrap();
        assert_eq!(dashboard["uid"], "idm-scimdrift");
        assert_eq!(
            dashboard["templating"]["list"][1]["query"],
            "label_values(scimdrift_build_info{job=\"idm\", env!~\"dev|test\"}, job)"
        );
        assert_eq!(
            dashboard["links"][0]["url"],
            "https://wiki.example.com/scimdrift#runbook"
        );
    }

    /// The PromQL of every rule (`expr:` lines and `expr: |` blocks).
    fn expressions(rules: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut block: Option<usize> = None;
        for line in rules.lines() {
            let indent = line.len() - line.trim_start().len();
            if let Some(at) = block {
                if line.trim().is_empty() || indent > at {
                    out.push(line.to_string());
                    continue;
                }
                block = None;
            }
            if let Some(expr) = line.trim_start().strip_prefix("expr: ") {
                if expr == "|" {
                    block = Some(indent);
                } else {
                    out.push(expr.to_string());
                }
            }
        }
        out
    }

    #[test]
    fn every_scimdrift_selector_of_the_rules_carries_the_config_selector() {
        let rules = file(&generate(None).unwrap(), "alerts.yml");
        let mut checked = 0;
        for line in expressions(&rules) {
            for (i, _) in line.match_indices("scimdrift_") {
                let before = line[..i].chars().last();
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                    continue; // part of a recording rule's name
                }
                let end = line[i..]
                    .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                    .map_or(line.len(), |n| i + n);
                let after = &line[end..];
                if after.starts_with(':') {
                    continue;
                }
                assert!(
                    after.starts_with("{job=~\"scimdrift.*\""),
                    "{}: {line}",
                    &line[i..end]
                );
                checked += 1;
            }
        }
        assert!(checked > 40, "{checked}");
    }

    #[test]
    fn bad_config_values_are_named() {
        for (toml, want) in [
            ("selectr = 'job=\"x\"'", "unknown key `selectr`"),
            (
                "[for]\nScimdriftDwn = \"5m\"",
                "unknown key `for.ScimdriftDwn`",
            ),
            ("selector = ''", "`selector`"),
            ("selector = 'job=scimdrift'", "double-quoted"),
            ("selector = 'job=\"a\" instance=\"b\"'", "expected `,`"),
            ("selector = 'job~\"a\"'", "expected =, !=, =~ or !~"),
            ("runbook_url = \"ftp://x\"", "`runbook_url`"),
            ("runbook_url = \"https://x/a\\\"b\"", "a quote"),
            ("runbook_url = \"https://x/ops#top\"", "fragment"),
            ("dashboard_uid = \"has space\"", "`dashboard_uid`"),
            ("[for]\nScimdriftDown = \"10\"", "`for.ScimdriftDown`"),
            ("[for]\nScimdriftDown = \"5 m\"", "Prometheus duration"),
            ("selector = 3", "must be a string"),
            (
                "selector = '''job=\"a\",\nenv=\"b\"'''",
                "control character",
            ),
            ("selector = 'job=\"{{ x }}\"'", "template"),
            ("selector = 'job=~\"(\"'", "does not compile"),
            ("[for]\nScimdriftDown = \"1s1m\"", "from the largest"),
            ("[for]\nScimdriftDown = \"1m1m\"", "from the largest"),
            (
                "[for]\nScimdriftDown = \"99999999999999999999d\"",
                "292 years",
            ),
        ] {
            let e = format!("{:#}", generate(Some(toml)).unwrap_err());
            assert!(e.contains(want), "{toml}: {e}");
        }
        for ok in ["1h30m", "500ms", "1d", "2w", "1y2w3d4h5m6s7ms", "90m"] {
            assert!(check_duration(ok).is_ok(), "{ok}");
        }
        for ok in [
            "job=\"a\"",
            "job=~\"a|b\", instance!=\"x\\\"y\"",
            " env !~ \"dev\" ",
            "job=\"idm: scimdrift #1\"",
            "job=~\"a\\\\.b\"",
        ] {
            assert!(check_selector(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_json_value_is_escaped_and_a_placeholder_without_a_key_is_an_error() {
        let out = generate(Some("dashboard_title = 'a \"quoted\" \\ title'")).unwrap();
        let dashboard: serde_json::Value =
            serde_json::from_str(&file(&out, "scimdrift.json")).unwrap();
        assert_eq!(dashboard["title"], "a \"quoted\" \\ title");
        let values = config(None).unwrap();
        let e = render("a\nb %(nope)s\n", &values, false).unwrap_err();
        assert_eq!(e.to_string(), "line 2: no config key `nope`");
        assert!(render("x %(selector", &values, false).is_err());
    }
}
