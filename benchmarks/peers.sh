#!/usr/bin/env bash
# symphra_django side by side with huey, dramatiq, django-tasks-db, celery and
# procrastinate: the same driver and no-op task body for every library, one
# pass, on this checkout. The driver is the shared "peerbench" kit (not part of
# this repository): PEERBENCH points at it (default: ../shared/peerbench beside
# the checkout). It installs the peers and this checkout into a virtualenv of
# its own (${TMPDIR:-/tmp}/peerbench/venv) and writes summary.md.
#
#   bash benchmarks/peers.sh                                   # every case, ~15-30 min
#   CASES="symphra_redis huey_redis" bash benchmarks/peers.sh  # some cases
#   bash benchmarks/peers.sh /tmp/peers-today                  # results folder
#
# Compare ratios within one pass (the machine is shared and noisy), never
# absolute figures across passes: docs/performance.md says how.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kit="${PEERBENCH:-$root/../shared/peerbench}"
if [ ! -f "$kit/side_by_side.sh" ]; then
    echo "peers.sh: no peerbench kit at $kit (set PEERBENCH to its folder)" >&2
    exit 2
fi
cd "$root"
exec env PROJECT="$root" bash "$kit/side_by_side.sh" "$@"
