#!/usr/bin/env bash
# carry against git on real downstream patch directories: the shared scenarios
# (../shared/realseries: libxml2, e2fsprogs, glib) and ours (busybox, rpm; the .conf files
# here, in the shared make.sh's format), each in both series forms.
#
#   bash bench/realseries/run.sh MIRRORS [OUT]
#
# MIRRORS holds bare mirrors named OWNER+NAME/repo (what the search tool's `fetch` brings):
# GNOME+libxml2, tytso+e2fsprogs, GNOME+glib, mirror+busybox,
# rpm-software-management+rpm, openembedded+openembedded-core. OUT defaults to a temporary
# directory. Prints each scenario's verdict line; exits 1 when any verdict disagrees.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=$root/../shared/realseries
mirrors=${1:?usage: run.sh MIRRORS [OUT]}
out=${2:-$(mktemp -d)}
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
carry=$root/target/release/carry
# make.sh reads scenarios from the folder beside it: a scratch copy holds both sets.
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
cp "$shared"/make.sh "$shared"/oracle.sh "$shared"/check.py "$tools"/
mkdir -p "$tools/scenarios"
cp "$shared"/scenarios/*.conf "$here"/*.conf "$tools/scenarios/"
layer=$mirrors/openembedded+openembedded-core/repo
status=0
for pair in libxml2:GNOME+libxml2 e2fsprogs:tytso+e2fsprogs glib:GNOME+glib \
            busybox:mirror+busybox rpm:rpm-software-management+rpm; do
    name=${pair%%:*} upstream=$mirrors/${pair#*:}/repo
    [ -d "$out/$name" ] || "$tools/make.sh" "$name" "$upstream" "$layer" "$out/$name" > "$out/$name.make.log"
    [ -d "$out/$name.oracle" ] || "$tools/oracle.sh" "$out/$name" "$out/$name.oracle" > "$out/$name.oracle.log"
    for form in "" --dir; do
        line=$("$tools/check.py" "$out/$name" "$carry" $form | tail -n 1) || status=1
        echo "$name ${form:-(branch)}: $line"
    done
done
exit $status
