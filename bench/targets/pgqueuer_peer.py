#!/usr/bin/env python3
"""The peer of bench/targets: pgqueuer with an aiohttp worker, delivering the same signed POSTs
to the same endpoint, measured the same way (first enqueue to last job done).

Usage: pgqueuer_peer.py URL JOBS [CONCURRENCY]   (DATABASE_URL in the environment)
Prints one line: "pgqueuer: N of JOBS delivered (F failed) in S s: R jobs/s".
Enqueues in batches of 1,000 (one call each, as the Swift side does), then runs one
QueueManager in drain mode with the entrypoint's concurrency limit, one aiohttp session
(keep-alive, CONCURRENCY connections). Each delivery carries webhook-id, webhook-timestamp and
an HMAC-SHA256 webhook-signature, as Conveyor's do.
"""
import asyncio
import base64
import hashlib
import hmac
import os
import sys
import time

import aiohttp
import asyncpg
from pgqueuer import AsyncpgDriver, QueueManager, Queries
from pgqueuer.types import QueueExecutionMode

KEY = os.urandom(32)


async def main():
    url, total = sys.argv[1], int(sys.argv[2])
    concurrency = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    dsn = os.environ["DATABASE_URL"]
    setup = await asyncpg.connect(dsn)
    queries = Queries(AsyncpgDriver(setup))
    if not await queries.schema_is_installed():
        await queries.install()
    await queries.clear_queue()

    payload = b'{"image":"https://img.example/a.png","width":200}'
    done = failed = 0
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
    connection = await asyncpg.connect(dsn)
    qm = QueueManager(Queries(AsyncpgDriver(connection)))

    @qm.entrypoint("deliver", concurrency_limit=concurrency)
    async def deliver(job):
        nonlocal done, failed
        msg_id, stamp = f"job_{job.id}", str(int(time.time()))
        mac = hmac.new(KEY, f"{msg_id}.{stamp}.".encode() + job.payload, hashlib.sha256).digest()
        headers = {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": stamp,
                   "webhook-signature": "v1," + base64.b64encode(mac).decode()}
        async with session.post(url, data=job.payload, headers=headers) as response:
            await response.read()
            if 200 <= response.status < 300:
                done += 1
            else:
                failed += 1

    start = time.monotonic()
    for first in range(0, total, 1000):
        n = min(1000, total - first)
        await queries.enqueue(["deliver"] * n, [payload] * n, [0] * n)
    await qm.run(mode=QueueExecutionMode.drain, batch_size=1000, max_concurrent_tasks=2000)
    seconds = time.monotonic() - start
    await session.close()
    await connection.close()
    await setup.close()
    print(f"pgqueuer: {done} of {total} delivered ({failed} failed) in {seconds:.2f} s: {done / seconds:.0f} jobs/s")


asyncio.run(main())
