#!/usr/bin/env bash
# Idempotent set-up for a fresh machine of this project's kind (Debian, Python 3.11, JDK 17, Maven).
#
# The virtualenv lives outside the clone, named after the hash of requirements.lock, so a
# second clone (or CI's fresh one) reuses it instead of downloading several GB of torch again.
# `--print-venv` prints that path and changes nothing (the Makefile uses it).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${PROFILEGRAPH_HOME:-$HOME/.cache/profilegraph}"
python="${PYTHON:-python3}"
lock_hash="$( (cat "$repo/requirements.lock"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-12)"
venv="$cache/venv-$lock_hash"

if [[ "${1:-}" == "--print-venv" ]]; then
    echo "$venv"
    exit 0
fi

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }

# System packages: Redis from Debian, the JDK/Maven that fetch and run Neo4j, and headless
# Chromium with its driver for the real-browser tests.
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)  # builds graph/plugin
command -v mvn >/dev/null || missing+=(maven)
command -v chromium >/dev/null || missing+=(chromium)  # real-browser tests: Neo4j Browser, report
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    sudo_cmd=()
    [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The virtualenv: built once per lock hash; a half-built one (no marker) is rebuilt.
if [[ ! -f "$venv/.complete" ]]; then
    log "creating $venv (first time for this lock: downloads torch, a few minutes)"
    rm -rf "$venv"
    mkdir -p "$cache"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --cache-dir "$cache/pip" --upgrade pip setuptools wheel
    "$venv/bin/pip" install -q --cache-dir "$cache/pip" -r "$repo/requirements.lock"
    touch "$venv/.complete"
fi

# This clone, installed editable; redone only when the venv points at another clone.
# (Run from / so the current directory cannot stand in for an installed package.)
installed="$(cd / && "$venv/bin/python" -c 'import pathlib, profilegraph; print(pathlib.Path(profilegraph.__file__).resolve().parents[1])' 2>/dev/null || true)"
if [[ "$installed" != "$repo" || ! -x "$venv/bin/profilegraph" ]]; then
    log "installing this clone ($repo) into the venv"
    "$venv/bin/pip" install -q --no-deps --no-build-isolation -e "$repo" >"$cache/editable.log" 2>&1 \
        || { cat "$cache/editable.log" >&2; exit 1; }
fi
echo "$venv"
