#!/usr/bin/env python3
"""carry against plain git on real upstream history, in one run.

    python3 bench/realhistory.py MIRRORS [OUT] [--runs N] [--only NAME]

MIRRORS holds bare mirrors as `fetch` leaves them (`DPDK+dpdk/repo`,
`openstack+neutron/repo`). OUT (default /tmp/carry-bench) caches the scenarios, which
`../shared/realhistory/make.sh` builds once from the projects' own history: the `clean`,
`onto-old` and `backports` kinds, 150 to 500 patches, each an upstream move of more than 1,000
commits.

Per scenario and form, median of N (default 5) cold runs (a fresh workspace each: no store,
no cache, no earlier result; upstream fetched before the clock starts, as git's side has it):
  branch:  `carry run --no-test --offline` against `git cherry` + `git replay`
  dir:     the same series as `git format-patch` files: `carry run --no-test` against a
           scratch worktree at the old base, `git am` of the files, `git cherry` and
           `git replay` of what `git am` made
and once, `git rebase --onto` in a worktree. Also carry's peak memory, and an eight-project
workspace of these scenarios (one stage) against the sum of git's times over the cores.

Where git's tool stops early (`git replay` stops at the first conflict, and git 2.47 aborts
with an assertion in merge-ort on some DPDK ranges) git did less than the whole job, so its
time is a lower bound and the ratio an upper one: the table says so. Then a second line times
the whole job with git's tools: `git replay` of each run of commits git's own chain (the
scenario's oracle) applies, and of each commit it conflicts on; and `git rebase` goes on with
`--skip` at every conflict.
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REALHISTORY = os.path.join(os.path.dirname(ROOT), "shared", "realhistory")
CARRY = os.path.join(ROOT, "target", "release", "carry")
GIT_ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null",
               GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.org",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.org")

# name, mirror, make.sh arguments
SCENARIOS = [
    ("dpdk-clean300", "DPDK+dpdk", ["clean", "v23.11", "v24.07", "v25.03", "300"]),
    ("dpdk-onto-old150", "DPDK+dpdk", ["onto-old", "v23.11", "v24.07", "v25.03", "150", "lib", "drivers/net"]),
    ("dpdk-backports200", "DPDK+dpdk", ["backports", "v23.11", "v24.07", "v23.11.3", "200"]),
    ("dpdk-clean500", "DPDK+dpdk", ["clean", "v23.03", "v24.03", "v25.07", "500"]),
    ("neutron-clean150", "openstack+neutron", ["clean", "22.0.0", "24.0.0", "26.0.0", "150"]),
    ("neutron-backports150", "openstack+neutron", ["backports", "22.0.0", "24.0.0", "22.2.0", "150"]),
]


def run(*args, **kw):
    """Runs a command; returns (seconds, exit code, peak RSS in KiB, stdout)."""
    start = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=GIT_ENV, **kw)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - start, proc.returncode, usage.ru_maxrss, out


def git(*args):
    return subprocess.run(("git",) + args, capture_output=True, text=True, env=GIT_ENV, check=True).stdout


def build(out, mirrors, name, mirror, args):
    dest = os.path.join(out, name)
    if not os.path.isdir(dest + ".oracle"):
        shutil.rmtree(dest, ignore_errors=True)
        subprocess.run([os.path.join(REALHISTORY, "make.sh"), args[0], os.path.join(mirrors, mirror, "repo"), dest] + args[1:],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([os.path.join(REALHISTORY, "oracle.sh"), dest, dest + ".oracle"], check=True, stdout=subprocess.DEVNULL)
    return dest


def project_toml(name, scenario, as_dir):
    series = 'series = { branch = "carried", base = "upstream-old" }'
    if as_dir:
        series = f'series = {{ dir = "patches/{name}", base = "upstream-old" }}'
    return (f'[project.{name}]\nrepo = "repos/{name}.git"\n'
            f'upstream = {{ path = "{scenario}", ref = "upstream-new" }}\n{series}\n\n')


def workspace(projects, as_dir):
    """A fresh workspace over `projects` [(name, scenario)]; returns its path."""
    d = tempfile.mkdtemp(prefix="carry-bench-")
    toml = '[workspace]\nname = "bench"\n\n'
    for name, scenario in projects:
        git("clone", "-q", "--bare", "--shared", scenario, f"{d}/repos/{name}.git")
        if as_dir:
            pd = f"{d}/patches/{name}"
            os.makedirs(pd)
            files = git("-C", f"{d}/repos/{name}.git", "format-patch", "-o", pd, "upstream-old..carried").split()
            open(f"{pd}/series", "w").write("".join(os.path.basename(f) + "\n" for f in files))
        toml += project_toml(name, scenario, as_dir)
    open(f"{d}/carry.toml", "w").write(toml)
    return d


def carry_run(d, offline=True):
    """`carry run --no-test` on a fresh workspace. With `offline` (the default), upstream is
    fetched first, outside the clock, as git's side of the comparison starts with it fetched;
    the fetch is git's own (`git fetch`) and costs the same either way."""
    if offline:
        subprocess.run([CARRY, "-C", d, "-q", "fetch"], check=True, env=GIT_ENV)
    args = [CARRY, "-C", d, "--color", "never", "run", "--no-test", "--json"] + (["--offline"] if offline else [])
    seconds, code, rss, out = run(*args)
    try:
        report = json.loads(out)
    except ValueError:
        raise SystemExit(f"carry gave no report (exit {code}) in {d}")
    return seconds, rss, report


def git_branch(d, name):
    """git cherry + git replay; (seconds, whether git did the whole job)."""
    g = f"{d}/repos/{name}.git"
    t1, _, _, _ = run("git", "-C", g, "cherry", "upstream-new", "carried", "upstream-old")
    t2, code, _, _ = run("git", "-C", g, "replay", "--onto", "upstream-new", "upstream-old..carried")
    return t1 + t2, code == 0


def segments(oracle):
    """git's own chain (`per-commit.tsv` of the oracle) as the replays that do it: each run of
    commits it applies (or finds empty) in one `git replay`, and each commit it finds in
    conflict in one of its own (which fails, as it must). Commits `git cherry` marked as
    upstream are in none. Each is (kind, first, last), as positions in the series."""
    runs, current = [], []
    for line in open(os.path.join(oracle, "per-commit.tsv")):
        index, _, status = line.split("\t")[:3]
        position = int(index) - 1
        if status in ("applied", "empty"):
            current.append(position)
            continue
        if current:
            runs.append(("apply", current[0], current[-1]))
            current = []
        if status == "conflict":
            runs.append(("conflict", position, position))
    if current:
        runs.append(("apply", current[0], current[-1]))
    return runs


def changing_positions(g):
    """Positions of the carried commits that change something: `git format-patch` leaves the
    empty ones out, so the k-th commit `git am` makes is the k-th of these."""
    carried = git("-C", g, "rev-list", "--reverse", "--format=%T %P", "--no-commit-header",
                  "upstream-old..carried").splitlines()
    trees = git("-C", g, "rev-parse", *[line.split()[1] + "^{tree}" for line in carried]).split()
    return [i for i, (line, parent) in enumerate(zip(carried, trees)) if line.split()[0] != parent], len(carried)


def replay_chain(g, tip, oracle, changing=None):
    """Replays the series ending at `tip` as git's chain does it (see `segments`), onto
    upstream-new; whether every replay went as git's chain says. `git replay` prints the new
    position of the branches it was given, so each run ends at a branch."""
    commits = git("-C", g, "rev-list", "--reverse", f"upstream-old..{tip}").split()
    if changing:
        # Made by `git am`: see `changing_positions`.
        positions, total = changing
        if len(positions) != len(commits):
            return False
        by_position = dict(zip(positions, commits))
        commits = [by_position.get(i) for i in range(total)]
    plan = [(kind, first, last) for kind, first, last in segments(oracle)
            if commits[first] and commits[last]]
    refs = "".join(f"update refs/heads/bench-{i} {commits[last]}\n" for i, (_, _, last) in enumerate(plan))
    subprocess.run(["git", "-C", g, "update-ref", "--stdin"], input=refs, text=True, env=GIT_ENV, check=True)
    onto, as_expected = "upstream-new", True
    for i, (kind, first, _) in enumerate(plan):
        _, code, _, out = run("git", "-C", g, "replay", "--onto", onto, f"{commits[first]}^..bench-{i}")
        if kind == "conflict":
            as_expected = as_expected and code == 1
            continue
        moved = [l.split()[2] for l in out.decode().splitlines() if l.startswith("update ")]
        if code != 0 or not moved:
            return False
        onto = moved[0]
    return as_expected


def git_branch_whole(d, name, oracle):
    """The whole job with git's tools, where `git replay` alone stops at the first conflict:
    `git cherry`, then `git replay` of every run of commits git's chain applies onto the tip
    so far, and of every commit it conflicts on (that one-commit replay fails: git finding
    the conflict). Where the conflicts are is read from git's own answers, so git never
    replays in vain: its time is a lower bound for a script that must find them.
    (seconds, whether every replay went as git's chain says.)"""
    g = f"{d}/repos/{name}.git"
    start = time.monotonic()
    run("git", "-C", g, "cherry", "upstream-new", "carried", "upstream-old")
    as_expected = replay_chain(g, "carried", oracle)
    return time.monotonic() - start, as_expected


def git_dir(d, name, oracle=None):
    """A scratch worktree at the old base, git am of the files, git cherry, git replay (with
    `oracle`: the whole job, replayed as in `git_branch_whole`)."""
    g, wt = f"{d}/repos/{name}.git", f"{d}/wt-{name}"
    pd = f"{d}/patches/{name}"
    files = [os.path.join(pd, f.strip()) for f in open(f"{pd}/series") if f.strip()]
    changing = changing_positions(g) if oracle else None
    start = time.monotonic()
    run("git", "-C", g, "worktree", "add", "-q", "--detach", wt, "upstream-old")
    _, am_code, _, _ = run("git", "-C", wt, "am", "-q", "--keep-cr", *files)
    tip = git("-C", wt, "rev-parse", "HEAD").strip()
    run("git", "-C", g, "cherry", "upstream-new", tip, "upstream-old")
    if oracle:
        complete = replay_chain(g, tip, oracle, changing)
    else:
        _, code, _, _ = run("git", "-C", g, "replay", "--onto", "upstream-new", f"upstream-old..{tip}")
        complete = code == 0
    return time.monotonic() - start, am_code == 0 and complete


def git_rebase(scenario):
    """`git rebase --onto` in a worktree, going on with `--skip` at every conflict (the whole
    job, as the oracle runs it); (seconds, stops)."""
    d = tempfile.mkdtemp(prefix="carry-bench-rebase-")
    git("clone", "-q", "--bare", "--shared", scenario, f"{d}/p.git")
    run("git", "-C", f"{d}/p.git", "worktree", "add", "-q", "-B", "work", f"{d}/wt", "carried")
    start = time.monotonic()
    _, code, _, _ = run("git", "-C", f"{d}/wt", "rebase", "-q", "--onto", "upstream-new", "upstream-old")
    state = os.path.join(f"{d}/wt", git("-C", f"{d}/wt", "rev-parse", "--git-path", "rebase-merge").strip())
    stops = 0
    while code != 0 and os.path.isdir(state):
        stops += 1
        _, code, _, _ = run("git", "-C", f"{d}/wt", "rebase", "--skip")
    seconds = time.monotonic() - start
    shutil.rmtree(d)
    return seconds, stops


def main():
    argv = sys.argv[1:]
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 5
    only = argv[argv.index("--only") + 1] if "--only" in argv else None
    positional = [a for i, a in enumerate(argv) if not a.startswith("--") and (i == 0 or argv[i - 1] not in ("--runs", "--only"))]
    if not positional:
        raise SystemExit(__doc__)
    mirrors = positional[0]
    out = positional[1] if len(positional) > 1 else "/tmp/carry-bench"
    os.makedirs(out, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    cores = os.cpu_count() or 1

    rows, branch_git_times, paths = [], {}, {}
    for name, mirror, args in SCENARIOS:
        if only and only != name:
            continue
        scenario = build(out, mirrors, name, mirror, args)
        paths[name] = scenario
        moved = int(git("-C", scenario, "rev-list", "--count", "upstream-old..upstream-new"))
        patches = int(git("-C", scenario, "rev-list", "--count", "upstream-old..carried"))
        for as_dir in (False, True):
            carry_times, git_times, whole_times, peak, whole, as_expected = [], [], [], 0, True, True
            for _ in range(runs):
                d = workspace([("p", scenario)], as_dir)
                seconds, rss, _ = carry_run(d)
                carry_times.append(seconds)
                peak = max(peak, rss)
                shutil.rmtree(d)
                d = workspace([("p", scenario)], as_dir)
                seconds, complete = (git_dir if as_dir else git_branch)(d, "p")
                git_times.append(seconds)
                whole = whole and complete
                shutil.rmtree(d)
                if not complete:
                    d = workspace([("p", scenario)], as_dir)
                    oracle = scenario + ".oracle"
                    seconds, expected = git_dir(d, "p", oracle) if as_dir else git_branch_whole(d, "p", oracle)
                    whole_times.append(seconds)
                    as_expected = as_expected and expected
                    shutil.rmtree(d)
            c, g = statistics.median(carry_times), statistics.median(git_times)
            if not as_dir:
                branch_git_times[name] = statistics.median(whole_times) if whole_times else g
            rows.append((name, patches, moved, "dir" if as_dir else "branch", c, g, whole, peak))
            print(f"{name:22} {patches:4} patches, {moved:5} upstream commits, {'dir' if as_dir else 'branch':6}: "
                  f"carry {c:6.2f}s  git {g:6.2f}s{'' if whole else ' (git stopped early)'}  "
                  f"ratio {c / g:5.2f}x  peak {peak // 1024} MiB", flush=True)
            if whole_times:
                w = statistics.median(whole_times)
                print(f"{name:22} {'':40} whole job: git {w:6.2f}s (cherry + {len(segments(scenario + '.oracle'))} replays)"
                      f"{'' if as_expected else ' (a replay did not go as git chain said)'}  ratio {c / w:5.2f}x", flush=True)
        seconds, stops = git_rebase(scenario)
        c = next(r[4] for r in rows if r[0] == name and r[3] == "branch")
        print(f"{name:22} git rebase --onto {seconds:6.2f}s{f' (with --skip at {stops} conflicts)' if stops else ''}: "
              f"carry is {seconds / c:5.1f}x faster", flush=True)

    if len(paths) >= 2 and not only:
        names = list(paths)
        projects = [(f"p{i}", paths[names[i % len(names)]]) for i in range(8)]
        budget = sum(branch_git_times[names[i % len(names)]] for i in range(8)) / cores
        d = workspace(projects, False)
        seconds, rss, report = carry_run(d)
        shutil.rmtree(d)
        print(f"eight projects in one stage: carry {seconds:.2f}s, sum of git's times / {cores} cores "
              f"{budget:.2f}s, ratio {seconds / budget:.2f}x, peak {rss // 1024} MiB", flush=True)

        # Nightly runs with nothing to do: 20 projects, fetched and tested as a nightly job
        # runs (`carry run`, no flags). First the night after a run whose results were not
        # promoted (the same inputs: every rebase is reused), then the night after promotion
        # (nothing moved).
        projects = [(f"n{i}", paths[names[i % len(names)]]) for i in range(20)]
        d = workspace(projects, False)
        nightly = lambda: run(CARRY, "-C", d, "--color", "never", "-q", "run")
        nightly()
        reused = statistics.median([nightly()[0] for _ in range(runs)])
        run(CARRY, "-C", d, "--color", "never", "-q", "promote", "--force")
        nightly()
        unmoved = statistics.median([nightly()[0] for _ in range(runs)])
        shutil.rmtree(d)
        print(f"nightly of 20 projects with nothing to do: {reused:.2f}s (results reused), "
              f"{unmoved:.2f}s (after promotion, nothing moved)", flush=True)


if __name__ == "__main__":
    main()
