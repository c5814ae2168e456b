#!/usr/bin/env bash
# Set up and run the demo: a virtualenv (made once, reused while pyproject.toml
# is unchanged), the migrations, a few enqueued tasks, then
# `manage.py runscheduler` (Ctrl-C stops it gracefully).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-demo"
source "$root/.ci/venv.sh"
ensure_venv "${PYTHON:-python3}" "$venv" demo -e "$root"
cd "$root/testproject"
echo "demo: migrating the demo database (testproject/db.sqlite3) ..."
"$venv/bin/python" manage.py migrate --noinput -v0
echo "demo: enqueueing the example tasks ..."
"$venv/bin/python" manage.py enqueue_examples
echo "demo: starting runscheduler (the admin and the enqueue view: '$venv/bin/python manage.py runserver' in another shell)."
exec "$venv/bin/python" manage.py runscheduler "$@"
