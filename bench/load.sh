#!/usr/bin/env bash
# Load on a running `carry serve`: read endpoints at 64 connections with wrk, on the demo
# workspace; then health under wrk while a flood of idle connections (bench/flood.py, 5,000
# at a time, against the default limit of 1,024) tries to starve the service; and the
# server's memory over a long run.
#
#   bash bench/load.sh [SECONDS]      (default 60 for the long run, 15 for the others)
#
# Needs wrk (Debian's package). Prints requests a second, latency percentiles, errors, and
# the server's resident memory at the start, middle and end of the long run.
set -euo pipefail
cd "$(dirname "$0")/.."
LONG=${1:-60}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
cargo build --release --quiet
CARRY=$PWD/target/release/carry
DIR=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DIR"' EXIT
"$CARRY" -q demo "$DIR/demo" >/dev/null
"$CARRY" -C "$DIR/demo" serve --bind 127.0.0.1:7890 2>"$DIR/serve.log" &
SERVER=$!
sleep 1
RUN=$(curl -s localhost:7890/api/v1/runs | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["id"])')
rss() { awk '/VmRSS/ {print $2}' /proc/$SERVER/status; }
load() {
  local path=$1 seconds=$2
  echo "== $path ($seconds s, 64 connections)"
  wrk -t2 -c64 -d"${seconds}s" --latency "http://127.0.0.1:7890$path" | grep -E 'Requests/sec|Latency  |50%|90%|99%|Non-2xx|Socket errors|requests in'
}
for path in /api/v1/graph /api/v1/order "/api/v1/runs/$RUN"; do load "$path" 15; done
echo "== /api/v1/health during a flood of idle connections"
python3 bench/flood.py 127.0.0.1:7890 --connections 5000 --seconds 25 &
FLOOD=$!
sleep 3
load /api/v1/health 20
wait "$FLOOD"
echo "server open descriptors after the flood: $(ls /proc/$SERVER/fd | wc -l)"
echo "server RSS before the long run: $(rss) KiB"
( sleep $((LONG / 2)); echo "server RSS halfway: $(rss) KiB" ) &
HALF=$!
# The long run: workspace reads and a flood together.
python3 bench/flood.py 127.0.0.1:7890 --connections 5000 --seconds "$LONG" >/dev/null &
load /api/v1/workspace "$LONG"
wait "$HALF"
echo "server RSS after: $(rss) KiB"
