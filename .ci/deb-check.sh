#!/usr/bin/env bash
# Checks the Debian package as an administrator meets it: builds it with cargo-deb (a debug build,
# the one `cargo test` reuses), installs it with `dpkg -i`, runs the installed binary, checks the
# system user, the man pages, the completions, the rules and dashboard, verifies the installed
# units with systemd-analyze (scimdrift.service and an instance of scimdrift@.service), then
# purges the package and checks nothing of it is left but the administrator's data.
#
# Installs cargo-deb (pinned) with cargo if missing, and adduser if missing; fails if it cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

step() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

cargo_deb_version=3.8.0
if [[ "$(cargo deb --version 2> /dev/null)" != *"$cargo_deb_version"* ]]; then
    step "installing cargo-deb $cargo_deb_version"
    cargo install --quiet --locked cargo-deb --version "$cargo_deb_version" \
        || fail "could not install cargo-deb: the package check needs it"
fi
if ! command -v adduser > /dev/null; then
    step "installing adduser (the package depends on it)"
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends adduser > /dev/null \
        || fail "could not install adduser"
fi
if dpkg -s scimdrift > /dev/null 2>&1; then
    fail "a scimdrift package is already installed on this machine: not touching it"
fi

step "packaging/build-deb.sh --profile dev"
# cargo-deb warns that dev profiles are for testing only: this is a test.
bash packaging/build-deb.sh --profile dev --quiet
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
deb="target/debian/scimdrift_${version}-1_$(dpkg --print-architecture).deb"
[[ -s "$deb" ]] || fail "no $deb"

installed=""
cleanup() { if [[ -n "$installed" ]]; then dpkg --purge scimdrift > /dev/null 2>&1 || true; fi; }
trap cleanup EXIT

step "dpkg -i $deb"
installed=1
dpkg -i "$deb" > /dev/null
# Installed again: the upgrade path of the maintainer scripts; an administrator's modes stay.
chmod 0750 /etc/scimdrift/credentials
dpkg -i "$deb" > /dev/null
[[ "$(stat -c %a /etc/scimdrift/credentials)" == 750 ]] || fail "an upgrade reset /etc/scimdrift/credentials' mode"
chmod 0700 /etc/scimdrift/credentials

step "the installed package"
[[ "$(command -v scimdrift)" == /usr/bin/scimdrift ]] || fail "scimdrift is not /usr/bin/scimdrift"
/usr/bin/scimdrift --version | grep -q "^scimdrift $version (" || fail "scimdrift --version: $(/usr/bin/scimdrift --version)"
getent passwd scimdrift > /dev/null || fail "no system user scimdrift"
[[ "$(getent passwd scimdrift | cut -d: -f3)" -lt 1000 ]] || fail "the scimdrift user is not a system user"
[[ "$(stat -c %a /etc/scimdrift/credentials)" == 700 ]] || fail "/etc/scimdrift/credentials is not 0700"
for page in scimdrift scimdrift-run scimdrift-once scimdrift-remediate-apply scimdrift-mixin; do
    zcat "/usr/share/man/man1/$page.1.gz" | grep -q '^\.TH' || fail "no man page $page(1)"
done
grep -q 'complete .*scimdrift' /usr/share/bash-completion/completions/scimdrift || fail "bash completion"
[[ -s /usr/share/zsh/vendor-completions/_scimdrift ]] || fail "zsh completion"
[[ -s /usr/share/fish/vendor_completions.d/scimdrift.fish ]] || fail "fish completion"
[[ -s /usr/share/doc/scimdrift/examples/scimdrift.example.toml ]] || fail "the example config"
python3 -m json.tool /usr/share/scimdrift/dashboards/scimdrift.json > /dev/null || fail "the dashboard"
if command -v promtool > /dev/null; then
    promtool check rules /usr/share/scimdrift/dashboards/alerts.yml > /dev/null || fail "the installed rules"
fi

if command -v systemd-analyze > /dev/null; then
    step "systemd-analyze verify the installed units"
    # verify exits 0 on unknown keys and similar warnings: any output fails the check.
    for unit in scimdrift.service scimdrift@acme.service; do
        out="$(systemd-analyze verify --man=no "$unit" 2>&1)" || fail "systemd-analyze verify $unit: $out"
        [[ -z "$out" ]] || fail "systemd-analyze verify $unit: $out"
    done
    grep -q '^ExecStart=/usr/bin/scimdrift ' /lib/systemd/system/scimdrift@.service \
        || fail "the installed template unit does not run /usr/bin/scimdrift"
else
    printf 'WARNING: systemd-analyze is not available: the installed units NOT verified\n' >&2
fi

step "dpkg --purge scimdrift"
# An instance an administrator enabled: purging removes the link (a reinstall must not start it).
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -sf /lib/systemd/system/scimdrift@.service /etc/systemd/system/multi-user.target.wants/scimdrift@acme.service
dpkg --purge scimdrift > /dev/null
installed=""
[[ ! -L /etc/systemd/system/multi-user.target.wants/scimdrift@acme.service ]] \
    || fail "dpkg --purge left the enablement link of scimdrift@acme"
for f in /usr/bin/scimdrift /lib/systemd/system/scimdrift.service /lib/systemd/system/scimdrift@.service \
    /usr/share/man/man1/scimdrift.1.gz /usr/share/scimdrift; do
    [[ ! -e "$f" ]] || fail "$f is left after dpkg --purge"
done
echo "package checks passed"
