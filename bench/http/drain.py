#!/usr/bin/python3
"""Drains a queue through nginx: N callers, each on a kept-alive connection, POST process-batch
until a call claims nothing. Prints jobs/s over the whole drain, and fails loudly on any answer
that is not 200 (a fast stream of errors must never pass for throughput).

Usage: drain.py --url URL --key PROCESSOR_KEY --queue QUEUE --jobs N --callers C
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--jobs", type=int, required=True)
    p.add_argument("--callers", type=int, default=2)
    p.add_argument("--max-jobs", type=int, default=10000)
    a = p.parse_args()
    u = urllib.parse.urlparse(a.url)
    body = json.dumps({"queues": [a.queue], "maxJobs": a.max_jobs, "maxSeconds": 50}).encode()
    headers = {"content-type": "application/json", "x-api-key": a.key}
    claimed = [0] * a.callers
    errors = []

    def caller(n):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        while True:
            conn.request("POST", "/v1/process-batch", body=body, headers=headers)
            r = conn.getresponse()
            answer = r.read()
            if r.status != 200:
                errors.append(f"HTTP {r.status}: {answer[:200]!r}")
                return
            got = json.loads(answer)["claimed"]
            claimed[n] += got
            if got == 0:
                return

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(a.callers)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - start
    if errors:
        print(f"drain.py: {len(errors)} failed calls, first: {errors[0]}", file=sys.stderr)
        return 1
    if sum(claimed) != a.jobs:
        print(f"drain.py: claimed {sum(claimed)} of {a.jobs}", file=sys.stderr)
        return 1
    print(f"{a.jobs / seconds:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
