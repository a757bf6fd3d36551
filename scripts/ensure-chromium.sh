#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser test when it is missing.
# Needs root (as on this project's machines and CI); otherwise the test skips and says why.
set -u
command -v chromium >/dev/null 2>&1 && exit 0
[ "$(id -u)" = 0 ] || { echo "chromium missing and not root: the browser test will skip" >&2; exit 0; }
command -v apt-get >/dev/null 2>&1 || { echo "chromium missing and no apt-get: the browser test will skip" >&2; exit 0; }
echo "installing Debian's chromium for the browser test..." >&2
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || echo "chromium install failed: the browser test will skip" >&2
exit 0
