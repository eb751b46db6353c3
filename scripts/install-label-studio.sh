#!/usr/bin/env bash
# Install the Label Studio server into its own virtual environment (default .venv-ls).
#
# Why a separate venv: label-studio pins Django, djangorestframework, pytz and an
# exact label-studio-sdk, which must not fight the project's own dependencies.
# Idempotent: does nothing when the right version is already installed.
# labeling/ls_plugin (the settings and the guard that keep each labeler's annotations
# their own) is written against this version: re-run tests/test_labeling_server.py
# when you change LS_VERSION.
#
#   scripts/install-label-studio.sh            # -> ./.venv-ls
#   LS_VENV=/opt/ls scripts/install-label-studio.sh
set -euo pipefail

LS_VERSION="1.23.2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LS_VENV:-${WEBCARE_LS_VENV:-$ROOT/.venv-ls}}"
PYTHON="${PYTHON:-python3.11}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    PYTHON=python3
fi

installed_version() {
    "$VENV/bin/python" - <<'EOF' 2>/dev/null
from importlib.metadata import version
print(version("label-studio"))
EOF
}

if [[ -x "$VENV/bin/label-studio" ]] && [[ "$(installed_version)" == "$LS_VERSION" ]]; then
    echo "label-studio $LS_VERSION already installed in $VENV"
    exit 0
fi

echo "installing label-studio $LS_VERSION into $VENV (about 1 GB, a minute or two)"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "label-studio==$LS_VERSION"

if [[ "$(installed_version)" != "$LS_VERSION" ]]; then
    echo "error: label-studio $LS_VERSION did not install into $VENV" >&2
    exit 1
fi
echo "installed label-studio $LS_VERSION in $VENV"
