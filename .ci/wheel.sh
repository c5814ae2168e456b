#!/usr/bin/env bash
# The package a user installs: build the sdist, and the wheel from that sdist
# (so a file missing from the sdist breaks the wheel here, not for a user);
# check what the sdist holds; install the wheel into a fresh virtualenv with
# nothing else of this checkout in reach; then run one task the way the
# getting-started page does (startproject, an app's tasks.py, migrate,
# enqueue, runscheduler --burst).
# It runs in the test virtualenv that tests/run.sh made (the `test` extra has
# `build` and setuptools), as .ci/lint.sh does:
#   PYTHON=python3.12 bash .ci/wheel.sh      or      VENV=path/to/venv bash .ci/wheel.sh
set -euo pipefail
# Nothing of the checkout may be imported: only what is built and installed.
unset PYTHONPATH DJANGO_SETTINGS_MODULE
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$root/.venv-test-$("${PYTHON:-python3}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
quiet=(--quiet --disable-pip-version-check)

echo "=== wheel: build the sdist, then the wheel from it ==="
# --no-isolation: the build requirements are in the venv already, which
# saves fetching them into two throw-away environments.
"$venv/bin/python" -m build --no-isolation --outdir "$work/dist" "$root" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log"; exit 1; }
sdist="$(ls "$work"/dist/*.tar.gz)"
wheel="$(ls "$work"/dist/*.whl)"
echo "built $(basename "$sdist") and $(basename "$wheel")"

echo "=== wheel: what the sdist holds ==="
tar tzf "$sdist" | sed 's|^[^/]*/||' | sort >"$work/sdist.txt"
(cd "$root" && git ls-files symphra_django docs LICENSE README.md | sort) >"$work/tracked.txt"
missing="$(comm -13 "$work/sdist.txt" "$work/tracked.txt")"
[ -z "$missing" ] || { echo "FAIL: tracked files missing from the sdist:" >&2; echo "$missing" >&2; exit 1; }
if grep -E '^(tests|testproject|benchmarks|\.ci)/' "$work/sdist.txt"; then
    echo "FAIL: the sdist ships the files above, which only work inside the repository" >&2
    exit 1
fi
unzip -Z1 "$wheel" | grep -q '^symphra_django-.*\.dist-info/licenses/LICENSE$' \
    || { echo "FAIL: the wheel has no LICENSE" >&2; exit 1; }
if unzip -Z1 "$wheel" | grep -v -E '^symphra_django(/|-[^/]*\.dist-info/)'; then
    echo "FAIL: the wheel installs the files above beside the package" >&2
    exit 1
fi
echo "sdist: every tracked file of the package and docs, LICENSE, no tests; wheel: the package only"

echo "=== wheel: install into a fresh virtualenv and run a task ==="
# A virtualenv of its own, without even pip (the test venv's pip installs
# into it): the wheel and its dependencies are all it has.
"$venv/bin/python" -m venv --without-pip "$work/venv"
"$venv/bin/pip" --python "$work/venv/bin/python" install "${quiet[@]}" "$wheel"
mkdir "$work/project"
cd "$work/project"
export PATH="$work/venv/bin:$PATH"
python -c 'import symphra_django, sys; f = symphra_django.__file__; print("imports", f); sys.exit("site-packages" not in f)'
django-admin startproject mysite .
python manage.py startapp shop
cat >shop/tasks.py <<'PY'
from pathlib import Path

from symphra_django import task


@task
def write_marker(text: str) -> None:
    Path("marker.txt").write_text(text)
PY
printf '\nINSTALLED_APPS += ["symphra_django", "shop"]\n' >>mysite/settings.py
python manage.py check
python manage.py migrate --noinput -v0
python manage.py shell -c 'from shop.tasks import write_marker; write_marker.enqueue("ran from the wheel")'
python manage.py runscheduler --burst -v0
[ "$(cat marker.txt 2>/dev/null)" = "ran from the wheel" ] || { echo "FAIL: the task did not run" >&2; exit 1; }
echo "wheel: installed $(basename "$wheel"), ran a task under runscheduler --burst"
