#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need, then pytest, ruff, mypy.
set -euo pipefail
cd "$(dirname "$0")/.."

# Services the tests start for real (redis-server for the shared-state tests).
if ! command -v redis-server >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && apt-get install -y -qq redis-server >/dev/null) \
            || echo "warning: could not install redis-server; Redis tests will fail" >&2
    fi
fi
# A headless browser for the HTML report tests, with a CJK font so Chinese renders.
if ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null) \
            || echo "warning: could not install chromium; browser tests will be skipped" >&2
    fi
fi

python -m pip install --quiet --disable-pip-version-check -e ".[test]"
python -m pytest -q
python -m ruff check src tests benchmarks scripts
python -m mypy --strict src/chatguard
