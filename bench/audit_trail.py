#!/usr/bin/env python3
"""Benchmark: pgacct's audit trail at one million records.

Fills a fresh registry's audit trail with 1,000,000 hash-chained records
(500,000 operations over the last 30 days, 2,000 roles), then times
`audit show --user X --since 7d`, a few other filters, and `audit verify`
with the release binary. The records are written directly, with the same
canonical form and hash chain as pgacct (src/audit/chain.rs), so a passing
`audit verify` also checks that form.

    python3 bench/audit_trail.py [--records N] [--runs R]
"""

import argparse
import hashlib
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

GENESIS = "0" * 64
VERSION = "pgacct-audit-v1"
COLUMNS = ("id, ts, outcome, started_id, actor, host, pid, ci_job, ticket, operation, env, db, "
           "cluster, role, status, error, duration_ms, sql, prev_hash, hash")


def canonical(record):
    return json.dumps([VERSION] + list(record), separators=(",", ":"), ensure_ascii=False)


def fill(path, records):
    rng = random.Random(7)
    now = datetime.now(timezone.utc)
    start = now - timedelta(days=30)
    step = (now - start) / records
    envs = ["dev", "qa", "uat", "prod", "perf"]
    roles = [f"user_{i:04d}" for i in range(2000)]
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    prev, rows = GENESIS, []
    started = None
    for i in range(1, records + 1):
        ts = (start + step * i).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        if i % 2:
            role = rng.choice(roles)
            env = rng.choice(envs)
            db = f"db{rng.randrange(50):02d}"
            subject = (f"user.create", env, db, f"{env}-pg{rng.randrange(5)}:5432", role)
            record = (i, ts, "started", None, "alice", "bastion", 4242, None, "CHG-1", *subject,
                      "create user", None, None, None)
            started = (i, subject)
        else:
            failed = rng.random() < 0.01
            record = (i, ts, "failed" if failed else "ok", started[0], "alice", "bastion", 4242,
                      None, "CHG-1", *started[1], "create user" if failed else "user created",
                      "permission denied" if failed else None, rng.randrange(5, 80),
                      'CREATE ROLE "x" LOGIN PASSWORD <redacted>')
        digest = hashlib.sha256((prev + canonical(record)).encode()).hexdigest()
        rows.append(record + (prev, digest))
        prev = digest
        if len(rows) == 50_000:
            conn.executemany(f"INSERT INTO audit ({COLUMNS}) VALUES ({','.join('?' * 20)})", rows)
            rows.clear()
    conn.executemany(f"INSERT INTO audit ({COLUMNS}) VALUES ({','.join('?' * 20)})", rows)
    conn.commit()
    conn.close()


def timed(cmd, env, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if out.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed: {out.stderr}")
    return statistics.median(times), out.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=root, check=True)
    pgacct = os.path.join(root, "target", "release", "pgacct")
    work = tempfile.mkdtemp(prefix="pgacct-bench-")
    registry = os.path.join(work, "registry.db")
    env = dict(os.environ, PGACCT_REGISTRY=registry)
    # Let pgacct create the file and its schema.
    subprocess.run([pgacct, "-q", "registry", "add", "--env", "bench", "--db", "x", "--host", "h"],
                   env=env, check=True)
    conn = sqlite3.connect(registry)
    conn.execute("DROP TRIGGER audit_no_delete")
    conn.execute("DELETE FROM audit")
    conn.execute("CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
                 "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END")
    conn.commit()
    conn.close()

    t0 = time.perf_counter()
    fill(registry, args.records)
    print(f"filled {args.records:,} records in {time.perf_counter() - t0:.1f} s "
          f"({os.path.getsize(registry) / 2**20:.0f} MiB)")

    cases = [
        ["audit", "show", "--user", "user_0042", "--since", "7d"],
        ["audit", "show", "--user", "user_0042", "--since", "7d", "--limit", "0"],
        ["audit", "show", "--env", "prod", "--db", "db07", "--since", "24h"],
        ["audit", "show", "--failed"],
        ["audit", "show", "--since", "7d"],
        ["audit", "show", "--incomplete"],
        ["audit", "verify"],
    ]
    for case in cases:
        median, out = timed([pgacct, *case, "--format", "json"], env,
                            1 if case[1] == "verify" else args.runs)
        rows = json.loads(out)
        size = rows["records"] if isinstance(rows, dict) else len(rows)
        what = "records verified" if isinstance(rows, dict) else "rows"
        print(f"{median * 1000:8.1f} ms  pgacct {' '.join(case)}  ({size:,} {what})")
        if isinstance(rows, dict) and not rows["intact"]:
            sys.exit(f"the chain does not verify: {rows}")


if __name__ == "__main__":
    main()
