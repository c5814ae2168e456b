#!/usr/bin/env bash
# Lint and type-check the package with the tools and settings of
# pyproject.toml ([tool.ruff], [tool.mypy]), in the test virtualenv that
# tests/run.sh made (the `test` extra installs ruff and mypy).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$root/.venv-test-$("${PYTHON:-python3}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}"
cd "$root"
echo "=== ruff ==="
"$venv/bin/ruff" check symphra_django
echo "=== mypy ==="
"$venv/bin/mypy"
