# Sourced by the test scripts that drive a running local server (the browser
# test, the SDK's tests): builds chat-local, starts it in memory on free
# ports, stops it on exit, and exports what it wrote to its dev.env
# (CHAT_URL, CHAT_WS_URL, CHAT_API_KEY, CHAT_SERVER_TOKEN, ...).
# Needs $root (the checkout) and $target (cargo's target dir).
(cd "$root" && cargo build --quiet -p chat-local --bin chat-local)
stack_dir="$(mktemp -d)"
(cd "$stack_dir" && exec "$target/debug/chat-local" --memory --port 0 --ws-port 0 --dynamodb-port 0 --s3-port 0 > "$stack_dir/server.log" 2>&1) &
stack_pid=$!
trap 'kill "$stack_pid" 2>/dev/null || true; rm -rf "$stack_dir"' EXIT
for _ in $(seq 1 150); do [ -s "$stack_dir/.chat-data/dev.env" ] && break; sleep 0.2; done
set -a
# shellcheck disable=SC1091
. "$stack_dir/.chat-data/dev.env"
set +a
