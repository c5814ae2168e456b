#!/usr/bin/env bash
# Headless Chromium and its WebDriver for tests/browser (Debian packages; the
# test never downloads a browser). Installs them only when missing.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "browser: $(/usr/bin/chromium --version 2>/dev/null | head -n1), $(/usr/bin/chromedriver --version | head -n1)"
    exit 0
fi
echo "browser: installing chromium and chromium-driver"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver
/usr/bin/chromedriver --version
