#!/usr/bin/env bash
# Set up a virtualenv with the project and its test extras, then run the whole
# test suite. Extra arguments go to pytest (e.g. `bash tests/run.sh -k redis`).
#   PYTHON=python3.12 DJANGO='Django>=6.0,<6.2' bash tests/run.sh   # another combination
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
bash "$root/.ci/system-packages.sh"
tag="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
venv="${VENV:-$root/.venv-test-$tag}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >/dev/null
"$venv/bin/pip" install --quiet --disable-pip-version-check -e "$root[test]" ${DJANGO:+"$DJANGO"}
cd "$root"
echo "tests: Python $("$venv/bin/python" -V 2>&1 | cut -d' ' -f2), Django $("$venv/bin/python" -c 'import django; print(django.get_version())')"
set +e
"$venv/bin/python" -m pytest -p no:cacheprovider "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
    echo "tests: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit "$code"
