#!/usr/bin/env bash
# Set everything up and run the whole test suite: ./test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh dev
# Browser tests drive Debian's chromium (never a downloaded browser) and need CJK fonts.
# (grep without -q reads all of fc-list: with pipefail, an early exit would fail the pipe.)
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -i "noto.*cjk" >/dev/null; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium and fonts-noto-cjk with apt-get …"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      chromium fonts-noto-cjk) >/dev/null || echo "apt-get failed: browser tests will say why"
  else
    echo "chromium missing and not root: browser tests will be skipped (they fail when CI=true)"
  fi
fi
# Third-party browser SDKs that the end-to-end tests drive (from the npm registry).
clients=tests/e2e/clients
if command -v npm >/dev/null 2>&1; then
  if [ ! -d "$clients/node_modules" ] || [ "$clients/package-lock.json" -nt "$clients/node_modules" ]; then
    npm ci --prefix "$clients" --no-audit --no-fund --loglevel=error >/dev/null &&
      touch "$clients/node_modules" || echo "npm ci failed: the analytics.js test will say why"
  fi
else
  echo "npm missing: the analytics.js test will be skipped (it fails when CI=true)"
fi
exec .venv/bin/python -m pytest "$@"
