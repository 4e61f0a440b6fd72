"""Shared by the real-history benches: a scenario's carried commits without the lines that name
their upstream commit.

A backport that names its original (`(cherry picked from commit X)`, `[ upstream commit X ]`,
`commit X upstream.`, its `Change-Id:`) is landed by reference; without the name, the adapted
backports are the real conflicts a downstream carries.
"""
import os, re, subprocess, sys

NAMING = re.compile(
    r"^\s*(\(cherry picked from commit [0-9a-f]+\)|\[ upstream commit [0-9a-f]+ \]"
    r"|commit [0-9a-f]{12,} upstream\.|Change-Id: I[0-9a-f]+)\s*$", re.I | re.M)


def _git(repo, *args, **kwargs):
    r = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, **kwargs)
    if r.returncode != 0:
        sys.exit(f"git {' '.join(args)}: {r.stderr[-500:]}")
    return r.stdout


def strip_references(scenario, dest):
    """A bare clone of `scenario` at `dest` whose `carried` commits lost their naming lines
    (authors, dates and trees kept); returns `dest`."""
    subprocess.run(["git", "clone", "-q", "--bare", "--shared", scenario, dest], check=True)
    tip = _git(dest, "rev-parse", "upstream-old^{commit}").strip()
    for commit in _git(dest, "rev-list", "--reverse", "upstream-old..carried").split():
        fields = _git(dest, "log", "-1", "--format=%an%x00%ae%x00%ad%x00%cn%x00%ce%x00%cd%x00%T",
                      commit).rstrip("\n").split("\0")
        message = NAMING.sub("", _git(dest, "log", "-1", "--format=%B", commit))
        env = dict(os.environ, GIT_AUTHOR_NAME=fields[0], GIT_AUTHOR_EMAIL=fields[1],
                   GIT_AUTHOR_DATE=fields[2], GIT_COMMITTER_NAME=fields[3],
                   GIT_COMMITTER_EMAIL=fields[4], GIT_COMMITTER_DATE=fields[5])
        tip = _git(dest, "commit-tree", fields[6], "-p", tip, input=message, env=env).strip()
    _git(dest, "update-ref", "refs/heads/carried", tip)
    return dest
