#!/usr/bin/env bash
# The README's second command: install everything the tests need, then run the whole suite
# (pytest: unit, HTTP, real server processes, headless Chromium, PostgreSQL; node --test for the
# browser's pure modules). .ci/run runs exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- system packages: Debian's Chromium (e2e tests) and PostgreSQL (store tests) -----------------
need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- Python environment ------------------------------------------------------------------------
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

# --- run -----------------------------------------------------------------------------------------
export WSI_VIEWER_TEST_CHROMIUM=${WSI_VIEWER_TEST_CHROMIUM:-$(command -v chromium)}
node --test tests/js/
.venv/bin/python -m pytest -n 2 "$@"
