#!/usr/bin/env bash
# Debian packages the test suite needs, installed only when missing:
# - libmariadb-dev and pkg-config, to build mysqlclient (the MariaDB driver);
# - chromium and chromium-driver, for the admin's browser test (the test never
#   downloads a browser).
set -euo pipefail

missing=()
dpkg -s libmariadb-dev >/dev/null 2>&1 || missing+=(libmariadb-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)

if [ ${#missing[@]} -eq 0 ]; then
    echo "system packages: present ($(/usr/bin/chromium --version 2>/dev/null | head -n1))"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "system packages: missing ${missing[*]}; install them with apt-get (as root)" >&2
    exit 1
fi
echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
