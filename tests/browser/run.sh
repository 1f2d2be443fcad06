#!/usr/bin/env bash
# The browser test: installs Debian's Chromium (if missing) and playwright-core
# (npm, locked), starts the local server in memory on free ports, and drives
# the web client at `/` as two users. Screenshots land in tests/browser/out/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

# Chromium, and an emoji font so reactions render in the screenshots.
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "color emoji"; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    chromium fonts-noto-color-emoji >/dev/null
fi
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

# shellcheck disable=SC1091
. "$root/tests/local-stack.sh"
node "$here/chat.test.mjs" "${CHAT_URL%/api/v1}"
