#!/usr/bin/env bash
# The rebase benchmark: carry against plain git on one generated repository, in one run.
#
#   bash bench/rebase.sh [FILES UPSTREAM SERIES LANDED]     (default 50000 5000 200 10)
#
# Builds (once, cached under target/bench-rebase) a repository of FILES files five levels
# deep, an upstream line of UPSTREAM commits and a SERIES-patch series of which LANDED
# patches upstream also took; then times, best of three each:
#   carry run --no-test --offline --fresh   (cold and warm upstream cache; no result reused)
#   git replay --onto upstream base..series
#   git rebase --onto upstream base   (in a worktree)
#   git cherry upstream series base   (the landed check)
# and prints the ratios. carry's own phase timings come from its debug log.
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${1:-50000} UPSTREAM=${2:-5000} SERIES=${3:-200} LANDED=${4:-10}
ROOT=$PWD/target/bench-rebase/$FILES-$UPSTREAM-$SERIES-$LANDED
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null TZ=UTC LC_ALL=C
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.org GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.org

cargo build --release --quiet
CARRY=$PWD/target/release/carry

if [ ! -d "$ROOT/repo" ]; then
  echo "building the repository ($FILES files, $UPSTREAM upstream commits, $SERIES patches, $LANDED landed)" >&2
  rm -rf "$ROOT"; mkdir -p "$ROOT"
  git init -q "$ROOT/repo"
  python3 bench/gen_history.py "$FILES" "$UPSTREAM" "$SERIES" "$LANDED" | git -C "$ROOT/repo" fast-import --quiet
  git -C "$ROOT/repo" update-ref -d refs/heads/base
  git -C "$ROOT/repo" repack -adq
  # The base pack is kept; any other pack is one a timed run wrote, removed before the next.
  for pack in "$ROOT"/repo/.git/objects/pack/pack-*.pack; do touch "${pack%.pack}.keep"; done
fi
cat > "$ROOT/carry.toml" <<TOML
[workspace]
name = "bench"

[project.big]
repo = "repo"
upstream = { path = "repo", ref = "upstream" }
series = { branch = "series", base = "base" }
TOML

now() { date +%s%N; }
# best of three, in milliseconds; $1 is a label, the rest a command; `prep` runs before each
best() {
  local label=$1; shift
  local best=""
  for _ in 1 2 3; do
    [ -n "${PREP:-}" ] && eval "$PREP"
    local t0; t0=$(now)
    "$@" >/dev/null 2>&1
    local t1; t1=$(now)
    local ms=$(( (t1 - t0) / 1000000 ))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  printf '%-34s %8d ms\n' "$label" "$best" >&2
  echo "$best"
}

REPO=$ROOT/repo
# the object directory: each timed run's new objects (loose, or carry's pack) are removed
# before the next, so every tool writes its objects itself
OBJECTS=$(git -C "$REPO" rev-parse --absolute-git-dir)/objects
clear_new_objects() {
  rm -f "$OBJECTS"/??/[0-9a-f]*
  for pack in "$OBJECTS"/pack/pack-*.pack; do
    [ -e "${pack%.pack}.keep" ] || rm -f "$pack" "${pack%.pack}.idx" "${pack%.pack}.rev"
  done
}
git -C "$REPO" worktree prune
rm -rf "$ROOT/wt"
git -C "$REPO" worktree add -q -f "$ROOT/wt" --detach series

PREP="rm -rf $ROOT/.carry; clear_new_objects; git -C $REPO for-each-ref --format='delete %(refname)' refs/carry/candidate | git -C $REPO update-ref --stdin"
carry_cold=$(best "carry run (cold cache)" "$CARRY" -C "$ROOT" run --no-test --offline --fresh --json)
PREP="clear_new_objects"
carry_warm=$(best "carry run (warm cache)" "$CARRY" -C "$ROOT" run --no-test --offline --fresh --json)
PREP="clear_new_objects"
replay=$(best "git replay --onto" git -C "$REPO" replay --onto upstream base..series)
PREP="git -C $ROOT/wt checkout -q --detach series"
rebase=$(best "git rebase (worktree)" git -C "$ROOT/wt" rebase -q --onto upstream base)
PREP=""
cherry=$(best "git cherry" git -C "$REPO" cherry upstream series base)

# carry's landed check alone (its index plus every patch's look-up, from carry's debug log),
# best of three on a cold cache and on a warm one.
landed_ms() {
  CARRY_LOG=carry_adapters=debug "$CARRY" -C "$ROOT" run --no-test --offline --fresh --json 2>&1 >/dev/null |
    sed -n 's/.*rebased series.*landed_ms=\([0-9]*\).*/\1/p'
}
landed_best() {
  local cold=$1 best=""
  for _ in 1 2 3; do
    clear_new_objects
    [ "$cold" = cold ] && rm -rf "$ROOT/.carry"
    local ms; ms=$(landed_ms)
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  echo "$best"
}
landed_cold=$(landed_best cold)
landed_warm=$(landed_best warm)
printf '%-34s %8d ms\n' "carry landed check (cold cache)" "$landed_cold" >&2
printf '%-34s %8d ms\n' "carry landed check (warm cache)" "$landed_warm" >&2

# carry's own phase timings and memory, from one more warm run.
clear_new_objects
CARRY_LOG=carry_adapters=debug /usr/bin/time -f 'max-rss-kib %M' "$CARRY" -C "$ROOT" run --no-test --offline --fresh --json \
  >"$ROOT/report.json" 2>"$ROOT/carry.log" || true
grep -E 'landed index|rebased series|max-rss' "$ROOT/carry.log" >&2 || true
python3 - "$ROOT/report.json" <<'PY' >&2
import json, sys, collections
r = json.load(open(sys.argv[1]))
c = collections.Counter(p["outcome"] for p in r["projects"][0]["patches"])
print("outcomes:", dict(c))
PY
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
echo "carry (warm) / git replay: $(ratio "$carry_warm" "$replay")x" >&2
echo "carry (cold) / git replay: $(ratio "$carry_cold" "$replay")x" >&2
echo "git rebase / carry (warm): $(ratio "$rebase" "$carry_warm")x faster" >&2
echo "carry landed (cold) / git cherry: $(ratio "$landed_cold" "$cherry")x" >&2
