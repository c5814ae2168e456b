#!/usr/bin/env bash
# Build the documentation site (mkdocs.yml, docs/) with --strict: a broken
# link or anchor, a page missing from the nav, or a docstring the API
# reference cannot read fails the build. The tools are the `docs` extra of
# pyproject.toml, in .venv-docs (made once, reused while pyproject.toml is
# unchanged). The site goes to site/ (or $SITE_DIR).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
cd "$root"
mapfile -t requirements < <("$python" -c '
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"]["docs"]))')
source "$root/.ci/venv.sh"
ensure_venv "$python" "$root/.venv-docs" docs "${requirements[@]}"
echo "=== docs: mkdocs build --strict ==="
NO_MKDOCS_2_WARNING=1 "$root/.venv-docs/bin/mkdocs" build --strict --site-dir "${SITE_DIR:-$root/site}"
