#!/usr/bin/env bash
# Install the headless browser the report tests drive: Debian's chromium and chromium-driver.
#
# Why Debian's build: Playwright's own `playwright install` downloads a browser build from
# its CDN, which this project's machines cannot reach; the tests launch /usr/bin/chromium
# through Playwright's executable_path instead. Idempotent: does nothing when both are there.
#
#   scripts/install-browser.sh
set -euo pipefail

CHROMIUM="${WEBCARE_CHROMIUM:-/usr/bin/chromium}"

if [[ -x "$CHROMIUM" ]] && command -v chromedriver >/dev/null 2>&1; then
    echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

SUDO=""
if [[ "$(id -u)" != "0" ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: chromium is missing and installing it needs root (apt-get install chromium chromium-driver)" >&2
        exit 1
    fi
fi

echo "installing chromium and chromium-driver with apt-get (about 300 MB, a minute or two)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null

if [[ ! -x "$CHROMIUM" ]]; then
    echo "error: $CHROMIUM not found after installing chromium" >&2
    exit 1
fi
echo "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
