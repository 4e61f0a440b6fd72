#!/usr/bin/env python3
"""SIGKILLs `carry resolve --continue` at random moments; checks the resolution is recorded
whole or not at all, and that the next `--continue` (or run) finishes the job.

    python3 bench/resolve_kills.py CARRY [--kills N] [--seed S]

Each kill works on a fresh demo, run (its libvirt conflict open), the conflict's worktree
prepared and resolved by writing the file. After the
kill: the store holds no region of the resolution or all of it with the text written; when it
holds none, the resolve session is still there and a second `--continue` records it; either
way a following run applies the patch with the resolution, and `git fsck` is clean.
"""
import json, os, random, shutil, signal, subprocess, sys, tempfile, time

args = [a for i, a in enumerate(sys.argv[1:], 1) if not a.startswith("--") and not sys.argv[i - 1].startswith("--")]
if len(args) != 1:
    sys.exit(__doc__)
carry = os.path.abspath(args[0])
kills = int(sys.argv[sys.argv.index("--kills") + 1]) if "--kills" in sys.argv else 30
seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 20261206
random.seed(seed)
ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null", NO_COLOR="1")
LINE = "    return qemuHostdevPCIAddress(x) + 4 + vf_token;\n"


def run(ws, *a):
    return subprocess.run([carry, *a], cwd=ws, env=ENV, capture_output=True, text=True)


def fail(message, ws):
    print(f"FAILED: {message} (kept {ws})")
    sys.exit(1)


base = tempfile.mkdtemp(prefix="resolve-kills-")


def prepared(ws):
    """The demo, run, its conflict's worktree resolved by writing the file (a worktree records
    where it is, so each kill gets a workspace built where it lives)."""
    subprocess.run([carry, "demo", "--no-run", ws], env=ENV, capture_output=True, check=True)
    run(ws, "run")
    run(ws, "resolve", "libvirt/hostdev-vf")
    path = f"{ws}/.carry/resolve/libvirt/hostdev-vf/src/qemu/qemu_hostdev.c"
    text = open(path).read()
    start = text.index("<<<<<<< ")
    end = text.index(">>>>>>> ", start)
    end = text.index("\n", end) + 1
    open(path, "w").write(text[:start] + LINE + text[end:])


# How long an uncut --continue takes.
probe = f"{base}/probe"
prepared(probe)
t = time.monotonic()
run(probe, "resolve", "--continue")
uncut = time.monotonic() - t

counts = {"none": 0, "whole": 0}
for n in range(kills):
    ws = f"{base}/k{n}"
    prepared(ws)
    # Early moments are where the store is written: sample them more.
    delay = uncut * random.random() ** 2
    child = subprocess.Popen([carry, "resolve", "--continue"], cwd=ws, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()
    exported = json.loads(run(ws, "resolutions", "export", "-").stdout)
    hunks = [h for r in exported["resolutions"] for h in r["hunks"]]
    session = os.path.exists(f"{ws}/.carry/resolve/libvirt/hostdev-vf.json")
    if hunks and (len(hunks) != 1 or hunks[0]["resolved"] != LINE):
        fail(f"a partial or wrong resolution after a kill at {delay:.3f}s: {hunks}", ws)
    if not hunks:
        counts["none"] += 1
        if not session:
            fail(f"nothing recorded and the session is gone after a kill at {delay:.3f}s", ws)
        again = run(ws, "resolve", "--continue")
        if "recorded resolution" not in again.stderr:
            fail(f"the second --continue did not record it: {again.stderr[-300:]}", ws)
    else:
        counts["whole"] += 1
        if session:
            # Killed after recording, before the session was dropped: finishing is allowed.
            again = run(ws, "resolve", "--continue")
            if again.returncode not in (0, 3):
                fail(f"finishing after a recorded resolution failed: {again.stderr[-300:]}", ws)
    report = json.loads(run(ws, "run", "--all", "--json").stdout)
    patch = next(p for pr in report["projects"] for p in pr["patches"] if p["id"] == "libvirt/hostdev-vf")
    if patch["outcome"] != "applied" or not patch.get("resolution"):
        fail(f"the next run does not apply it with the resolution: {patch}", ws)
    for project in ["libvirt", "nova"]:
        fsck = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=f"{ws}/repos/{project}",
                              env=ENV, capture_output=True, text=True)
        if fsck.returncode != 0:
            fail(f"git fsck in {project}: {fsck.stderr[-300:]}", ws)
    shutil.rmtree(ws)
print(f"{kills} kills of resolve --continue within {uncut:.2f}s: recorded whole {counts['whole']}, "
      f"not at all {counts['none']}, partly 0; every one finished by the next command")
shutil.rmtree(base, ignore_errors=True)
