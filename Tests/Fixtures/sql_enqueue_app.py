"""An application enqueueing through Conveyor's SQL function in its own transactions, with psycopg.

Usage: sql_enqueue_app.py APP_DSN STRANGER_DSN ORG_ID QUEUE ORDERS_TABLE
Prints one JSON object: the job ids it got, when the committing transaction returned
(CLOCK_MONOTONIC ns), and the SQLSTATE (and error column) of each refusal it met.
"""
import json
import sys
import time

import psycopg
from psycopg import errors, sql

app_dsn, stranger_dsn, org, queue, orders = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
out = {}
table = sql.Identifier(orders)

with psycopg.connect(app_dsn) as conn:
    # An order and its job in one transaction that rolls back: neither may exist afterwards.
    try:
        with conn.transaction():
            conn.execute(sql.SQL("INSERT INTO {} (note) VALUES ('rolled back')").format(table))
            out["rolledBack"] = conn.execute(
                "SELECT conveyor.enqueue(%s, 'noop', %s::jsonb, queue => %s)", (org, json.dumps({"order": "rolled back"}), queue)
            ).fetchone()[0]
            raise psycopg.Rollback()
    except psycopg.Rollback:
        pass
    # A job is only visible to others, and announced to the watcher, when the transaction commits:
    # hold the transaction open a moment to show the watcher does not run it early.
    with conn.transaction():
        conn.execute(sql.SQL("INSERT INTO {} (note) VALUES ('committed')").format(table))
        out["committed"] = conn.execute(
            "SELECT conveyor.enqueue(%s, 'sleep', %s::jsonb, queue => %s)", (org, json.dumps({"order": "committed"}), queue)
        ).fetchone()[0]
        time.sleep(0.5)
        out["beforeCommitNs"] = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    out["committedAtNs"] = time.clock_gettime_ns(time.CLOCK_MONOTONIC)

    try:
        conn.execute("SELECT conveyor.enqueue(%s, 'resize-image')", (org,))
    except errors.InvalidParameterValue as e:
        out["unknownKind"] = {"sqlstate": e.sqlstate, "column": e.diag.column_name, "message": e.diag.message_primary}
    conn.rollback()
    try:
        conn.execute("SELECT count(*) FROM conveyor.conveyor_jobs")
        out["appReadsJobs"] = "allowed"
    except errors.InsufficientPrivilege as e:
        out["appReadsJobs"] = e.sqlstate
    conn.rollback()
    # The batch variant, and the view a member of conveyor_reader may read.
    out["batch"] = [r[0] for r in conn.execute(
        "SELECT * FROM conveyor.enqueue_many(%s, %s::jsonb)", (org, json.dumps([{"kind": "noop", "queue": queue + "-batch"}] * 2))).fetchall()]
    conn.commit()
    out["viewState"] = conn.execute("SELECT state FROM conveyor.job_results WHERE id = %s", (out["batch"][0],)).fetchone()[0]
    conn.rollback()

with psycopg.connect(stranger_dsn) as conn:
    for name, statement in [("stranger", "SELECT conveyor.enqueue(%s, 'noop', '{}'::jsonb, queue => %s)"),
                            ("strangerBatch", "SELECT * FROM conveyor.enqueue_many(%s, '[{\"kind\": \"noop\"}]'::jsonb) WHERE %s IS NOT NULL"),
                            ("strangerView", "SELECT count(*) FROM conveyor.job_results WHERE org_id = %s AND %s IS NOT NULL")]:
        try:
            conn.execute(statement, (org, queue))
            out[name] = "allowed"
        except errors.InsufficientPrivilege as e:
            out[name] = e.sqlstate
        conn.rollback()

print(json.dumps(out))
