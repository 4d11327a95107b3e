# Helpers shared by scripts/demo and scripts/test (sourced, not run).
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${DALCORE_VENV:-$ROOT/.venv}
VPY=$VENV/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run as root directly, otherwise through sudo (a developer's machine).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_missing() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' \
            || printf '%s\n' "$pkg"
    done
}

# Install Debian packages that are not installed yet; apt-get update only when something is.
apt_install() {
    local missing
    mapfile -t missing < <(apt_missing "$@")
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null || {
        printf 'warning: no apt-get; install %s yourself or the tests needing them skip\n' \
            "${missing[*]}" >&2
        return 0
    }
    say "apt-get install ${missing[*]}"
    # Installing memcached, redis or etcd would start them as system services; the tests start
    # their own servers on free ports, so keep the packaged ones from starting (exit 101 =
    # "action forbidden" to invoke-rc.d). Only when no policy of the machine's own is in place.
    local policy=/usr/sbin/policy-rc.d added=""
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy" && added=1
    fi
    local status=0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q || status=$?
    if [ "$status" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}" || status=$?
    fi
    [ -n "$added" ] && as_root rm -f "$policy"
    [ "$status" -eq 0 ] || die "apt-get could not install ${missing[*]}"
}

# Create .venv if needed (python3 -m venv; Debian's python3 needs python3-venv for that).
ensure_venv() {
    [ -x "$VPY" ] && "$VPY" -c 'import sys' 2>/dev/null && return 0
    local python=${PYTHON:-python3}
    command -v "$python" >/dev/null || die "$python not found"
    say "creating $VENV with $("$python" --version 2>&1)"
    rm -rf "$VENV"
    if ! "$python" -m venv "$VENV"; then
        local minor
        minor=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        rm -rf "$VENV"
        apt_install "python$minor-venv"
        "$python" -m venv "$VENV" || die "could not create a virtual environment at $VENV"
    fi
}

# pip install "$@" into the venv unless the same request was already satisfied: the stamp holds
# a hash of the arguments and of every pyproject.toml/setup.cfg, so editing dependencies or
# adding a plugin reinstalls, and an unchanged tree costs nothing.
pip_install_once() {
    local name=$1
    shift
    local stamp=$VENV/.dalcore-$name.stamp digest
    digest=$(
        {
            printf '%s\n' "$@"
            cat "$ROOT/pyproject.toml" "$ROOT/setup.cfg" "$ROOT"/plugins/*/pyproject.toml 2>/dev/null
        } | sha256sum | cut -d' ' -f1
    )
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
        echo "python packages up to date ($stamp)"
        return 0
    fi
    say "pip install $*"
    rm -f "$stamp"
    (cd "$ROOT" && "$VPY" -m pip install -q "$@") || die "pip install failed"
    echo "$digest" >"$stamp"
}
