#!/usr/bin/env python3
"""Writes a `git fast-import` stream for the rebase benchmark.

A tree of FILES files, MODS/SUBS/... deep like a real code base; an upstream line of
UPSTREAM commits on top of `base`, each changing one to three files; a series of SERIES
patches on `base`. Most patches touch files upstream leaves alone, some touch files upstream
changed elsewhere (a real three-way merge), and LANDED of them upstream also takes, verbatim.
Deterministic: the same arguments give the same repository.
"""
import random
import sys

FILES = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
UPSTREAM = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
SERIES = int(sys.argv[3]) if len(sys.argv) > 3 else 200
LANDED = int(sys.argv[4]) if len(sys.argv) > 4 else 10
LINES = 24

rng = random.Random(1)
out = sys.stdout.buffer
mark = 0
when = 1_700_000_000


def next_mark():
    global mark
    mark += 1
    return mark


def path(i):
    # drivers/net/ethernet/vendorN/componentM/fileK.c: depth 5, about 50 files a directory
    return f"drivers/sub{i % 10}/area{(i // 10) % 10}/vendor{(i // 100) % 10}/mod{(i // 1000) % 50}/file{i}.c"


def content(i, changes):
    lines = [f"/* {path(i)} line {n} */ int v{i}_{n} = {n};" for n in range(LINES)]
    for line, text in changes:
        lines[line] = text
    return ("\n".join(lines) + "\n").encode()


state = {}  # file -> list of (line, text) changes on the branch being built


def commit(ref, message, files, parent_mark=None, from_ref=None):
    global when
    when += 60
    m = next_mark()
    out.write(f"commit {ref}\nmark :{m}\n".encode())
    out.write(f"author Ada Upstream <ada@example.org> {when} +0000\n".encode())
    out.write(f"committer Ada Upstream <ada@example.org> {when} +0000\n".encode())
    msg = message.encode()
    out.write(b"data %d\n%s\n" % (len(msg), msg))
    if parent_mark is not None:
        out.write(f"from :{parent_mark}\n".encode())
    for i, changes in files:
        data = content(i, changes)
        out.write(f"M 100644 inline {path(i)}\n".encode())
        out.write(b"data %d\n%s\n" % (len(data), data))
    return m


base = commit("refs/heads/base", "base: import", [(i, []) for i in range(FILES)])
out.write(b"reset refs/tags/base\nfrom :%d\n\n" % base)

# Series patches: the first third share files with upstream (different lines), the rest
# touch files upstream never touches. LANDED patches are later taken by upstream verbatim.
upstream_files = [rng.randrange(FILES) for _ in range(UPSTREAM * 2)]
upstream_set = set(upstream_files)
quiet_files = [i for i in rng.sample(range(FILES), SERIES * 3) if i not in upstream_set]
patches = []
for n in range(SERIES):
    if n < SERIES // 3:
        f = upstream_files[n * 7 % len(upstream_files)]
        changes = [(2, f"/* carried {n} */ int carried_{n} = {n};")]
    else:
        f = quiet_files[n]
        changes = [(5, f"/* carried {n} */ int carried_{n} = {n};")]
    patches.append((f, changes))

series_state = {}
parent = base
for n, (f, changes) in enumerate(patches):
    series_state[f] = series_state.get(f, []) + changes
    parent = commit("refs/heads/series", f"carried: patch {n}\n\nSigned-off-by: Ada <ada@example.org>", [(f, series_state[f])], parent)

landed = set(rng.sample(range(SERIES // 3, SERIES), LANDED))
upstream_state = {}
parent = base
landed_at = {rng.randrange(UPSTREAM): n for n in landed}
for n in range(UPSTREAM):
    if n in landed_at:
        p = landed_at[n]
        f, changes = patches[p]
        upstream_state[f] = upstream_state.get(f, []) + changes
        parent = commit("refs/heads/upstream", f"carried: patch {p}\n\nSigned-off-by: Ada <ada@example.org>", [(f, upstream_state[f])], parent)
        continue
    touched = []
    for k in range(1 + n % 3):
        f = upstream_files[(n * 2 + k) % len(upstream_files)]
        upstream_state[f] = upstream_state.get(f, []) + [(18 + k, f"/* upstream {n} */ int up_{n}_{k} = {n};")]
        touched.append((f, upstream_state[f]))
    parent = commit("refs/heads/upstream", f"upstream: change {n}", touched, parent)
out.write(b"done\n")
