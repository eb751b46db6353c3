#!/usr/bin/env bash
# Install a Java runtime for PySpark (`webcare score-spark` and its tests): Debian's OpenJDK 17.
#
# Spark 4 needs Java 17 or newer. Idempotent: does nothing when `java` is 17+ already.
#
#   scripts/install-java.sh
set -euo pipefail

version() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }

if command -v java >/dev/null 2>&1 && [[ "$(version)" -ge 17 ]]; then
    echo "java already installed: $(java -version 2>&1 | head -1)"
    exit 0
fi

SUDO=""
if [[ "$(id -u)" != "0" ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: Java 17 is missing and installing it needs root (apt-get install openjdk-17-jre-headless)" >&2
        exit 1
    fi
fi

echo "installing openjdk-17-jre-headless with apt-get (about 200 MB)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
echo "installed: $(java -version 2>&1 | head -1)"
