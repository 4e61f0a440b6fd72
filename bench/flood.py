#!/usr/bin/env python3
"""Holds a flood of idle connections open against a server: each connects and sends
nothing; when the server closes one, another takes its place.

    python3 bench/flood.py HOST:PORT [--connections N] [--seconds S]

Prints, at the end, how many connections were opened in all and how many the server closed.
"""
import argparse, resource, selectors, socket, time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("address")
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=60)
    a = ap.parse_args()
    host, port = a.address.rsplit(":", 1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    want = min(a.connections, hard - 64)
    selector = selectors.DefaultSelector()
    opened = closed = failed = 0
    live = 0
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        while live < want and time.monotonic() < end:
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect_ex((host, int(port)))
                selector.register(s, selectors.EVENT_READ)
                opened += 1
                live += 1
            except OSError:
                failed += 1
                s.close()
                break
        for key, _ in selector.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(1024)
            except OSError:
                data = b""
            if not data:
                selector.unregister(s)
                s.close()
                closed += 1
                live -= 1
    print(f"flood: {opened} idle connections opened ({want} at a time), {closed} closed by the server, {failed} failed to open")


if __name__ == "__main__":
    main()
