#!/usr/bin/env bash
# Set up and run the demo: a virtualenv, the migrations, a few enqueued tasks,
# then `manage.py runscheduler` (Ctrl-C stops it gracefully).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-demo"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -e "$root"
cd "$root/testproject"
"$venv/bin/python" manage.py migrate --noinput
"$venv/bin/python" manage.py enqueue_examples
echo "Starting runscheduler (the admin and the enqueue view: '$venv/bin/python manage.py runserver' in another shell)."
exec "$venv/bin/python" manage.py runscheduler "$@"
