#!/usr/bin/env python3
"""executors.py CARRY [--projects N] [--sleep S]

The local executor against the Slurm executor, same workspaces, same run: the demo and a
generated workspace of N projects (default 20; five stages, each project consuming one of the
stage before, one carried patch each, a test that sleeps S seconds, default 1). For each:
wall time of a first run, jobs submitted, jobs submitted by a second run with nothing changed
(goal: 0), and the overhead per job (a job's test time over the local process's). Needs a Slurm
cluster answering (`scripts/slurm-cluster.sh start`, then export the SLURM_CONF it prints).
"""
import json, os, shutil, subprocess, sys, tempfile, time

args = [a for i, a in enumerate(sys.argv[1:], 1) if not a.startswith("--") and not sys.argv[i - 1].startswith("--")]
if len(args) != 1:
    sys.exit(__doc__)
carry = os.path.abspath(args[0])
count = int(sys.argv[sys.argv.index("--projects") + 1]) if "--projects" in sys.argv else 20
sleep = sys.argv[sys.argv.index("--sleep") + 1] if "--sleep" in sys.argv else "1"
env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.org",
           GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.org")


def sh(*a, cwd=None, check=True):
    r = subprocess.run(a, cwd=cwd, capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        sys.exit(f"{' '.join(a)}: {r.stderr[-400:]}")
    return r


def generated(root):
    manifest = ['[workspace]\nname = "generated"\n']
    for n in range(count):
        up, repo = f"{root}/upstream/p{n}", f"{root}/repos/p{n}"
        os.makedirs(up)
        sh("git", "init", "-q", "-b", "main", cwd=up)
        with open(f"{up}/lib.c", "w") as f:
            f.write(f"project {n}\n")
        sh("git", "add", "-A", cwd=up)
        sh("git", "commit", "-q", "-m", "import", cwd=up)
        sh("git", "clone", "-q", up, repo)
        sh("git", "checkout", "-q", "-b", "carried", cwd=repo)
        with open(f"{repo}/carried.c", "w") as f:
            f.write("carried\n")
        sh("git", "add", "-A", cwd=repo)
        sh("git", "commit", "-q", "-m", "a carried patch", cwd=repo)
        with open(f"{up}/lib.c", "a") as f:
            f.write("moved\n")
        sh("git", "commit", "-q", "-am", "upstream moves", cwd=up)
        consumes = f'consumes = ["p{n - 4}"]\n' if n >= 4 else ""
        manifest.append(
            f'[project.p{n}]\nrepo = "repos/p{n}"\nupstream = {{ path = "upstream/p{n}", ref = "main" }}\n'
            f'series = {{ branch = "carried", base = "main" }}\n{consumes}'
            f'test = {{ command = "sleep {sleep}", timeout = "5m" }}\n')
    with open(f"{root}/carry.toml", "w") as f:
        f.write("\n".join(manifest))


def demo(root):
    sh(carry, "demo", "--no-run", root)


def with_slurm(root, shared):
    with open(f"{root}/carry.toml", "a") as f:
        f.write(f'\n[executor]\nkind = "slurm"\nshared-dir = "{shared}"\n')


def run(root, *extra):
    t = time.monotonic()
    r = subprocess.run([carry, "-C", root, "--color", "never", "run", "--json", *extra],
                       capture_output=True, text=True)
    wall = time.monotonic() - t
    report = json.loads(r.stdout)
    tests = [p["test"] for p in report["projects"]]
    ran = [t for t in tests if t.get("status") in ("passed", "failed", "timeout") and not t.get("reused")]
    return wall, ran


d = tempfile.mkdtemp(prefix="executors-")
shared = f"{d}/shared"
os.makedirs(shared)
print(f"{'workspace':<22} {'executor':<8} {'first run':>10} {'tests run':>10} {'jobs':>5} "
      f"{'2nd run: jobs':>14} {'per job':>9}")
for name, build in [("demo", demo), (f"generated {count}", generated)]:
    results = {}
    for executor in ("local", "slurm"):
        root = f"{d}/{name.split()[0]}-{executor}"
        build(root)
        if executor == "slurm":
            with_slurm(root, shared)
        wall, ran = run(root)
        jobs = sum(1 for t in ran if t.get("job"))
        _, again = run(root, "--all")
        again_jobs = sum(1 for t in again if t.get("job"))
        results[executor] = (wall, ran)
        per_job = ""
        if executor == "slurm" and jobs:
            local = {i: t["duration_ms"] for i, t in enumerate(results["local"][1])}
            extra = [t["duration_ms"] - local.get(i, 0) for i, t in enumerate(ran)]
            per_job = f"{sum(extra) / len(extra) / 1000:+.2f}s"
        print(f"{name:<22} {executor:<8} {wall:>9.2f}s {len(ran):>10} {jobs:>5} {again_jobs:>14} {per_job:>9}")
shutil.rmtree(d, ignore_errors=True)
