#!/usr/bin/env bash
# The service under schemathesis, against its own openapi.json, on the demo workspace:
# every operation with generated requests (valid and not), with the bearer token, checking
# for server errors and answers that do not match the document.
#
#   bash bench/schemathesis.sh [MAX_EXAMPLES]        (default 200 per operation)
#
# Needs schemathesis (`pip install schemathesis`).
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${1:-200}
command -v schemathesis >/dev/null || { echo "needs schemathesis: pip install schemathesis" >&2; exit 1; }
cargo build --release --quiet
CARRY=$PWD/target/release/carry
DIR=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DIR"' EXIT
"$CARRY" -q demo "$DIR/demo" >/dev/null || true
CARRY_HOOK_SECRET=hook-secret "$CARRY" -C "$DIR/demo" serve --bind 127.0.0.1:7891 2>"$DIR/serve.log" &
SERVER=$!
sleep 1
TOKEN=$(cat "$DIR/demo/.carry/token")
schemathesis run http://127.0.0.1:7891/api/v1/openapi.json \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance \
  --header "Authorization: Bearer $TOKEN" \
  --max-examples "$EXAMPLES" --workers 1 --no-color "${@:2}"
echo "server log lines naming an error: $(grep -c -i 'error' "$DIR/serve.log" || true)"
