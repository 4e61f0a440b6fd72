#!/usr/bin/env python3
"""Kills `carry promote` at random moments and checks that nothing is ever left mixed.

    python3 bench/promote_kills.py [--kills N] [--seed S] [--carry PATH]

Builds the demo workspace once (`carry demo`, which runs the nightly job), then N times: a
fresh copy of it, `carry promote` started and SIGKILLed after a random delay within the time
an uncut promotion takes, and then `carry validate`, the first command a user would run. It
checks that:
  - `validate` passes (the manifest never names a patch or a base the series lacks),
  - every branch, carry ref, the patch directory and the manifest are then exactly the old
    workspace or exactly the wholly promoted one (a recorded plan is finished by the next
    command; one cut before it was recorded left everything old),
  - a second `carry promote` then ends with the wholly promoted workspace.
It prints how many kills fell before the plan was recorded, part way through it, and after the
promotion was done, and exits 1 on the first workspace that is neither old nor new.
"""
import argparse, os, random, shutil, signal, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null", NO_COLOR="1")
ENV.pop("CARRY_LOG", None)
PROJECTS = ["kernel", "qemu", "libvirt", "ovs", "nova"]


def carry(exe, cwd, *args):
    return subprocess.run([exe, *args], cwd=cwd, env=ENV, capture_output=True, text=True)


def state(ws):
    """Everything a promotion publishes, as one comparable value."""
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--carry", default=os.path.join(ROOT, "target", "release", "carry"))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tmp = tempfile.mkdtemp(prefix="carry-kills-")
    # The directory is kept when a check fails, to look at.
    pristine = os.path.join(tmp, "pristine")
    built = carry(a.carry, tmp, "demo", pristine, "--json")
    if built.returncode != 0:
        sys.exit(f"carry demo failed: {built.stderr}")
    old = state(pristine)

    whole = os.path.join(tmp, "whole")
    shutil.copytree(pristine, whole, symlinks=True)
    start = time.monotonic()
    done = carry(a.carry, whole, "promote")
    span = time.monotonic() - start
    if done.returncode != 3:
        sys.exit(f"an uncut promote exited {done.returncode}: {done.stderr}")
    new = state(whole)
    print(f"an uncut promotion takes {span * 1000:.0f} ms; killing within 0-{span * 1200:.0f} ms")

    counts = {"old": 0, "mixed": 0, "new": 0, "exited": 0}
    for i in range(a.kills):
        ws = os.path.join(tmp, "ws")
        shutil.rmtree(ws, ignore_errors=True)
        shutil.copytree(pristine, ws, symlinks=True)
        proc = subprocess.Popen([a.carry, "-q", "promote"], cwd=ws, env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, span * 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.returncode != -signal.SIGKILL:
            counts["exited"] += 1
        left = state(ws)
        counts["old" if left == old else "new" if left == new else "mixed"] += 1
        checked = carry(a.carry, ws, "validate")
        after = state(ws)
        if checked.returncode != 0 or after not in (old, new):
            print(f"kill {i}: validate exited {checked.returncode}; the workspace is "
                  f"{'old' if after == old else 'new' if after == new else 'MIXED'}\n{checked.stderr}")
            print(f"kept in {ws}")
            sys.exit(1)
        again = carry(a.carry, ws, "promote")
        if again.returncode != 3 or state(ws) != new:
            print(f"kill {i}: promoting again exited {again.returncode}\n{again.stderr}")
            print(f"kept in {ws}")
            sys.exit(1)
    print(f"{a.kills} kills: left old {counts['old']}, part way {counts['mixed']} (finished by "
          f"the next command), already new {counts['new']} (of which {counts['exited']} had "
          f"exited before the kill); never mixed after the next command")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
