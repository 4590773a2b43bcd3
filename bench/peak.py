#!/usr/bin/env python3
"""Runs a command and reports its wall time, peak memory and peak open file
descriptors (for bench/fleet_reads.sh), on one line:

    wall_ms=812.3 maxrss_kb=14336 peak_fds=41 peak_threads=3 user_ms=350 sys_ms=120 exit=0

peak_fds and peak_threads are sampled from /proc every INTERVAL ms (default
2), so a peak shorter than that can be missed; maxrss_kb is the kernel's
exact high-water mark (getrusage of the waited child, as /usr/bin/time -v
reports it). The command's stdout and stderr go to --out.

    peak.py [--interval MS] [--out FILE] -- COMMAND [ARG...]
"""

import argparse
import os
import resource
import subprocess
import sys
import time


def count(pid):
    """Open descriptors and threads of pid, or None once it has exited."""
    try:
        fds = len(os.listdir("/proc/%d/fd" % pid))
        threads = len(os.listdir("/proc/%d/task" % pid))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return fds, threads


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--interval", type=float, default=2.0, help="sampling interval, ms")
    p.add_argument("--out", default=os.devnull, help="the command's stdout and stderr")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        p.error("no command")
    with open(args.out, "wb") as out:
        start = time.monotonic()
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        peak_fds = peak_threads = 0
        while child.poll() is None:
            seen = count(child.pid)
            if seen:
                peak_fds, peak_threads = max(peak_fds, seen[0]), max(peak_threads, seen[1])
            time.sleep(args.interval / 1000)
        wall = time.monotonic() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("wall_ms=%.1f maxrss_kb=%d peak_fds=%d peak_threads=%d user_ms=%d sys_ms=%d exit=%d" % (
        wall * 1000, usage.ru_maxrss, peak_fds, peak_threads, usage.ru_utime * 1000,
        usage.ru_stime * 1000, child.returncode))
    sys.exit(0)


if __name__ == "__main__":
    main()
