#!/usr/bin/env bash
# Set everything up and start Haina with a demo workspace: ./run.sh [--port 8000] [--host ...]
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh
exec .venv/bin/haina up --data-dir "${HAINA_DATA_DIR:-haina-data}" "$@"
