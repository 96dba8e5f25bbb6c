#!/usr/bin/env bash
# Install the Debian packages given as arguments if any is missing (used by the Makefile).
#
# Does nothing at all, not even `apt-get update`, when every package is installed already.
# As root: one `apt-get update`, then `apt-get install` of the missing ones. Not root, or not
# Debian/Ubuntu: only says what is missing and how to install it (and succeeds).
set -euo pipefail

if ! command -v dpkg >/dev/null 2>&1; then
    echo "ensure-debs: no dpkg (not Debian/Ubuntu): make sure Qt's system libraries are installed"
    exit 0
fi

missing=()
for pkg in "$@"; do
    # (Debian 13 renamed some libraries with a t64 suffix; the old name is only "provided".)
    status=$(dpkg-query -W -f='${Status}\n' "$pkg" "${pkg}t64" 2>/dev/null \
             | grep -m1 'install ok installed' || true)
    [ -n "$status" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "ensure-debs: missing Debian packages: ${missing[*]}"
    echo "ensure-debs: not root, so not installing them; run: sudo apt-get install ${missing[*]}"
    exit 0
fi

echo "ensure-debs: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
