//! Tidy checks over the source tree (as rust-analyzer has): the one-way layering of ARCHITECTURE.md.
//! A top-level module of `src/` may import only from modules below it: no cycle between top-level
//! modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/store/write.rs` → `store`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// The top-level modules a file's code names through `crate::` (tests inside the file included:
/// they live in the same module; comments, doc links included, are not code).
fn imports(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let text = code.as_str();
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
        // `use crate::{a, b::c}`
        if rest.starts_with('{') {
            let inner = &rest[1..rest.find('}').unwrap_or(rest.len())];
            for part in inner.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// module → the modules it imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    // `pub use app::{cli, …}` in lib.rs: `crate::cli` is the `app` module.
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut alias: BTreeMap<String, String> = BTreeMap::new();
    for line in lib.lines().filter(|l| l.starts_with("pub use ")) {
        let rest = &line["pub use ".len()..];
        if let Some((module, names)) = rest.split_once("::{") {
            for name in names.trim_end_matches("};").split(',') {
                alias.insert(name.trim().to_string(), module.to_string());
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        let deps = graph.entry(module.clone()).or_default();
        for dep in imports(&text) {
            let dep = alias.get(&dep).cloned().unwrap_or(dep);
            if dep != module && modules.contains(&dep) {
                deps.insert(dep);
            }
        }
    }
    graph
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[test]
fn the_checker_finds_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    g.entry("d".into()).or_default().insert("a".into());
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    assert_eq!(
        imports("use crate::{store::Store, detect};\nlet x = crate::model::X;"),
        ["detect", "model", "store"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}

#[test]
fn no_cycle_between_top_level_modules() {
    let g = graph();
    let found = cycles(&g);
    let edges: Vec<String> = g
        .iter()
        .map(|(m, deps)| {
            format!(
                "{m} -> {}",
                deps.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    assert!(
        found.is_empty(),
        "modules that import each other: {found:?}; a module imports only from layers below it \
         (ARCHITECTURE.md):\n{}",
        edges.join("\n")
    );
    // The application layer is on top: nothing imports it.
    for (module, deps) in &g {
        assert!(
            !deps.contains("app"),
            "{module} imports the application layer"
        );
    }
}

/// The metric names registered in the source (`"scimdrift_…"` literals), and the catalogue's
/// (docs/operations.md, "Metrics": the first column of the table).
fn metric_names() -> (BTreeSet<String>, BTreeSet<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut registered = BTreeSet::new();
    for f in files
        .iter()
        .filter(|f| !f.to_string_lossy().contains("/sim/"))
    {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, _) in text.match_indices("\"scimdrift_") {
            let name: String = text[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if name != "scimdrift_" {
                registered.insert(name);
            }
        }
    }
    let docs = std::fs::read_to_string(root.join("docs/operations.md")).unwrap();
    let section = &docs[docs.find("### Metrics").unwrap()..];
    let section = &section[..section.find("\n### ").unwrap_or(section.len())];
    let documented = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `scimdrift_"))
        .map(|l| format!("scimdrift_{}", &l[..l.find('`').unwrap()]))
        .collect();
    (registered, documented)
}

#[test]
fn the_metric_catalogue_lists_every_metric_and_only_those() {
    let (registered, documented) = metric_names();
    assert!(registered.len() > 20, "{registered:?}");
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/operations.md's Metrics table: {undocumented:?}"
    );
    assert!(stale.is_empty(), "documented but not registered: {stale:?}");
}

#[test]
fn the_catalogue_names_every_api_label() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .unwrap();
    let row = docs
        .lines()
        .find(|l| l.starts_with("| `scimdrift_api_requests_total`"))
        .unwrap();
    for api in scimdrift::http::Api::ALL {
        assert!(
            row.contains(api.label()),
            "{} missing from: {row}",
            api.label()
        );
    }
}

/// The committed rules and dashboard are the mixin's output for its default config
/// (`scimdrift mixin --out dashboards` regenerates them).
#[test]
fn the_committed_rules_and_dashboard_are_generated_by_the_mixin() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards");
    for (name, text) in scimdrift::app::mixin::generate(None).unwrap() {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(
            committed == text,
            "dashboards/{name} is not what dashboards/mixin/ generates: edit the template, then run \
             `scimdrift mixin --out dashboards`"
        );
    }
}

/// The template unit (one daemon per organization) differs from `scimdrift.service` only in what
/// names the instance: its user, config, state directory, database, credentials and description.
#[test]
fn the_template_unit_is_the_service_unit_per_organization() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    let directives = |name: &str| -> Vec<String> {
        std::fs::read_to_string(root.join(name))
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    let (service, template) = (
        directives("scimdrift.service"),
        directives("scimdrift@.service"),
    );
    assert_eq!(service.len(), template.len(), "{template:#?}");
    let per_instance = [
        "Description=",
        "User=",
        "Group=",
        "ExecStart=",
        "StateDirectory=",
        "Environment=SCIMDRIFT__STORE__PATH=",
        "LoadCredential=org-api-key:",
    ];
    for (s, t) in service.iter().zip(&template) {
        if per_instance.iter().any(|p| s.starts_with(p)) {
            assert!(t.contains("%i"), "{t} does not name the instance");
            assert_eq!(s.split('=').next(), t.split('=').next());
        } else {
            assert_eq!(s, t, "the template unit differs from scimdrift.service");
        }
    }
}

/// The simulator's layers (src/sim/mod.rs): each may use only the layers before it, never a
/// sibling of its own layer, so there is no circle of imports inside `sim/`.
const SIM_LAYERS: [&[&str]; 6] = [
    &["kit"],
    &["world"],
    &["seed", "state"],
    &["atlassian", "entra", "okta"],
    &["gate"],
    &["mod"],
];

/// The `sim/` unit a file belongs to: its folder under `src/sim/`, or its file stem.
fn sim_unit(sim: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(sim).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The `sim/` units the non-test code of `text` names by path: `crate::sim::x` (and
/// `crate::sim::{x, y}`), and `super::x` / `super::super::x` as far as they climb to `sim/`
/// (`nested`: the file is inside a unit's folder and is not its `mod.rs`). Inline test modules
/// (`#[cfg(test)] mod tests { … }`) are left out; an out-of-line `mod tests;` changes nothing.
fn sim_references(text: &str, nested: bool) -> BTreeSet<String> {
    let mut kept = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod tests {"))
        {
            break;
        }
        if !line.trim_start().starts_with("//") {
            kept.push(line);
        }
    }
    let code = kept.join("\n");
    let name = |rest: &str| -> Vec<String> {
        // `{a, b::c}` names each of a, b.
        if let Some(inner) = rest.strip_prefix('{') {
            let inner = &inner[..inner.find('}').unwrap_or(inner.len())];
            return inner
                .split(',')
                .map(|part| {
                    part.trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .filter(|n| !n.is_empty() && n != "self")
                .collect();
        }
        vec![
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect(),
        ]
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::sim::") {
        out.extend(name(&code[i + "crate::sim::".len()..]));
    }
    let up = if nested { "super::super::" } else { "super::" };
    for (i, _) in code.match_indices(up) {
        // Only the climb to `sim/` itself: not a longer `super::super::…` of a top-level file.
        if !nested && code[..i].ends_with("super::") {
            continue;
        }
        out.extend(name(&code[i + up.len()..]));
    }
    out.retain(|n| !n.is_empty());
    out
}

#[test]
fn the_simulator_layers_are_one_way() {
    let sim = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sim");
    let mut files = Vec::new();
    rust_files(&sim, &mut files);
    let layer = |unit: &str| SIM_LAYERS.iter().position(|l| l.contains(&unit));
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in files.iter().filter(|f| !f.ends_with("tests.rs")) {
        let unit = sim_unit(&sim, file);
        let Some(own) = layer(&unit) else {
            wrong.push(format!("{}: unit `{unit}` is in no layer", file.display()));
            continue;
        };
        // A unit folder's `mod.rs` climbs to `sim/` with one `super::`, like a top-level file.
        let nested = file.parent() != Some(sim.as_path()) && !file.ends_with("mod.rs");
        let text = std::fs::read_to_string(file).unwrap();
        for used in sim_references(&text, nested) {
            // A name that is no unit is a re-export of sim/mod.rs: the top layer.
            let theirs = layer(&used).unwrap_or(SIM_LAYERS.len() - 1);
            checked += 1;
            if used != unit && theirs >= own {
                wrong.push(format!(
                    "{} (layer {own}, `{unit}`) uses `{used}` (layer {theirs})",
                    file.strip_prefix(&sim).unwrap().display()
                ));
            }
        }
    }
    assert!(checked > 40, "{checked} references checked");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_simulator_layer_checker_sees_a_sibling_and_a_climb() {
    let refs = sim_references(
        "use crate::sim::okta::x;\nuse super::super::gate::y;\n// crate::sim::mod\n#[cfg(test)]\nmod tests;\nuse crate::sim::{kit, world::W};\n#[cfg(test)]\nmod tests {\nuse crate::sim::World;\n}",
        true,
    );
    assert_eq!(
        refs,
        BTreeSet::from(["gate", "kit", "okta", "world"].map(String::from))
    );
    let top = sim_references("use super::state::SimState;\nuse super::kit::x;", false);
    assert_eq!(top, BTreeSet::from(["kit", "state"].map(String::from)));
}
