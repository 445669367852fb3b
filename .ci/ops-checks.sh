#!/usr/bin/env bash
# Checks the operations files: Prometheus alert rules (syntax and unit tests), the example
# Alertmanager configuration (amtool: syntax, routing, inhibition of every alert), the Grafana dashboard
# (JSON, datasource references, PromQL syntax, metric names) and the systemd unit (verify, exposure).
#
#   bash .ci/ops-checks.sh [METRICS_OUT]
#
# METRICS_OUT, if given, receives the scimdrift_* metric names the dashboard and the alerts query,
# one per line (histogram series with their _bucket/_sum/_count suffix, as /metrics shows them).
# dashboards/metrics-referenced.txt holds the same list and must stay in sync: regenerate it with
#   bash .ci/ops-checks.sh dashboards/metrics-referenced.txt
#
# Installs promtool (Debian package `prometheus`) if missing, and fails if it cannot. Installs
# systemd-analyze (package `systemd`) if missing; if that cannot be installed, the unit checks are
# skipped with a warning.
#
# Also checks that the HTML report fits a 390 px phone and a 1280 px screen in a real browser:
# renders the showcase report (a 200-character display name, long emails) with the ignored test
# `write_showcase_report` (cargo; the same build `cargo test` reuses) and measures the page's
# scrollWidth in Debian's `chromium` (installed if missing; the check fails if it cannot be), then
# checks it against WCAG 2 AA with pa11y (from the npm registry, into ~/.cache/scimdrift-ci).
set -euo pipefail
cd "$(dirname "$0")/.."

metrics_out="${1:-}"
export DEBIAN_FRONTEND=noninteractive
work="$(mktemp -d)"
policy_rc_created=""
cleanup() {
    rm -rf "$work"
    if [[ -n "$policy_rc_created" ]]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT

step() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

apt_updated=""
apt_install() {
    # Installing packages must not start their services (the prometheus package ships one):
    # policy-rc.d exit 101 tells invoke-rc.d not to. Docker-style images already have one.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_rc_created=1
    fi
    if [[ -z "$apt_updated" ]]; then
        apt-get -o DPkg::Lock::Timeout=300 update -qq
        apt_updated=1
    fi
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" > "$work/apt.log" 2>&1 || {
        cat "$work/apt.log" >&2
        return 1
    }
}

# ---------------------------------------------------------------------------------------- tools
if ! command -v promtool > /dev/null; then
    step "installing promtool (Debian package prometheus)"
    apt_install prometheus || fail "could not install the prometheus package: promtool is required"
    command -v promtool > /dev/null || fail "promtool not found after installing the prometheus package"
fi
if ! command -v chromium > /dev/null; then
    step "installing chromium (Debian package chromium)"
    apt_install chromium fonts-dejavu-core || fail "could not install the chromium package: the report width check needs it"
    command -v chromium > /dev/null || fail "chromium not found after installing the chromium package"
fi
have_systemd_analyze=1
if ! command -v systemd-analyze > /dev/null; then
    step "installing systemd-analyze (Debian package systemd)"
    apt_install systemd || true
    command -v systemd-analyze > /dev/null || have_systemd_analyze=""
fi

# ---------------------------------------------------------------------------------------- alerts
step "promtool check rules dashboards/alerts.yml"
promtool check rules dashboards/alerts.yml
step "promtool test rules dashboards/alerts_test.yml"
promtool test rules dashboards/alerts_test.yml

# ----------------------------------------------------------------------------------------- mixin
# The committed rules and dashboard are the mixin's default output (tests/tidy.rs checks that);
# here, a config block other than the default must give rules promtool accepts and a dashboard
# that is JSON, with the selector, the runbook URL and the durations in place.
step "scimdrift mixin with another config block"
cat > "$work/mixin.toml" << 'TOML'
selector = 'job="idm: scimdrift #1", env!~"dev|test"'
runbook_url = "https://wiki.example.com/ops/scimdrift"
dashboard_uid = "idm-scimdrift"
[for]
ScimdriftDown = "3m"
TOML
cargo run --quiet --locked -- mixin --mixin-config "$work/mixin.toml" --out "$work/mixin" \
    || fail "scimdrift mixin failed"
promtool check rules "$work/mixin/alerts.yml" > /dev/null || fail "the mixin's rules for another config"
python3 -m json.tool "$work/mixin/scimdrift.json" > /dev/null || fail "the mixin's dashboard is not JSON"
grep -q 'absent(up{job="idm: scimdrift #1", env!~"dev|test"})' "$work/mixin/alerts.yml" \
    || fail "the mixin's selector is not in ScimdriftDown"
# The counter rules hold back for ScimdriftDown's `for`, whatever it is set to.
grep -q 'last_over_time(scimdrift_build_info{job="idm: scimdrift #1", env!~"dev|test"}\[3m\])' \
    "$work/mixin/alerts.yml" || fail "the counter rules do not hold back for ScimdriftDown's for"
grep -q 'https://wiki.example.com/ops/scimdrift#runbook-scimdriftdown' "$work/mixin/alerts.yml" \
    || fail "the mixin's runbook URL is not in the rules"
! grep -q 'scimdrift\.\*\|%(' "$work/mixin/alerts.yml" "$work/mixin/scimdrift.json" \
    || fail "the mixin left a default selector or a placeholder"

# ---------------------------------------------------------------------------------- alertmanager
if ! command -v amtool > /dev/null; then
    step "installing amtool (Debian package prometheus-alertmanager)"
    apt_install prometheus-alertmanager || fail "could not install the prometheus-alertmanager package: amtool is required"
fi
step "amtool check-config dashboards/alertmanager.example.yml"
amtool check-config dashboards/alertmanager.example.yml
route() { amtool config routes test --config.file=dashboards/alertmanager.example.yml "$@" 2> /dev/null; }
[[ "$(route alertname=ScimdriftLeaverKeepsAccess severity=critical)" == "security" ]] \
    || fail "the critical leaver alert does not route to the security receiver"
[[ "$(route alertname=ScimdriftSourceDown severity=warning)" == "ops" ]] \
    || fail "a warning does not route to the ops receiver"
# Every other alert of the rules is inhibited by ScimdriftDown of its instance, but the leaver alert:
# it keeps firing while the daemon is down (a leaver with access is not fixed by an outage).
python3 - dashboards/alerts.yml dashboards/alertmanager.example.yml << 'PY'
import re, sys
rules = open(sys.argv[1]).read()
am = open(sys.argv[2]).read()
names = re.findall(r"^\s*- alert: (\S+)", rules, re.M)
block = am[am.index('source_matchers: [\'alertname="ScimdriftDown"\']'):]
target = re.search(r'alertname=~"([^"]+)"', block).group(1)
kept = {"ScimdriftDown", "ScimdriftLeaverKeepsAccess"}
missing = [n for n in names if n not in kept and not re.fullmatch(target, n)]
wrong = [n for n in kept - {"ScimdriftDown"} if re.fullmatch(target, n)]
if wrong:
    sys.exit(f"FAIL: inhibited by ScimdriftDown but must keep firing: {wrong}")
if missing:
    sys.exit(f"FAIL: not inhibited by ScimdriftDown in dashboards/alertmanager.example.yml: {missing}")
print(f"{len(names) - len(kept)} alerts inhibited by ScimdriftDown")
PY

# ------------------------------------------------------------------------------------- dashboard
step "dashboards/scimdrift.json"
python3 -m json.tool dashboards/scimdrift.json > /dev/null || fail "dashboards/scimdrift.json is not valid JSON"

# Static checks of the dashboard and the alerts; writes the PromQL of every dashboard query as a
# recording rule (template variables replaced) for promtool, and the referenced metric names.
python3 - "$work" << 'PY'
import json, os, re, sys

work = sys.argv[1]
errors = []
DS_UID = "${datasource}"

# --- dashboard
d = json.load(open("dashboards/scimdrift.json"))
if d.get("uid") != "scimdrift":
    errors.append('dashboard uid must be "scimdrift"')
if d.get("id") is not None:
    errors.append("dashboard id must be null (file provisioning assigns it)")
if "__inputs" in d:
    errors.append("dashboard has __inputs (an export for sharing, not a provisioning file)")
variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
ds_var = variables.get("datasource")
if not ds_var or ds_var.get("type") != "datasource" or ds_var.get("query") != "prometheus":
    errors.append("dashboard needs a `datasource` template variable of type datasource, query prometheus")

def walk(node, path):
    if isinstance(node, dict):
        for k, v in node.items():
            yield path, k, v
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")

exprs = []
for path, key, value in walk(d, "$"):
    if key == "datasource":
        ok = value == DS_UID or (isinstance(value, dict) and value.get("uid") == DS_UID
                                 and value.get("type") == "prometheus")
        if not ok:
            errors.append(f"{path}.datasource is {json.dumps(value)}; must be "
                          f'{{"type": "prometheus", "uid": "{DS_UID}"}}')
    if key == "expr" and isinstance(value, str):
        exprs.append((path, value))
    if key == "definition" and isinstance(value, str):
        pass  # label_values(...) is Grafana syntax, not PromQL; its metric is collected below
# A hard-coded datasource uid anywhere else (e.g. a "uid" next to a datasource name) is caught too.
raw = open("dashboards/scimdrift.json").read()
for m in re.finditer(r'"uid"\s*:\s*"([^"]*)"', raw):
    if m.group(1) not in (DS_UID, "scimdrift"):
        errors.append(f'hard-coded uid "{m.group(1)}" in dashboards/scimdrift.json')

# Panel layout: ids unique, no overlapping grid cells.
ids, cells = set(), {}
for p in d.get("panels", []):
    if p.get("id") in ids:
        errors.append(f"panel id {p.get('id')} used twice")
    ids.add(p.get("id"))
    g = p["gridPos"]
    if g["x"] + g["w"] > 24:
        errors.append(f"panel {p.get('title')!r} is wider than the grid")
    for x in range(g["x"], g["x"] + g["w"]):
        for y in range(g["y"], g["y"] + g["h"]):
            if (x, y) in cells:
                errors.append(f"panels {p.get('title')!r} and {cells[(x, y)]!r} overlap")
                break
            cells[(x, y)] = p.get("title")

# PromQL of the dashboard as recording rules, for `promtool check rules`.
subst = {"$instance": ".*", "$job": ".*", "$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
with open(f"{work}/dashboard-rules.yml", "w") as f:
    f.write("groups:\n  - name: dashboard-queries\n    rules:\n")
    for i, (path, e) in enumerate(exprs):
        for k, v in subst.items():
            e = e.replace(k, v)
        if "$" in e:
            errors.append(f"{path}: unknown template variable in {e!r}")
        f.write(f"      - record: dashboard_query_{i}\n        expr: {json.dumps(e)}\n")

# --- alerts: each runbook_url names a file of this repository and a heading of it (GitHub anchor
# rules): https://github.com/scimdrift/scimdrift/blob/main/<file>#runbook-<alert name lower-cased>
RUNBOOK_URL = re.compile(r"^https://github\.com/scimdrift/scimdrift/blob/main/([^#?]+)#(.+)$")

def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")

anchors_of = {}
def anchors(path):
    """The heading anchors of a Markdown file of the repository (fenced code left out), None if absent."""
    if path not in anchors_of:
        if ".." in path.split("/") or not os.path.isfile(path):
            anchors_of[path] = None
        else:
            text = re.sub(r"^```.*?^```", "", open(path).read(), flags=re.M | re.S)
            anchors_of[path] = {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, re.M)}
    return anchors_of[path]

alerts_text = open("dashboards/alerts.yml").read()
alert_names = re.findall(r"^\s*-\s*alert:\s*(\S+)", alerts_text, re.M)
urls = re.findall(r'runbook_url:\s*"?([^"\s]+)"?', alerts_text)
if len(urls) != len(alert_names):
    errors.append(f"{len(alert_names)} alerts but {len(urls)} runbook_url annotations")
for name, url in zip(alert_names, urls):
    m = RUNBOOK_URL.match(url)
    if not m:
        errors.append(f"{name}: runbook_url {url} is not https://github.com/scimdrift/scimdrift/blob/main/<file>#<anchor>")
        continue
    path, anchor = m.group(1), m.group(2)
    if anchor != f"runbook-{name.lower()}":
        errors.append(f"{name}: runbook_url anchor #{anchor} should be #runbook-{name.lower()}")
    found = anchors(path)
    if found is None:
        errors.append(f"{name}: runbook_url names {path}, which does not exist")
    elif anchor not in found:
        errors.append(f"{name}: {path} has no heading for #{anchor} (write `### Runbook: {name}`)")

# Alert expressions: the `expr:` values (plain or block scalars), comments and annotations excluded.
alert_exprs, lines = [], alerts_text.splitlines()
for i, line in enumerate(lines):
    m = re.match(r"^(\s*)expr:\s*(.*)$", line)
    if not m:
        continue
    indent, rest = len(m.group(1)), m.group(2)
    if rest and rest[0] not in "|>":
        alert_exprs.append(rest)
        continue
    block = []
    for nxt in lines[i + 1:]:
        if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
            break
        block.append(nxt)
    alert_exprs.append("\n".join(block))

# --- metric names
name_re = re.compile(r"\bscimdrift_[a-z0-9_]+")
referenced = set()
for _, e in exprs:
    referenced |= set(name_re.findall(e))
for v in variables.values():
    q = v.get("definition") or ""
    referenced |= set(name_re.findall(q))
for e in alert_exprs:
    referenced |= set(name_re.findall(e))

# Every name must be one the binary exports (src/metrics.rs), histogram series by their family.
try:
    catalogue = set(re.findall(r'"(scimdrift_[a-z0-9_]+)"', open("src/metrics.rs").read()))
except FileNotFoundError:
    catalogue = None
if catalogue is not None:
    for n in sorted(referenced):
        family = re.sub(r"_(bucket|sum|count)$", "", n)
        if n not in catalogue and family not in catalogue:
            errors.append(f"{n} is referenced but src/metrics.rs does not export it")

with open(f"{work}/metrics.txt", "w") as f:
    f.write("".join(n + "\n" for n in sorted(referenced)))

if errors:
    for e in errors:
        print(f"FAIL: {e}", file=sys.stderr)
    sys.exit(1)
print(f"dashboard: {len(d.get('panels', []))} panels, {len(exprs)} queries; "
      f"{len(alert_names)} alerts; {len(referenced)} scimdrift metrics referenced")
PY

step "promtool check rules (the dashboard's queries)"
promtool check rules "$work/dashboard-rules.yml"

if [[ -n "$metrics_out" ]]; then
    cp "$work/metrics.txt" "$metrics_out"
fi
if ! cmp -s "$work/metrics.txt" dashboards/metrics-referenced.txt; then
    diff -u dashboards/metrics-referenced.txt "$work/metrics.txt" >&2 || true
    fail "dashboards/metrics-referenced.txt is out of date: bash .ci/ops-checks.sh dashboards/metrics-referenced.txt"
fi

# ------------------------------------------------------------------------------------- systemd
if [[ -z "$have_systemd_analyze" ]]; then
    printf 'WARNING: systemd-analyze is not available and could not be installed: systemd unit NOT checked\n' >&2
else
    # verify needs the ExecStart binary and the units the service depends on: a throwaway root with
    # a stub /usr/local/bin/scimdrift and the system's own units, so the host is left untouched.
    step "systemd-analyze verify systemd/scimdrift.service and scimdrift@.service"
    root="$work/root"
    mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
    for dir in /usr/lib/systemd/system /lib/systemd/system; do
        if [[ -d "$dir" ]]; then cp -r "$dir" "$root/usr/lib/systemd/"; break; fi
    done
    printf '#!/bin/sh\nexit 0\n' > "$root/usr/local/bin/scimdrift"
    chmod 755 "$root/usr/local/bin/scimdrift"
    # ExecReload's /bin/kill (procps), as every system has it.
    mkdir -p "$root/bin"
    cp "$root/usr/local/bin/scimdrift" "$root/bin/kill"
    cp systemd/scimdrift.service systemd/scimdrift@.service "$root/etc/systemd/system/"
    # verify exits 0 on unknown keys and similar warnings: any output fails the check.
    for unit in scimdrift.service scimdrift@acme.service; do
        if ! systemd-analyze verify --man=no --root="$root" "$unit" > "$work/verify.log" 2>&1 \
            || [[ -s "$work/verify.log" ]]; then
            cat "$work/verify.log" >&2
            fail "systemd-analyze verify reported problems in $unit"
        fi
    done

    step "systemd-analyze security (exposure must stay at or below 2.0)"
    for unit in scimdrift.service scimdrift@.service; do
        if ! systemd-analyze security --offline=true --threshold=20 --no-pager "systemd/$unit" \
            > "$work/security.log" 2>&1; then
            cat "$work/security.log" >&2
            fail "systemd/$unit exposure is above 2.0"
        fi
        grep -a 'Overall exposure' "$work/security.log"
    done
fi

# ------------------------------------------------------------------------------ report widths
step "the HTML report and /person pages fit 390 px and 1280 px wide screens (chromium)"
SCIMDRIFT_REPORT_OUT="$work/report" cargo test -q --locked --test report -- --ignored --exact write_showcase_report \
    > "$work/showcase.log" 2>&1 || { cat "$work/showcase.log" >&2; fail "could not render the showcase report"; }
for page in report person person-idp; do
    [[ -s "$work/report/$page.html" ]] || fail "the showcase test wrote no $page.html"
done
# The page is measured in an iframe of exactly the width (srcdoc, so the wrapper can read it): a
# headless window is never narrower than 500 px, whatever --window-size says. Scrollbars are
# hidden, as on a phone. A copy is measured; the report itself has no script.
python3 - "$work" report person person-idp << 'PY'
import html, os, re, subprocess, sys

work, names = sys.argv[1], sys.argv[2:]
failed = []
for name, width in [(n, w) for n in names for w in (390, 1280)]:
    doc = open(os.path.join(work, "report", f"{name}.html"), encoding="utf-8").read()
    page = os.path.join(work, f"measure-{name}-{width}.html")
    with open(page, "w", encoding="utf-8") as f:
        f.write(
            f'<!DOCTYPE html><html><head><title>not measured</title></head><body style="margin:0">'
            f'<iframe id="r" style="border:0;width:{width}px;height:844px" srcdoc="{html.escape(doc, quote=True)}"></iframe>'
            "<script>document.getElementById('r').addEventListener('load',function(){"
            "var d=this.contentDocument,top=function(q){var e=d.querySelector(q);return e?e.getBoundingClientRect().top:null};"
            # On a phone the summary comes before the IdP tables, and a person's fix before the
            # person's tables (the report only; null where the page has no such part).
            "var s=top('#summary'),i=top('#idp'),f=top('article.person .finding'),t=top('article.person > .scroll');"
            "var order=(s===null||i===null||s<i)&&(f===null||t===null||f<t);"
            "document.title='scrollWidth='+d.documentElement.scrollWidth+' order='+(order?'ok':'bad')})</script>"
            "</body></html>")
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--hide-scrollbars", f"--user-data-dir={work}/chromium-{name}-{width}",
           f"--window-size={max(width, 500)},844", "--virtual-time-budget=2000", "--dump-dom", page]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        sys.exit(f"FAIL: chromium did not finish measuring {name} at {width} px")
    m = re.search(r"<title>scrollWidth=(\d+) order=(\w+)</title>", run.stdout)
    if not m:
        sys.stderr.write(run.stderr[-2000:])
        sys.exit(f"FAIL: chromium did not measure {name} at {width} px")
    got = int(m.group(1))
    order = f", phone order {m.group(2)}" if width == 390 else ""
    print(f"{name} at {width} px: scrollWidth {got}{order}")
    if width == 390 and m.group(2) != "ok":
        failed.append(f"{name}.html on a 390 px screen: the summary or a person's fix comes after the tables")
    if got > width:
        failed.append(f"{name}.html is {got} px wide on a {width} px screen (horizontal scrolling)")
for f in failed:
    print(f"FAIL: {f}", file=sys.stderr)
sys.exit(1 if failed else 0)
PY

# --------------------------------------------------------------------------- report accessibility
# pa11y (WCAG 2 AA, HTML_CodeSniffer) on the same showcase report, in Debian's chromium: puppeteer's
# own browser download is skipped (this machine cannot fetch it). Installed once into a cache.
step "the HTML report and /person pages pass WCAG 2 AA (pa11y ${PA11Y_VERSION:=9.1.1})"
command -v npm > /dev/null || fail "npm is required for the accessibility check (pa11y)"
pa11y_dir="${XDG_CACHE_HOME:-$HOME/.cache}/scimdrift-ci/pa11y-$PA11Y_VERSION"
if [[ ! -x "$pa11y_dir/node_modules/.bin/pa11y" ]]; then
    mkdir -p "$pa11y_dir"
    (cd "$pa11y_dir" && PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund --silent "pa11y@$PA11Y_VERSION") \
        > "$work/npm.log" 2>&1 || { cat "$work/npm.log" >&2; fail "could not install pa11y $PA11Y_VERSION from the npm registry"; }
fi
cat > "$work/pa11y.json" << 'JSON'
{"standard": "WCAG2AA", "timeout": 120000,
 "chromeLaunchConfig": {"executablePath": "/usr/bin/chromium",
  "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]}}
JSON
for page in report person person-idp; do
    "$pa11y_dir/node_modules/.bin/pa11y" --config "$work/pa11y.json" --reporter cli "file://$work/report/$page.html" \
        > "$work/pa11y.log" 2>&1 || { cat "$work/pa11y.log" >&2; fail "pa11y found WCAG 2 AA errors in $page.html (above)"; }
    printf '%s.html: %s\n' "$page" "$(grep -a -m1 "No issues found" "$work/pa11y.log")"
done

# ------------------------------------------------------------------ dashboard: @grafana/schema
# The dashboard type-checks against Grafana's own schema types (@grafana/schema, TypeScript strict):
# the JSON is checked as an object literal of type Dashboard, string enums read as their values.
step "dashboards/scimdrift.json type-checks against @grafana/schema ${GRAFANA_SCHEMA_VERSION:=13.2.3} (tsc ${TYPESCRIPT_VERSION:=5.9.3})"
gs_dir="${XDG_CACHE_HOME:-$HOME/.cache}/scimdrift-ci/grafana-schema-$GRAFANA_SCHEMA_VERSION-ts-$TYPESCRIPT_VERSION"
if [[ ! -x "$gs_dir/node_modules/.bin/tsc" || ! -d "$gs_dir/node_modules/@grafana/schema" ]]; then
    mkdir -p "$gs_dir"
    (cd "$gs_dir" && npm install --no-audit --no-fund --silent "typescript@$TYPESCRIPT_VERSION" "@grafana/schema@$GRAFANA_SCHEMA_VERSION") \
        > "$work/npm-gs.log" 2>&1 || { cat "$work/npm-gs.log" >&2; fail "could not install @grafana/schema and typescript from the npm registry"; }
fi
mkdir -p "$work/gs"
{
    echo 'import type { Dashboard } from "@grafana/schema";'
    echo 'type Loose<T> = T extends string ? `${T}` : T extends (infer U)[] ? Loose<U>[] : T extends object ? { [K in keyof T]: Loose<T[K]> } : T;'
    printf 'export const dashboard: Loose<Dashboard> = '
    cat dashboards/scimdrift.json
    echo ';'
} > "$work/gs/check.ts"
ln -sfn "$gs_dir/node_modules" "$work/gs/node_modules"
printf '{"compilerOptions": {"strict": true, "noEmit": true, "moduleResolution": "bundler", "module": "esnext", "target": "es2020", "skipLibCheck": true}, "files": ["check.ts"]}\n' > "$work/gs/tsconfig.json"
(cd "$work/gs" && "$gs_dir/node_modules/.bin/tsc" -p .) || fail "dashboards/scimdrift.json does not type-check against @grafana/schema (above; line numbers are the JSON's plus 3)"

# -------------------------------------------------------------------- Teams webhook: Adaptive Card
# The showcase report's Teams payload, parsed and validated by Microsoft's own Adaptive Cards
# library (npm `adaptivecards`, its UMD build: the ESM one does not load in Node).
step "the Teams webhook's Adaptive Card validates (adaptivecards ${ADAPTIVECARDS_VERSION:=3.0.6})"
ac_dir="${XDG_CACHE_HOME:-$HOME/.cache}/scimdrift-ci/adaptivecards-$ADAPTIVECARDS_VERSION"
if [[ ! -f "$ac_dir/node_modules/adaptivecards/dist/adaptivecards.js" ]]; then
    mkdir -p "$ac_dir"
    (cd "$ac_dir" && npm install --no-audit --no-fund --silent "adaptivecards@$ADAPTIVECARDS_VERSION") \
        > "$work/npm-ac.log" 2>&1 || { cat "$work/npm-ac.log" >&2; fail "could not install adaptivecards $ADAPTIVECARDS_VERSION from the npm registry"; }
fi
[[ -s "$work/report/teams.json" ]] || fail "the showcase test wrote no teams.json"
NODE_PATH="$ac_dir/node_modules" node - "$work/report/teams.json" << 'JS' || fail "the Teams webhook's Adaptive Card does not validate (above)"
const AC = require("adaptivecards/dist/adaptivecards.js");
const message = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
if (message.type !== "message" || message.attachments.length !== 1
    || message.attachments[0].contentType !== "application/vnd.microsoft.card.adaptive") {
    console.error("not a Teams message with one Adaptive Card attachment"); process.exit(1);
}
const content = message.attachments[0].content;
const card = new AC.AdaptiveCard();
const context = new AC.SerializationContext();
card.parse(content, context);
const problems = [];
for (let i = 0; i < context.eventCount; i++) { const e = context.getEventAt(i); problems.push(`parse: ${e.message}`); }
for (const e of card.validateProperties().validationEvents) problems.push(`validate: ${e.message}`);
if (problems.length) { console.error(problems.join("\n")); process.exit(1); }
console.log(`Adaptive Card ${content.version}: ${card.getItemCount()} body elements, ${card.getActionCount()} action(s), no issue`);
JS

step "ops checks passed"
