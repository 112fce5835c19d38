#!/usr/bin/env bash
# The README's second command: install everything the tests need, then run the whole suite
# (pytest: unit, HTTP, real server processes, headless Chromium, PostgreSQL; node --test for the
# browser's pure modules). .ci/run runs exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- system packages: Debian's Chromium (e2e tests), PostgreSQL (store tests), nginx (scale-out) ---
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need_apt+=(nginx)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # the scale-out test's TLS certificate
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- PostgreSQL for the store tests: start a local server, create role and database ----------
# Idempotent (a running cluster is reused, role and database are created once). The store tests run
# against it whenever WSI_VIEWER_TEST_DATABASE_URL is set, and fail (never skip) if it is unreachable.
pg_run() {  # run a shell command as the postgres user (or as ourselves when not root and no sudo)
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"
    elif sudo -n true 2>/dev/null; then sudo -u postgres sh -c "$1"
    else sh -c "$1"; fi
}
pg_create_role_and_db() {  # $1: psql connection options
    pg_run "psql $1 -v ON_ERROR_STOP=1 -q -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles
        WHERE rolname = 'wsi_viewer_test') THEN CREATE ROLE wsi_viewer_test LOGIN PASSWORD 'wsi_viewer_test';
        END IF; END \\\$\\\$;\"" &&
    if ! pg_run "psql $1 -tAc \"SELECT 1 FROM pg_database WHERE datname = 'wsi_viewer_test'\"" | grep -q 1; then
        pg_run "createdb $1 -O wsi_viewer_test wsi_viewer_test"
    fi
}
start_debian_cluster() {  # the cluster Debian's postgresql package made (started if it is down)
    command -v pg_lsclusters >/dev/null 2>&1 || return 1
    local line ver cluster port
    line=$(pg_lsclusters -h 2>/dev/null | head -1)
    [ -n "$line" ] || return 1
    read -r ver cluster port _ <<<"$line"
    if ! grep -q online <<<"$line"; then
        pg_ctlcluster "$ver" "$cluster" start >/dev/null 2>&1 || pg_run "pg_ctlcluster $ver $cluster start" || return 1
    fi
    for _ in $(seq 30); do pg_run "psql -p $port -tAc 'SELECT 1'" >/dev/null 2>&1 && break; sleep 1; done
    pg_create_role_and_db "-p $port" || return 1
    WSI_VIEWER_TEST_DATABASE_URL="postgresql://wsi_viewer_test:wsi_viewer_test@127.0.0.1:$port/wsi_viewer_test"
}
start_private_cluster() {  # port taken or no usable cluster: initdb a throw-away one on a free port
    local bin dir port
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    dir=$(mktemp -d /tmp/wsi-viewer-pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    pg_run "$bin/initdb -D $dir/data -A trust -U postgres >/dev/null &&
        $bin/pg_ctl -D $dir/data -l $dir/log -w -o \"-p $port -k $dir -c listen_addresses=127.0.0.1\" start >/dev/null"
    pg_create_role_and_db "-h $dir -p $port -U postgres"
    WSI_VIEWER_TEST_DATABASE_URL="postgresql://wsi_viewer_test:wsi_viewer_test@127.0.0.1:$port/wsi_viewer_test"
}
if [ -z "${WSI_VIEWER_TEST_DATABASE_URL:-}" ]; then start_debian_cluster || start_private_cluster; fi
export WSI_VIEWER_TEST_DATABASE_URL

# --- Python environment ------------------------------------------------------------------------
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

# --- run -----------------------------------------------------------------------------------------
export WSI_VIEWER_TEST_CHROMIUM=${WSI_VIEWER_TEST_CHROMIUM:-$(command -v chromium)}
node --test tests/js/
.venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
