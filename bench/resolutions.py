#!/usr/bin/env python3
"""resolutions.py SCENARIO NEXT_REF CARRY [--side patch|upstream|both] [--strip-references]

Recorded resolutions on real history, checked against git's rerere.

SCENARIO is a `../shared/realhistory` scenario repository (branches upstream-old,
upstream-new, carried); the backports kind has real conflicts (stable backports adapted to
an old release, carried onto the next). The script:

1. runs carry over it (`upstream-new`), then resolves every conflict once by script with
   `carry resolve` / `--continue`, each conflict region taking one side (`--side`, default
   the patch's), as a human would in the worktree; conflicts without diff3 regions (a file
   deleted or renamed on one side) are left;
2. moves upstream one more release (NEXT_REF) and runs again;
3. asks git, patch by patch, in a scratch worktree at the candidate carry used: rerere is
   taught the same resolution at the first upstream and replays it at the next; and git's
   own diff3 merge at the next upstream says whether upstream touched the resolved regions
   again (their three images changed) or not.

With --strip-references the carried commits lose the lines that name their upstream commit
(`(cherry picked from commit X)`, `[ upstream commit X ]`, `commit X upstream.`) and their
`Change-Id:`: a backport that names its original is landed by reference, never a conflict;
without the name, the adapted backports are the real conflicts a downstream carries.

It prints the share of resolutions carry re-applied where upstream did not touch those lines
again (goal: all of them), where it did (a conflict is right), and wrong re-applications
(carry's tree differs from rerere's: must be none). Exit 0 when none is wrong and every
untouched one was re-applied.
"""
import json, os, re, shutil, subprocess, sys, tempfile, time

args = [a for i, a in enumerate(sys.argv[1:], 1)
        if not a.startswith("--") and sys.argv[i - 1] != "--side"]
if len(args) != 3:
    sys.exit(__doc__)
scenario, next_ref, carry = os.path.abspath(args[0]), args[1], os.path.abspath(args[2])
side = sys.argv[sys.argv.index("--side") + 1] if "--side" in sys.argv else "patch"


def sh(*a, check=False, **k):
    r = subprocess.run(a, capture_output=True, text=True, **k)
    if check and r.returncode != 0:
        sys.exit(f"{' '.join(a)} failed: {r.stderr[-600:]}")
    return r


def git(repo, *a, **k):
    return sh("git", "-C", repo, *a, **k)


def carry_json(ws, *a):
    r = sh(carry, "-C", ws, "--color", "never", *a)
    try:
        return json.loads(r.stdout), r
    except ValueError:
        sys.exit(f"carry {' '.join(a)}: no JSON (exit {r.returncode}): {r.stderr[-600:]}")


REGION = re.compile(
    r"^<<<<<<< [^\n]*\n(.*?)^\|\|\|\|\|\|\| [^\n]*\n(.*?)^=======\n(.*?)^>>>>>>> [^\n]*\n",
    re.S | re.M,
)


def regions(text):
    """Each diff3 region's (upstream, base, patch) images."""
    return [m.groups() for m in REGION.finditer(text)]


def resolve(text):
    """The file with each region resolved by taking `side`."""
    def pick(m):
        upstream, _, patch = m.groups()
        return {"patch": patch, "upstream": upstream, "both": upstream + patch}[side]
    return REGION.sub(pick, text)


def read(path):
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        return f.read()


def write(path, text):
    with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
        f.write(text)


d = tempfile.mkdtemp(prefix="resolutions-")
if "--strip-references" in sys.argv:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from scenarios import strip_references
    scenario = strip_references(scenario, f"{d}/scenario.git")
ws = f"{d}/ws"
repo = f"{ws}/repos/p.git"
os.makedirs(ws)
sh("git", "clone", "-q", "--bare", "--shared", scenario, repo, check=True)
manifest = (
    '[workspace]\nname = "realhistory"\n\n[project.p]\nrepo = "repos/p.git"\n'
    f'upstream = {{ path = "{scenario}", ref = "%s" }}\n'
    'series = { branch = "carried", base = "upstream-old" }\n'
)
write(f"{ws}/carry.toml", manifest % "upstream-new")

# 1. Resolve every conflict once, by script.
first, _ = carry_json(ws, "run", "--no-test", "--json")
conflicts0 = sum(p["outcome"] == "conflict" for pr in first["projects"] for p in pr["patches"])
attempted, scripted, left = set(), {}, []
started = time.monotonic()
while True:
    listed, _ = carry_json(ws, "conflicts", "--json")
    todo = [c for c in listed["conflicts"] if f"{c['project']}/{c['patch']}" not in attempted]
    if not todo:
        break
    c = todo[0]
    pid = f"{c['project']}/{c['patch']}"
    attempted.add(pid)
    r = sh(carry, "-C", ws, "--color", "never", "resolve", pid)
    if r.returncode != 0:
        left.append(f"{pid}: resolve refused: {r.stderr.strip()[-200:]}")
        if "--stop-on-refusal" in sys.argv:
            sys.exit(f"refused, kept {d}: {r.stderr}")
        continue
    session = json.loads(read(f"{ws}/.carry/resolve/{c['project']}/{c['patch']}.json"))
    worktree = session["worktree"]
    ok = True
    for path in session["conflicted"]:
        text = read(f"{worktree}/{path}")
        if not regions(text):
            ok = False
            break
        write(f"{worktree}/{path}", resolve(text))
    if not ok or not session["conflicted"]:
        sh(carry, "-C", ws, "resolve", "--abort", pid)
        left.append(f"{pid}: no diff3 region to script (a delete or rename conflict)")
        continue
    r = sh(carry, "-C", ws, "--color", "never", "resolve", "--continue", pid,
           env=dict(os.environ, CARRY_LOG=os.environ.get("BENCH_CARRY_LOG", "warn")))
    if os.environ.get("BENCH_CARRY_LOG"):
        with open(f"{d}/continue.log", "a") as log:
            log.write(f"=== {pid}\n{r.stderr}")
    if "recorded resolution" not in r.stderr:
        left.append(f"{pid}: --continue: {r.stderr.strip()[-300:]}")
        sh(carry, "-C", ws, "resolve", "--abort", pid)
        continue
    scripted[pid] = session
resolving = time.monotonic() - started

at_first, _ = carry_json(ws, "report", "--json")


def patches(report):
    return [p for pr in report["projects"] for p in pr["patches"]]


def before_of(report, pid):
    """The candidate just before `pid`: the last earlier applied patch, else upstream."""
    project = report["projects"][0]
    before = project["upstream"]["to"]
    for p in project["patches"]:
        if p["id"] == pid:
            return before
        if p["outcome"] == "applied":
            before = p["to"]
    return None


resolved_first = {p["id"]: p for p in patches(at_first)
                  if p.get("resolution") and p["outcome"] == "applied"}

# 2. Upstream moves one more release.
write(f"{ws}/carry.toml", manifest % next_ref)
t = time.monotonic()
at_next, _ = carry_json(ws, "run", "--no-test", "--json")
next_run = time.monotonic() - t
by_id = {p["id"]: p for p in patches(at_next)}

# 3. git's answers, in a scratch worktree with rerere.
scratch = f"{d}/scratch"
git(repo, "worktree", "add", "-q", "--detach", scratch, "upstream-old", check=True)
for key, value in [("rerere.enabled", "true"), ("rerere.autoupdate", "true"),
                   ("merge.conflictStyle", "diff3"), ("user.name", "bench"),
                   ("user.email", "bench@example.org")]:
    git(scratch, "config", key, value, check=True)


def pick(onto, commit, rerere):
    git(scratch, "reset", "-q", "--hard")
    git(scratch, "checkout", "-q", "--detach", onto, check=True)
    git(scratch, "-c", f"rerere.enabled={'true' if rerere else 'false'}",
        "cherry-pick", "--no-commit", commit)
    return [l for l in git(scratch, "diff", "--name-only", "--diff-filter=U").stdout.splitlines() if l]


counts = dict(untouched=0, reapplied=0, touched=0, touched_conflict=0, clean_now=0,
              landed_now=0, other=0, wrong=0)
wrong, missed = [], []
for pid, p1 in resolved_first.items():
    commit = p1["from"]
    # Teach rerere at the first upstream, where carry's resolution was made.
    conflicted = pick(before_of(at_first, pid), commit, True)
    first_regions = {}
    for path in conflicted:
        text = read(f"{scratch}/{path}")
        first_regions[path] = regions(text)
        write(f"{scratch}/{path}", resolve(text))
    git(scratch, "add", "-A")
    git(scratch, "rerere")
    made = git(scratch, "write-tree").stdout.strip()
    if made != git(repo, "rev-parse", f"{p1['to']}^{{tree}}").stdout.strip():
        wrong.append(f"{pid}: at the first upstream carry's tree is not the resolved one")
    p2 = by_id.get(pid, {})
    if p2.get("outcome") not in ("applied", "conflict"):
        counts["landed_now" if p2.get("outcome") == "landed" else "other"] += 1
        continue
    onto = before_of(at_next, pid)
    # Did upstream touch the resolved regions again? git's own merge, without rerere.
    now = pick(onto, commit, False)
    if not now:
        counts["clean_now"] += 1
        if p2["outcome"] != "applied":
            missed.append(f"{pid}: git merges it cleanly now, carry says {p2['outcome']}")
        continue
    untouched = all(
        set(regions(read(f"{scratch}/{path}"))) <= set(first_regions.get(path, []))
        for path in now
    )
    # rerere's replay.
    left_by_rerere = pick(onto, commit, True)
    git_tree = None if left_by_rerere else git(scratch, "write-tree").stdout.strip()
    if p2["outcome"] == "applied":
        carry_tree = git(repo, "rev-parse", f"{p2['to']}^{{tree}}").stdout.strip()
        if git_tree is not None and carry_tree != git_tree:
            wrong.append(f"{pid}: carry's tree {carry_tree[:12]}, rerere's {git_tree[:12]}")
        if git_tree is None and untouched:
            wrong.append(f"{pid}: carry re-applied it, rerere leaves {left_by_rerere}")
    if untouched:
        counts["untouched"] += 1
        if p2["outcome"] == "applied" and p2.get("resolution"):
            counts["reapplied"] += 1
        else:
            missed.append(f"{pid}: upstream did not touch its regions, carry says {p2['outcome']}")
    else:
        counts["touched"] += 1
        counts["touched_conflict"] += p2["outcome"] == "conflict"
git(scratch, "reset", "-q", "--hard")
counts["wrong"] = len(wrong)

name = os.path.basename(os.path.abspath(args[0]).rstrip("/"))
print(f"{name}: {conflicts0} conflicts at upstream-new; {len(scripted)} resolved by script "
      f"(side: {side}) in {resolving:.1f}s, {len(left)} left (no diff3 region or refused)")
for line in left[:10]:
    print("  left:", line)
print(f"moved to {next_ref} ({next_run:.2f}s): of {len(resolved_first)} resolved patches, "
      f"{counts['landed_now']} landed, {counts['clean_now']} merge cleanly now, "
      f"{counts['other']} blocked or other")
share = f"{counts['reapplied']}/{counts['untouched']}"
print(f"re-applied where upstream did not touch the resolved lines again: {share}")
print(f"upstream touched the resolved lines again: {counts['touched']} "
      f"({counts['touched_conflict']} reported as conflicts)")
print(f"wrong re-applications (carry's tree is not rerere's): {counts['wrong']}")
for line in (wrong + missed)[:20]:
    print("  -", line)
if "--keep" in sys.argv:
    print(f"kept {d}")
else:
    shutil.rmtree(d, ignore_errors=True)
sys.exit(0 if not wrong and counts["reapplied"] == counts["untouched"] else 1)
