#!/usr/bin/env bash
# Checks scimdrift's logs as journald stores them, read back with journalctl (the journal reader):
# under the journal's stream (systemd-cat, JOURNAL_STREAM set as systemd sets it), each event is one
# entry with its priority (info 6, warning 4, error 3), no `<N>` prefix left in any message,
# `journalctl -p warning` lists the warnings and not the info lines, and the command's own error (exit
# 2), several lines long, is one entry of priority error.
#
# Uses the running journald, or starts one (systemd-journald, from the systemd package) for the
# check and stops it after. Needs the debug binary (`cargo build`).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

bin="$PWD/target/debug/scimdrift"
cargo build --quiet --locked  # a no-op when current; never a stale binary
command -v journalctl > /dev/null && command -v systemd-cat > /dev/null \
    || fail "journalctl and systemd-cat (package systemd) are needed"

work="$(mktemp -d)"
journald_pid=""
sim_pid=""
cleanup() {
    [[ -n "$sim_pid" ]] && kill "$sim_pid" 2> /dev/null || true
    [[ -n "$journald_pid" ]] && kill "$journald_pid" 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if ! systemd-cat -t scimdrift-ci-probe true 2> /dev/null; then
    step "starting systemd-journald for the check"
    mkdir -p /run/systemd/journal
    setsid /lib/systemd/systemd-journald < /dev/null > "$work/journald.log" 2>&1 &
    journald_pid=$!
    for _ in $(seq 50); do
        systemd-cat -t scimdrift-ci-probe true 2> /dev/null && break
        sleep 0.1
    done
    systemd-cat -t scimdrift-ci-probe true 2> /dev/null \
        || { cat "$work/journald.log" >&2; fail "could not start systemd-journald"; }
fi

tag="scimdrift-ci-$$-$RANDOM"
# As systemd runs a service: stdout and stderr on one journal stream, JOURNAL_STREAM naming it.
under_journal() {
    systemd-cat -t "$tag" --level-prefix=true \
        bash -c 'JOURNAL_STREAM="$(stat -L -c %d:%i /proc/self/fd/2)" exec "$@"' _ "$@"
}

step "scimdrift once under journald: a complete pull, then one whose accounts cannot be reached"
"$bin" sim --listen 127.0.0.1:0 --users 5 --no-scenarios --write-config "$work/sim" > "$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do [[ -s "$work/sim/scimdrift.toml" ]] && break; sleep 0.1; done
[[ -s "$work/sim/scimdrift.toml" ]] || { cat "$work/sim.log" >&2; fail "the simulator wrote no config"; }
export SCIMDRIFT__STORE__PATH="$work/scimdrift.db"
RUST_LOG=info under_journal "$bin" --config "$work/sim/scimdrift.toml" once \
    || fail "once under journald failed"
# The accounts API on a closed loopback port: retries (warnings), then an incomplete pull.
sed 's|^base_url = .*|base_url = "http://127.0.0.1:9"|' "$work/sim/scimdrift.toml" > "$work/down.toml"
RUST_LOG=info under_journal "$bin" --config "$work/down.toml" once || true

step "scimdrift check-config under journald: an error several lines long"
printf '[atlassian\norg_id = 1\n' > "$work/bad.toml"
under_journal "$bin" --config "$work/bad.toml" check-config || true

journalctl --sync 2> /dev/null || sleep 1
journalctl -t "$tag" -o json --no-pager > "$work/all.json"
journalctl -t "$tag" -p warning -o json --no-pager > "$work/warning.json"
journalctl -t "$tag" -p err -o json --no-pager > "$work/err.json"
python3 - "$work" << 'PY'
import json, sys
work = sys.argv[1]
def entries(name):
    return [json.loads(l) for l in open(f"{work}/{name}.json") if l.strip()]
every, warnings, errors = entries("all"), entries("warning"), entries("err")
def fail(why):
    sys.exit(f"FAIL: {why}")
if not every:
    fail("journalctl found no entry of the check")
for e in every:
    m = e.get("MESSAGE")
    if isinstance(m, list):  # journalctl's form of a message that is not UTF-8
        fail(f"a message is not text: {e}")
    if m.startswith("<"):
        fail(f"a priority prefix left in a message: {m!r}")
prios = {int(e["PRIORITY"]) for e in every}
if 6 not in prios or 4 not in prios:
    fail(f"expected info (6) and warning (4) entries, found priorities {sorted(prios)}")
if not warnings or any(int(e["PRIORITY"]) > 4 for e in warnings):
    fail("journalctl -p warning must list the warnings and only them")
if len(warnings) >= len(every):
    fail("journalctl -p warning listed the info entries too")
if not any("retrying request" in e["MESSAGE"] for e in warnings):
    fail("the retries are not warnings in the journal")
bad = [e for e in errors if e["MESSAGE"].startswith("error: ")]
if len(bad) != 1:
    fail(f"the command's error must be one entry of priority error, found {len(bad)}: {bad}")
if "\\n" not in bad[0]["MESSAGE"]:
    fail(f"the error's lines are not kept in one entry: {bad[0]['MESSAGE']!r}")
print(f"{len(every)} entries: {len(warnings)} at warning or above, the error one entry")
PY
echo "journal checks passed"
