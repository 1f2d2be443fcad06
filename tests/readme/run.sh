#!/usr/bin/env bash
# The README as a newcomer runs it, on a copy of this checkout in a temporary
# folder: the first of "The two commands" exactly as written (taken from the
# README, not copied here), the "Calling the API" and upload blocks as written
# (each curl failing on an HTTP error), the client SDK block (npm ci, build,
# the example: bob receives alice's message), the WebSocket example's health.check
# frame, Ctrl-C (SIGINT: exit status 0, the SQLite file intact), and a second
# start on the same folder that still has the app, the users, the message and
# the upload. CI runs it; so can you: `bash tests/readme/run.sh`.
#
# Needs what the README needs: the Rust toolchain, curl, Python 3, and Node.js
# with npm for the WebSocket example's client (wscat). Uses the README's fixed
# ports (3000, 3001, 8000, 9000): nothing else may listen there.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
readme="$repo/README.md"
# Reuse the developer's (or CI's) build; the copy keeps file times, so only
# what changed is rebuilt.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
work="${CHAT_README_DIR:-${TMPDIR:-/tmp}/chat-readme-check}"
start_timeout="${CHAT_README_START_TIMEOUT:-1800}"
wscat="wscat@6.1.0"

fail() { echo "README check FAILED: $*" >&2; exit 1; }

# block HEADING: the first fenced code block of the README section with that
# heading (up to the next heading of any level).
block() {
  python3 - "$readme" "$1" <<'PY'
import sys
path, heading = sys.argv[1], sys.argv[2]
inside_section = in_fence = False
out = []
for line in open(path, encoding="utf-8").read().split("\n"):
    if line.startswith("```"):
        if in_fence:
            if inside_section:
                print("\n".join(out))
                sys.exit(0)
            in_fence = False
        else:
            in_fence = True
        continue
    if in_fence:
        if inside_section:
            out.append(line)
        continue
    if line.startswith("#"):
        inside_section = line.lstrip("#").strip() == heading
sys.exit(f"no code block under the heading {heading!r}")
PY
}

# The first line, taken without a pipe: `| head -1` can close the pipe while
# the extractor still writes, which pipefail turns into a failure.
first_command="$(block "The two commands")"
first_command="${first_command%%$'\n'*}"
first_command="${first_command%%#*}"
[ -n "${first_command// }" ] || fail "no first command under 'The two commands'"
api_block="$(block "Calling the API")"
upload_block="$(block "Uploads")"
ws_block="$(block "Real time (WebSocket API)")"
sdk_block="$(block "Client SDK")"
# Readers that stop early would race their writer the same way: read it all.
ws_command="$(printf '%s\n' "$ws_block" | sed -n '/^npx wscat /p')"
ws_command="${ws_command%%$'\n'*}"
ws_frame="$(printf '%s\n' "$ws_block" | sed -n 's/^> //p')"
ws_frame="${ws_frame%%$'\n'*}"
[ -n "$ws_command" ] && [ -n "$ws_frame" ] || fail "no 'npx wscat' line and '> ' frame in the WebSocket example"

echo "== a copy of the checkout in $work/repo"
rm -rf "$work"
mkdir -p "$work/repo"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  xargs -0 cp -p --parents -t "$work/repo")
cd "$work/repo"

# Job control: the server gets its own process group, as in a terminal, so
# SIGINT reaches it the way Ctrl-C does.
set -m
server=""
stop_server() { [ -n "$server" ] && kill -KILL -- "-$server" 2>/dev/null || true; }
trap stop_server EXIT

# start LOG: runs the first command in the background and waits for health.
start() {
  local log="$1" began
  began=$(date +%s)
  rm -f .chat-data/dev.env
  echo "== \$ $first_command"
  bash -c "$first_command" >"$log" 2>&1 &
  server=$!
  while :; do
    if ! kill -0 "$server" 2>/dev/null; then
      tail -n 60 "$log" >&2
      fail "the first command exited before the stack came up (log above)"
    fi
    if [ -s .chat-data/dev.env ]; then
      # shellcheck disable=SC1091
      url="$(. .chat-data/dev.env && echo "$CHAT_URL")"
      curl -fsS "$url/health" >/dev/null 2>&1 && break
    fi
    if [ $(($(date +%s) - began)) -gt "$start_timeout" ]; then
      tail -n 60 "$log" >&2
      fail "the stack did not answer $url/health within ${start_timeout}s (log above)"
    fi
    sleep 1
  done
  echo "   up after $(($(date +%s) - began)) s (build included)"
}

# interrupt: SIGINT as Ctrl-C sends it; the server must exit 0 on its own.
interrupt() {
  kill -INT -- "-$server"
  for _ in $(seq 1 150); do kill -0 "$server" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$server" 2>/dev/null && fail "the server ignored SIGINT for 30 s"
  local status=0
  wait "$server" || status=$?
  server=""
  [ "$status" -eq 0 ] || fail "the server exited with status $status after SIGINT"
  python3 - .chat-data/chat.sqlite <<'PY' || fail "the store is damaged after SIGINT"
import sqlite3, sys
result = sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0]
sys.exit(0 if result == "ok" else f"integrity_check: {result}")
PY
  echo "   SIGINT: exit status 0, store intact"
}

start "$work/server-1.log"

echo "== the 'Calling the API' and upload blocks, as written"
{
  echo 'set -euo pipefail'
  # Every curl of the blocks fails the run on an HTTP error (and shows the body).
  echo 'curl() { command curl --fail-with-body --show-error "$@"; echo; }'
  printf '%s\n' "$api_block" "$upload_block"
  echo 'printf "%s" "$CH" > ../channel; printf "%s" "$SIGNED" > ../signed.json'
} >"$work/blocks.sh"
bash "$work/blocks.sh" | tee "$work/blocks.out" || fail "a README block failed (output above)"
grep -qx 'hello!' "$work/blocks.out" || fail "the upload block did not read back 'hello!'"
grep -q '"text":"hi Bob"' "$work/blocks.out" || fail "Bob's history does not show 'hi Bob'"

echo "== the client SDK example, as written"
sdk_out="$(timeout 600 bash -c "set -euo pipefail; $sdk_block" 2>&1)" || { echo "$sdk_out"; fail "the client SDK block failed"; }
echo "$sdk_out" | tail -n 3
printf '%s\n' "$sdk_out" | grep -q "bob received: hi from the SDK" || fail "the SDK example did not deliver to bob"

echo "== the WebSocket example: $ws_frame"
# wscat quits when its standard input closes: keep one open while it waits
# 2 s for the answer.
# shellcheck disable=SC1091
ws_out="$(. .chat-data/dev.env && sleep 4 | eval "${ws_command/npx wscat/npx --yes $wscat} -x \"\$ws_frame\" -w 2")" ||
  fail "wscat could not connect"
echo "$ws_out"
printf '%s\n' "$ws_out" | python3 -c '
import json, sys
acks = [json.loads(l) for l in sys.stdin if l.strip().startswith("{")]
ok = [a for a in acks if a.get("type") == "ack" and a.get("request_id") == "1" and a.get("ok") is True
      and a.get("result", {}).get("user_id") == "bob"]
sys.exit(0 if ok else "no ok ack for the health.check frame")' || fail "the WebSocket example got no ok ack"

api_key="$(. .chat-data/dev.env && echo "$CHAT_API_KEY")"
interrupt

echo "== the second start on the same folder"
start "$work/server-2.log"
# shellcheck disable=SC1091
. .chat-data/dev.env
[ "$CHAT_API_KEY" = "$api_key" ] || fail "the second start made a new app (API key changed)"
history="$(curl -fsS "$CHAT_URL/channels/$(cat ../channel)/messages" \
  -H "X-Api-Key: $CHAT_API_KEY" -H "Authorization: Bearer $CHAT_BOB_TOKEN")" ||
  fail "Bob cannot read the channel after the restart"
printf '%s' "$history" | grep -q '"text":"hi Bob"' || fail "the message is gone after the restart: $history"
file_url="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["file_url"])' ../signed.json)"
[ "$(curl -fsS "$file_url")" = 'hello!' ] || fail "the upload is gone after the restart"
curl -fsS "$CHAT_URL/users/carol" -H "X-Api-Key: $CHAT_API_KEY" -H "Authorization: Bearer $CHAT_SERVER_TOKEN" >/dev/null ||
  fail "carol is gone after the restart"
echo "   same app, users, message and upload"
interrupt

echo "README check passed"
