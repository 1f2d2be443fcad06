#!/usr/bin/env bash
# The SDK's tests: installs its locked dev dependencies, checks the generated
# types against docs/ (stale: fails), builds the package and the browser
# bundle (over 15 KB gzipped: fails), starts the local server in memory on
# free ports and runs the tests with Node's test runner against it.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
cd "$here"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
npm run --silent generate
git -C "$root" diff --exit-code -- clients/typescript/src/generated \
  || { echo "clients/typescript/src/generated is stale: run npm run generate there and commit it"; exit 1; }
npm run --silent build
npm run --silent size
git -C "$root" diff --exit-code -- local/web/chat.min.js \
  || { echo "local/web/chat.min.js is stale: run npm run build in clients/typescript and commit it"; exit 1; }
# A channel of three online is a crowd here, and its fan-outs start a second
# apart: the batch frame's test sees sends made meanwhile coalesced.
export CHAT_FANOUT_INLINE_LIMIT=2 CHAT_FANOUT_COALESCE_MS=1000
# shellcheck disable=SC1091
. "$root/tests/local-stack.sh"
# A failed test may leave a socket open: the run still ends.
node --test --test-concurrency=1 --test-force-exit test/*.test.mjs
