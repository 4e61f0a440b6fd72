#!/usr/bin/env python3
"""furthest.py SCENARIO CARRY [--strip-references] [--tags GLOB]

`carry impact p --furthest` on real history (a `../shared/realhistory` scenario: upstream-old,
upstream-new, carried), timed against one trial rebase to upstream's tip (`impact --to`), and
its answer among tags checked against a linear scan of every tag (one `impact --to TAG` each,
oldest first: the last clean tag before the first that breaks). The first-parent answer is
checked by two more trials: clean at `furthest`, broken at `next`.

--strip-references drops the lines naming an upstream commit and the Change-Id from the
carried commits (as bench/resolutions.py does), so adapted backports conflict instead of
landing by reference. --tags GLOB (default `v*`) chooses the tags.
"""
import json, os, re, shutil, subprocess, sys, tempfile, time

args = [a for i, a in enumerate(sys.argv[1:], 1)
        if not a.startswith("--") and sys.argv[i - 1] != "--tags"]
if len(args) != 2:
    sys.exit(__doc__)
scenario, carry = os.path.abspath(args[0]), os.path.abspath(args[1])
pattern = sys.argv[sys.argv.index("--tags") + 1] if "--tags" in sys.argv else "v*"


def sh(*a, check=True, **k):
    r = subprocess.run(a, capture_output=True, text=True, **k)
    if check and r.returncode != 0:
        sys.exit(f"{' '.join(a)}: {r.stderr[-500:]}")
    return r


d = tempfile.mkdtemp(prefix="furthest-")
if "--strip-references" in sys.argv:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from scenarios import strip_references
    scenario = strip_references(scenario, f"{d}/scenario.git")

ws = f"{d}/ws"
os.makedirs(ws)
sh("git", "clone", "-q", "--bare", "--shared", scenario, f"{ws}/repos/p.git")
with open(f"{ws}/carry.toml", "w") as f:
    f.write('[workspace]\nname = "furthest"\n\n[project.p]\nrepo = "repos/p.git"\n'
            f'upstream = {{ path = "{scenario}", ref = "upstream-new" }}\n'
            'series = { branch = "carried", base = "upstream-old" }\n')
sh(carry, "-C", ws, "fetch")


def impact(*a):
    t = time.monotonic()
    r = sh(carry, "-C", ws, "--color", "never", "impact", "p", *a, "--json", check=False)
    elapsed = time.monotonic() - t
    if r.returncode not in (0, 3):
        sys.exit(f"impact {' '.join(a)}: exit {r.returncode}: {r.stderr[-400:]}")
    return json.loads(r.stdout), elapsed


def clean(trial):
    return all(p["outcome"] in ("applied", "landed") for p in trial["patches"]) \
        and not trial["blocked_elsewhere"]


answer, furthest_time = impact("--furthest")
_, tip_time = impact("--to", answer["tip"])
n = answer["points"]
print(f"{os.path.basename(args[0].rstrip('/'))}: {n} first-parent points; furthest "
      f"{(answer['furthest'] or {}).get('commit', 'the base')[:12]} "
      f"(tag {(answer['furthest'] or {}).get('tag')}), next "
      f"{(answer['next'] or {}).get('commit', 'none')[:12]}, {answer['trials']} trials, "
      f"{len(answer['breaks'])} breaking")
bound = __import__("math").log2(max(n, 2)) + 2
print(f"  --furthest {furthest_time:.2f}s; one trial to the tip {tip_time:.2f}s; "
      f"ratio {furthest_time / tip_time:.1f} (goal under log2(N) + 2 = {bound:.1f})")
ok = furthest_time < bound * tip_time
if answer["furthest"]:
    good, _ = impact("--to", answer["furthest"]["commit"])
    ok &= clean(good)
if answer["next"]:
    bad, _ = impact("--to", answer["next"]["commit"])
    ok &= not clean(bad)
print(f"  checked: clean at furthest, broken at next: {ok}")

tagged, tagged_time = impact("--furthest", "--tags", pattern)
repo = f"{ws}/repos/p.git"
tags = [t for t in sh("git", "-C", repo, "for-each-ref", "--format=%(refname:strip=4)",
                      "refs/carry/upstream/tags/").stdout.split()]
base = sh("git", "-C", repo, "rev-parse", "upstream-old^{commit}").stdout.strip()
# The linear scan: every matching tag after the base, oldest first (git's own order of the
# commits they name; tags on one commit by name).
scan_start = time.monotonic()
last_good, first_bad, scanned = None, None, 0
points = []
for tag in tags:
    if not re.fullmatch(pattern.replace(".", r"\.").replace("*", ".*").replace("?", "."), tag):
        continue
    commit = sh("git", "-C", repo, "rev-parse", f"refs/carry/upstream/tags/{tag}^{{commit}}").stdout.strip()
    if commit == base or sh("git", "-C", repo, "merge-base", "--is-ancestor", commit, base, check=False).returncode == 0 \
            or sh("git", "-C", repo, "merge-base", "--is-ancestor", commit, "upstream-new", check=False).returncode != 0:
        continue
    points.append(tag)
order = {c: i for i, c in enumerate(sh("git", "-C", repo, "rev-list", "--reverse", "--topo-order",
                                        "upstream-new", "--not", base).stdout.split())}
points.sort(key=lambda t: (order.get(sh("git", "-C", repo, "rev-parse", f"refs/carry/upstream/tags/{t}^{{commit}}").stdout.strip(), -1), t))
for tag in points:
    trial, _ = impact("--to", tag)
    scanned += 1
    if clean(trial):
        if first_bad is None:
            last_good = tag
    elif first_bad is None:
        first_bad = tag
scan_time = time.monotonic() - scan_start
same = (tagged["furthest"] or {}).get("tag") == last_good and (tagged["next"] or {}).get("tag") == first_bad
print(f"  tags {pattern}: {len(points)} after the base; --furthest --tags {tagged_time:.2f}s "
      f"({tagged['trials']} trials) says {(tagged['furthest'] or {}).get('tag')} then "
      f"{(tagged['next'] or {}).get('tag')}; the linear scan ({scanned} trials, {scan_time:.2f}s) "
      f"says {last_good} then {first_bad}: {'same' if same else 'DIFFERENT'}")
shutil.rmtree(d, ignore_errors=True)
sys.exit(0 if ok and same else 1)
