#!/usr/bin/env bash
# Make the virtual environment VENV with PYTHON, unless it is there already and right (used by
# the Makefile):
#
#   tools/ensure-venv.sh [--explicit] [--stale] PYTHON VENV MIN_VERSION
#
# Right: its Python runs, is MIN_VERSION (requires-python in pyproject.toml) or newer, and with
# --explicit (PYTHON was named: `make test PYTHON=python3.12`) is PYTHON's own. Otherwise it
# is made anew with PYTHON, once PYTHON is checked: a PYTHON older than MIN_VERSION is refused
# with a clear message before anything is made. (A first `make` with Ubuntu 22.04's python3,
# 3.10, made .venv and stopped with pip's "requires a different Python"; `make …
# PYTHON=python3.11` then met the same error for ever, as .venv was there.)
#
# --stale: make nothing; print "stale" when VENV exists and is not right.
set -euo pipefail

explicit=0 stale=0
while [[ $# -gt 0 && $1 == --* ]]; do
    case $1 in
        --explicit) explicit=1 ;;
        --stale) stale=1 ;;
        *) echo "ensure-venv: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
python=$1 venv=$2 min=$3

meets='import sys; sys.exit(sys.version_info < tuple(map(int, sys.argv[1].split("."))))'
identity='import sys; print(sys.base_prefix, "%d.%d.%d" % sys.version_info[:3])'

venv_right() {
    [[ -x $venv/bin/python ]] || return 1
    "$venv/bin/python" -c "$meets" "$min" 2>/dev/null || return 1
    if (( explicit )); then
        [[ "$("$venv/bin/python" -c "$identity" 2>/dev/null)" \
           == "$("$python" -c "$identity" 2>/dev/null)" ]] || return 1
    fi
}

if (( stale )); then
    if [[ -e $venv ]] && ! venv_right; then
        echo stale
    fi
    exit 0
fi
venv_right && exit 0

if ! version=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' \
               2>/dev/null); then
    echo "make: cannot run $python (PYTHON); Messenger needs Python $min or newer: install" \
         "one and name it, e.g. make test PYTHON=python$min" >&2
    exit 1
fi
if ! "$python" -c "$meets" "$min"; then
    echo "make: $python is Python $version; Messenger needs Python $min or newer" \
         "(requires-python in pyproject.toml): install one and name it, e.g." \
         "make test PYTHON=python$min" >&2
    exit 1
fi
if [[ -e $venv ]]; then
    was=$("$venv/bin/python" -c 'import sys; print("Python %d.%d.%d" % sys.version_info[:3])' \
          2>/dev/null || echo "a Python that no longer runs")
    echo "make: $venv was made with $was; making it anew with $python (Python $version)"
    rm -rf "$venv"
fi
# Debian's python3 comes without ensurepip (the venv module's pip): python3-venv has it.
"$python" -c 'import ensurepip' 2>/dev/null || bash tools/ensure-debs.sh python3-venv
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
