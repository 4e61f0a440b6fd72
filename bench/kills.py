#!/usr/bin/env python3
"""SIGKILLs `carry run` and `carry promote` at random moments; checks nothing is lost or mixed,
git's object stores stay sound, and no test process survives.

    python3 bench/kills.py [--kills N] [--seed S] [--carry PATH]

The demo workspace, with tests that start a process outside their process group (`setsid
sleep 600 &`, as a daemon-starting test would), is built once. Each kill is, at random:
  - a run: `carry run --all --fresh` SIGKILLed within the time an uncut one takes; then the
    next `carry run --all` must resume it to exactly the outcome an uncut run reports, and
    every branch, tag and patch file must be byte for byte what it was;
  - a promotion: on a fresh copy, `carry promote` SIGKILLed within its uncut time; then
    `carry validate` and a second `carry promote` must leave exactly the wholly promoted
    workspace (never a mix).
After each: `git fsck --strict` is clean in every repository, and no process carrying the
workspace's tag (`CARRY_WORKSPACE_TAG`) is alive, the killed run's escaped ones included.
Prints the counts and exits 1 at the first failure, keeping the workspace to look at.
"""
import argparse, json, os, random, shutil, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null", NO_COLOR="1")
ENV.pop("CARRY_LOG", None)
PROJECTS = ["kernel", "qemu", "libvirt", "ovs", "nova"]
# Each test leaves a process behind outside its group; carry must end it.
ESCAPING_TEST = 'test = "setsid sleep 600 & sh check.sh; sleep 0.2"'


def carry(exe, cwd, *args):
    return subprocess.run([exe, *args], cwd=cwd, env=ENV, capture_output=True, text=True)


def user_state(ws):
    """The user's refs and patch files: a run never changes them."""
    out = {}
    for p in PROJECTS:
        out[p] = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"],
            cwd=os.path.join(ws, "repos", p), env=ENV, capture_output=True, text=True, check=True).stdout
    d = os.path.join(ws, "patches", "kernel")
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            out["patches/" + name] = f.read()
    return out


def promoted_state(ws):
    """Everything a promotion publishes."""
    out = {}
    for p in PROJECTS:
        out[p] = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/carry/applied-base"],
            cwd=os.path.join(ws, "repos", p), env=ENV, capture_output=True, text=True, check=True).stdout
    d = os.path.join(ws, "patches", "kernel")
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        if name == "series":  # its comment line names the promotion
            data = b"\n".join(l for l in data.split(b"\n") if not l.startswith(b"#"))
        out["patches/" + name] = data
    with open(os.path.join(ws, "carry.toml"), "rb") as f:
        out["carry.toml"] = f.read()
    return out


def outcomes(report_json):
    report = json.loads(report_json)
    found = {}
    for project in report["projects"]:
        name = project["name"]
        found[name] = (project["status"], project["test"]["status"],
                       tuple((p["id"], json.dumps(p["outcome"], sort_keys=True)) for p in project["patches"]))
    for feature in report["features"]:
        found["feature " + feature["name"]] = feature["status"]
    return found


def fsck(ws):
    for p in PROJECTS:
        checked = subprocess.run(["git", "fsck", "--strict", "--no-progress", "--no-dangling"],
                                 cwd=os.path.join(ws, "repos", p), env=ENV, capture_output=True, text=True)
        if checked.returncode != 0 or checked.stdout.strip():
            return f"{p}: {checked.stdout}{checked.stderr}"
    return None


def workspace_tag(ws):
    """carry's tag for the workspace: the digest of its state directory's real path."""
    import hashlib
    return hashlib.sha1(os.path.realpath(os.path.join(ws, ".carry")).encode()).hexdigest()[:16]


TAGS = set()


def tagged_processes():
    """Live processes carrying the tag of a workspace of this campaign (zombies aside)."""
    marks = [f"CARRY_WORKSPACE_TAG={tag}".encode() for tag in TAGS]
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(mark in env.split(b"\0") for mark in marks):
            found.append(int(pid))
    return found


def with_escaping_tests(ws):
    path = os.path.join(ws, "carry.toml")
    with open(path) as f:
        text = f.read()
    text = text.replace('test = "sh check.sh"', ESCAPING_TEST)
    text = text.replace('test = { command = "sh check.sh", timeout = "5m" }',
                        'test = { command = "setsid sleep 600 & sh check.sh; sleep 0.2", timeout = "5m" }')
    with open(path, "w") as f:
        f.write(text)


def timed(exe, ws, *args):
    start = time.monotonic()
    done = carry(exe, ws, *args)
    return done, time.monotonic() - start


def kill_after(exe, ws, delay, *args):
    proc = subprocess.Popen([exe, "-q", *args], cwd=ws, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.returncode == -signal.SIGKILL


def fail(message, ws):
    print(message)
    print(f"kept in {ws}")
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--carry", default=os.path.join(ROOT, "target", "release", "carry"))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tmp = tempfile.mkdtemp(prefix="carry-kills-")

    pristine = os.path.join(tmp, "pristine")
    built = carry(a.carry, tmp, "demo", pristine, "--no-run")
    if built.returncode != 0:
        sys.exit(f"carry demo failed: {built.stderr}")
    with_escaping_tests(pristine)
    first, _ = timed(a.carry, pristine, "run", "--json")
    if first.returncode != 3:
        sys.exit(f"the first run exited {first.returncode}: {first.stderr}")
    expected = outcomes(first.stdout)
    users = user_state(pristine)

    # The workspace runs are killed in (runs never change what a user owns).
    running = os.path.join(tmp, "running")
    shutil.copytree(pristine, running, symlinks=True)
    TAGS.update({workspace_tag(pristine), workspace_tag(running)})
    if tagged_processes():
        sys.exit(f"test processes survived the first runs: {tagged_processes()}")
    uncut, run_span = timed(a.carry, running, "run", "--all", "--fresh", "--json")
    if uncut.returncode != 3 or outcomes(uncut.stdout) != expected:
        sys.exit(f"an uncut run differs: {uncut.returncode} {uncut.stderr}")

    whole = os.path.join(tmp, "whole")
    shutil.copytree(pristine, whole, symlinks=True)
    old = promoted_state(whole)
    done, promote_span = timed(a.carry, whole, "promote")
    if done.returncode != 3:
        sys.exit(f"an uncut promote exited {done.returncode}: {done.stderr}")
    new = promoted_state(whole)
    print(f"uncut: a run takes {run_span * 1000:.0f} ms, a promotion {promote_span * 1000:.0f} ms",
          flush=True)

    counts = {"run": 0, "run-exited": 0, "resumed": 0, "promote": 0, "promote-old": 0,
              "promote-mixed": 0, "promote-new": 0, "leftovers-ended": 0}
    for i in range(a.kills):
        if rng.random() < 0.6:
            counts["run"] += 1
            if not kill_after(a.carry, running, rng.uniform(0, run_span * 1.1), "run", "--all", "--fresh"):
                counts["run-exited"] += 1
            if tagged_processes():
                counts["leftovers-ended"] += 1
            after = carry(a.carry, running, "run", "--all", "--json")
            if after.returncode != 3 or outcomes(after.stdout) != expected:
                fail(f"kill {i} (run): the next run exited {after.returncode} with other outcomes\n"
                     f"{after.stderr}", running)
            if "resuming" in after.stderr or "interrupted" in after.stderr:
                counts["resumed"] += 1
            if user_state(running) != users:
                fail(f"kill {i} (run): a user's branch, tag or patch file changed", running)
            ws = running
        else:
            counts["promote"] += 1
            ws = os.path.join(tmp, "promoting")
            shutil.rmtree(ws, ignore_errors=True)
            shutil.copytree(pristine, ws, symlinks=True)
            kill_after(a.carry, ws, rng.uniform(0, promote_span * 1.2), "promote")
            left = promoted_state(ws)
            counts["promote-old" if left == old else "promote-new" if left == new else "promote-mixed"] += 1
            checked = carry(a.carry, ws, "validate")
            if checked.returncode != 0 or promoted_state(ws) not in (old, new):
                fail(f"kill {i} (promote): validate exited {checked.returncode}; mixed\n{checked.stderr}", ws)
            again = carry(a.carry, ws, "promote")
            if again.returncode != 3 or promoted_state(ws) != new:
                fail(f"kill {i} (promote): promoting again exited {again.returncode}\n{again.stderr}", ws)
        broken = fsck(ws)
        if broken:
            fail(f"kill {i}: git fsck: {broken}", ws)
        survivors = tagged_processes()
        if survivors:
            fail(f"kill {i}: test processes survived: {survivors}", ws)
        if (i + 1) % 50 == 0:
            print(f"{i + 1} kills: {counts}", flush=True)
    print(f"{a.kills} kills ({counts['run']} of runs, {counts['promote']} of promotions): "
          f"runs resumed to the uncut outcome every time ({counts['resumed']} said they resumed, "
          f"{counts['run-exited']} had ended before the kill; {counts['leftovers-ended']} left test "
          f"processes the next run ended); promotions left old {counts['promote-old']}, part way "
          f"{counts['promote-mixed']} (finished by the next command), new {counts['promote-new']}; "
          f"git fsck clean and 0 surviving test processes after each")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
