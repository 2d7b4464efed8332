#!/usr/bin/python3
"""Pickup latency as a user sees it: from the moment the client starts its enqueue request
(through nginx, on a kept-alive connection) to the moment the job's own code starts.

Both ends read CLOCK_MONOTONIC, which is system-wide on Linux: the client before it sends, the
`sleep` job kind when its code begins (its result's startedNs). Samples are spaced out so each
is picked up on its own; a sample whose job has not started within --wait seconds counts as
failed, and failed samples are reported, never dropped.

With --load-rate R a thread of its own enqueues noop jobs (another queue, its own connection)
at R per second for the whole run: the latency under a background load of enqueues.

With --floor-path P (nginx's own static answer) the same client, on the same connection and with
the same spacing, first times GETs of P: the floor any HTTP request pays on this machine at this
pace (a machine that idles between requests wakes slowly), printed beside the latency. With
--floor-insert, pgbench then times a durable one-row INSERT at the same pace: the floor of any
enqueue's commit. Together they are what an enqueue through nginx cannot go below here.

With --sql-org ORG the enqueue is the application's own: `SELECT conveyor.enqueue(ORG, …)` in a
committing statement on a kept psycopg connection (the client's send is before the statement, the
job exists at its commit), instead of a POST through nginx. Needs psycopg (scripts/python-env).

Usage: pickup.py --url URL --key TENANT_KEY --queue QUEUE --samples N --label LABEL --database-url DB
                 [--load-rate R --load-queue Q] [--sql-org ORG]
"""
import argparse
import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.parse


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--gap", type=float, default=0.02, help="seconds between samples")
    p.add_argument("--wait", type=float, default=10.0)
    p.add_argument("--label", default="idle")
    p.add_argument("--database-url", required=True)
    p.add_argument("--load-rate", type=float, default=0)
    p.add_argument("--load-queue", default="bench-load")
    p.add_argument("--floor-path")
    p.add_argument("--floor-insert", action="store_true")
    p.add_argument("--sql-org", type=int)
    a = p.parse_args()
    stop = threading.Event()
    loaded = [0, 0]
    if a.load_rate > 0:
        threading.Thread(target=load, args=(a, stop, loaded), daemon=True).start()
        time.sleep(0.5)

    u = urllib.parse.urlparse(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    floor = []
    if a.floor_path:
        for _ in range(a.samples):
            t0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            conn.request("GET", a.floor_path)
            conn.getresponse().read()
            floor.append((time.clock_gettime_ns(time.CLOCK_MONOTONIC) - t0) / 1e6)
            time.sleep(a.gap)
        floor.sort()
    body = json.dumps({"kind": "sleep", "queue": a.queue, "payload": {"ms": 0}}).encode()
    headers = {"content-type": "application/json", "x-api-key": a.key}
    sent = {}
    answered = {}
    failures = 0
    db = None
    if a.sql_org is not None:
        import psycopg
        db = psycopg.connect(a.database_url, autocommit=True)
        db.execute("SELECT conveyor.enqueue(%s, 'noop', queue => %s)", (a.sql_org, a.queue + "-warm"))  # plans made
    for _ in range(a.samples):
        started = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        try:
            if db is not None:
                job = db.execute("SELECT conveyor.enqueue(%s, 'sleep', '{\"ms\": 0}'::jsonb, queue => %s)", (a.sql_org, a.queue)).fetchone()[0]
                sent[job] = started
                answered[job] = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                time.sleep(a.gap)
                continue
            conn.request("POST", "/v1/jobs", body=body, headers=headers)
            r = conn.getresponse()
            answer = r.read()
            if r.status != 201:
                failures += 1
            else:
                job = json.loads(answer)["id"]
                sent[job] = started
                answered[job] = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        except Exception:
            failures += 1
            if db is not None:
                db = psycopg.connect(a.database_url, autocommit=True)
            else:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        time.sleep(a.gap)

    # Every job's start, read once at the end so no polling competes with the pickups.
    deadline = time.time() + a.wait
    started_at = {}
    while time.time() < deadline:
        ids = ",".join(str(i) for i in sent)
        out = subprocess.run(["psql", "-tA", "-F", " ", a.database_url, "-c",
                              f"SELECT id, result->>'startedNs' FROM conveyor.conveyor_jobs WHERE id IN ({ids}) AND state = 'completed'"],
                             capture_output=True, text=True, check=True).stdout
        started_at = {int(i): int(ns) for i, ns in (line.split() for line in out.splitlines() if line.strip())}
        if len(started_at) == len(sent):
            break
        time.sleep(0.2)
    stop.set()
    latencies = sorted((started_at[i] - t0) / 1e6 for i, t0 in sent.items() if i in started_at)
    missing = len(sent) - len(latencies)
    def pct(q, values=None):
        values = latencies if values is None else values
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")
    # Where the time goes: the enqueue's own round trip, and its answer to the job's start.
    rtt = sorted((answered[i] - t0) / 1e6 for i, t0 in sent.items())
    after = sorted((started_at[i] - answered[i]) / 1e6 for i in sent if i in started_at)
    print(f"pickup latency ({a.label}), client send -> job code start, {a.samples} samples: "
          f"p50 {pct(0.5):.2f} ms, p99 {pct(0.99):.2f} ms, max {latencies[-1] if latencies else float('nan'):.2f} ms; "
          f"failed {failures}, not started within {a.wait:.0f} s {missing}"
          + (f"; background enqueues {loaded[0]} ({loaded[1]} failed)" if a.load_rate > 0 else ""))
    print(f"  of which: enqueue round trip p50 {pct(0.5, rtt):.2f} ms, p99 {pct(0.99, rtt):.2f} ms; "
          f"answer -> job start p50 {pct(0.5, after):.2f} ms, p99 {pct(0.99, after):.2f} ms")
    if floor:
        print(f"  floor: GET {a.floor_path} (nginx alone) at the same pace p50 {pct(0.5, floor):.2f} ms, p99 {pct(0.99, floor):.2f} ms")
    if a.floor_insert:
        inserts = insert_floor(a)
        print(f"  floor: pgbench one-row INSERT, synchronous commit, at the same pace p50 {pct(0.5, inserts):.2f} ms, "
              f"p99 {pct(0.99, inserts):.2f} ms")
    return 0


def insert_floor(a):
    """Latencies (ms, sorted) of pgbench inserting one row per transaction, a.samples of them at
    the pace of the samples above."""
    import glob, os, tempfile
    work = tempfile.mkdtemp()
    script = os.path.join(work, "insert.sql")
    open(script, "w").write("INSERT INTO bench_floor (at) VALUES (now());\n")
    subprocess.run(["psql", "-qc", "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, at timestamptz)", a.database_url],
                   check=True, capture_output=True)
    rate = max(1, int(1 / (a.gap + 0.003)))
    subprocess.run(["pgbench", "-n", "-c1", "-t", str(a.samples), "-R", str(rate), "-M", "prepared", "-f", script, "-l",
                    "--log-prefix", os.path.join(work, "log"), a.database_url], check=True, capture_output=True, cwd=work)
    values = []
    for path in glob.glob(os.path.join(work, "log*")):
        for line in open(path):
            fields = line.split()
            values.append(int(fields[2]) / 1000)
    subprocess.run(["psql", "-qc", "DROP TABLE bench_floor", a.database_url], check=True, capture_output=True)
    return sorted(values)


def load(a, stop, counts):
    """Enqueues noops at a steady rate until stopped: counts[0] sent, counts[1] failed."""
    u = urllib.parse.urlparse(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    body = json.dumps({"kind": "noop", "queue": a.load_queue, "payload": {"n": 1}}).encode()
    headers = {"content-type": "application/json", "x-api-key": a.key}
    interval = 1.0 / a.load_rate
    next_at = time.monotonic()
    while not stop.is_set():
        try:
            conn.request("POST", "/v1/jobs", body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            counts[0] += 1
            if r.status != 201:
                counts[1] += 1
        except Exception:
            counts[1] += 1
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        next_at += interval
        time.sleep(max(0, next_at - time.monotonic()))


if __name__ == "__main__":
    sys.exit(main())
