#!/usr/bin/env bash
# Builds the Debian package: target/debian/scimdrift_<version>-1_<arch>.deb
#
#   bash packaging/build-deb.sh                  # a release build
#   bash packaging/build-deb.sh --profile dev    # a debug build (quick: CI's install test)
#
# Needs cargo-deb (`cargo install cargo-deb --locked`). The package's contents are listed in
# Cargo.toml ([package.metadata.deb]); this script makes what they need from the built binary
# (man pages, completions) and the units with the package's binary path.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
if [[ "${1:-}" == "--profile" ]]; then profile="${2:?--profile needs a name}"; shift 2; fi
case "$profile" in dev) dir=debug ;; *) dir="$profile" ;; esac

cargo build --locked --profile "$profile"
bin="target/$dir/scimdrift"
pkg=target/pkg
rm -rf "$pkg"
mkdir -p "$pkg/man" "$pkg/completions" "$pkg/systemd"
"$bin" man --dir "$pkg/man"
gzip -9n "$pkg"/man/*.1
"$bin" completions bash > "$pkg/completions/scimdrift"
"$bin" completions zsh > "$pkg/completions/_scimdrift"
"$bin" completions fish > "$pkg/completions/scimdrift.fish"
for unit in scimdrift.service scimdrift@.service; do
    sed 's|/usr/local/bin/scimdrift|/usr/bin/scimdrift|g' "systemd/$unit" > "$pkg/systemd/$unit"
done
cargo deb --locked --no-build --profile "$profile" "$@"
