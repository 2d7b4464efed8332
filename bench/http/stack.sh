#!/usr/bin/env bash
# Runs inside scripts/with-postgres (DATABASE_URL set): brings up the stack, measures, tears down.
set -euo pipefail
SECONDS_PER=${BENCH_SECONDS:-10}
SAMPLES=${BENCH_SAMPLES:-500}
BIN=$BENCH_BIN
RUN=$(mktemp -d /tmp/conveyor-bench-XXXXXX); chmod 755 "$RUN"; mkdir -p "$RUN/tmp"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$RUN"; }
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)

export CONVEYOR_PROCESSOR_KEY=bench-processor CONVEYOR_ADMIN_KEY=bench-admin
export CONVEYOR_MANIFEST=$PWD/functions.json CONVEYOR_URL=http://127.0.0.1:$PORT
"$BIN/local-host" migrate >/dev/null
export BENCH_TENANT_KEY=$("$BIN/local-host" create-org bench --quiet)
export BENCH_QUEUE=bench-http

"$BIN/fcgi-host" serve --listen "unix:$RUN/fcgi.sock" --batch-listen "unix:$RUN/batch.sock" --socket-mode 0666 2>"$RUN/fcgi.log" &
PIDS+=($!)
for _ in $(seq 1 100); do [ -S "$RUN/fcgi.sock" ] && break; sleep 0.05; done
sed -e "s#127.0.0.1:8080#127.0.0.1:$PORT#" -e "s#127.0.0.1:8081#127.0.0.1:$(free_port)#" \
    -e "s#/run/conveyor/#$RUN/#g" deploy/nginx.conf > "$RUN/site.conf"
cat > "$RUN/nginx.conf" <<NGINX
worker_processes 1;
pid $RUN/nginx.pid;
error_log $RUN/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $RUN/tmp/body; fastcgi_temp_path $RUN/tmp/fastcgi; proxy_temp_path $RUN/tmp/proxy;
    uwsgi_temp_path $RUN/tmp/uwsgi; scgi_temp_path $RUN/tmp/scgi;
    include $RUN/site.conf;
}
NGINX
sed -i 's/^\(\s*\)access_log .*;$/\1access_log off;/' "$RUN/site.conf"
nginx -p "$RUN" -c "$RUN/nginx.conf" -e "$RUN/nginx-error.log" -g 'daemon off;' &
PIDS+=($!)
for _ in $(seq 1 100); do curl -sf "$CONVEYOR_URL/health" >/dev/null 2>&1 && break; sleep 0.1; done

export BENCH_JOB_ID=$(curl -sf -X POST "$CONVEYOR_URL/v1/jobs" -H "x-api-key: $BENCH_TENANT_KEY" -H 'content-type: application/json' \
    -d '{"kind":"noop","queue":"bench-status"}' | sed -E 's/.*"id":([0-9]+).*/\1/')

rps() { # wrk output → requests/s, failing loudly on any non-2xx answer
    local out; out=$(wrk "$@" 2>&1)
    local non2xx; non2xx=$(echo "$out" | sed -n 's/^non2xx=//p')
    if [ -n "$non2xx" ] && [ "$non2xx" != 0 ]; then echo "bench: $non2xx non-2xx answers: $*" >&2; echo "$out" >&2; exit 1; fi
    echo "$out" | awk '/Requests\/sec/ {print $2}'
}
pgbench_insert() { # single-row insert of a job, the database's own ceiling for single enqueue
    cat > "$RUN/insert.sql" <<'SQL'
INSERT INTO conveyor.conveyor_jobs (org_id, queue, kind, payload, max_attempts) VALUES (1, 'bench-pgbench', 'noop', '{"to":"user@example.com","n":42}', 3);
SQL
    /usr/lib/postgresql/15/bin/pgbench -n -f "$RUN/insert.sql" -c "$1" -j 2 -T "$SECONDS_PER" "$DATABASE_URL" 2>/dev/null \
        | awk '/^tps/ {print $3}'
}

echo "bench/http: ${SECONDS_PER}s per measurement, wrk -t2, synchronous_commit=$(psql -tAc 'show synchronous_commit' "$DATABASE_URL"), $(nproc) cores"
printf "%-34s %12s %12s\n" "requests/s" "8 conns" "32 conns"
declare -A R
for c in 8 32; do
    R[static,$c]=$(rps -t2 -c$c -d${SECONDS_PER}s "$CONVEYOR_URL/nginx/ok")
    R[status,$c]=$(rps -t2 -c$c -d${SECONDS_PER}s -s bench/http/status.lua "$CONVEYOR_URL")
    R[enqueue,$c]=$(rps -t2 -c$c -d${SECONDS_PER}s -s bench/http/enqueue.lua "$CONVEYOR_URL/v1/jobs")
    R[pgbench,$c]=$(pgbench_insert $c)
done
for k in static status enqueue pgbench; do
    printf "%-34s %12.0f %12.0f\n" "$k" "${R[$k,8]}" "${R[$k,32]}"
done
for c in 8 32; do
    awk -v e="${R[enqueue,$c]}" -v p="${R[pgbench,$c]}" -v s="${R[status,$c]}" -v n="${R[static,$c]}" -v c=$c 'BEGIN {
        printf "ratio @%-2d enqueue/pgbench-insert %.2f   job-status/nginx-static %.2f   enqueue/nginx-static %.2f\n", c, e/p, s/n, e/n }'
done

# Group commit at work: requests answered together with others, of all the pool accepted.
curl -sf "$CONVEYOR_URL/v1/pool/status" -H "x-api-key: $CONVEYOR_ADMIN_KEY" | /usr/bin/python3 -c '
import json, sys; s = json.load(sys.stdin)
print("requests answered in a group: %d of %d accepted (%.0f%%)" % (s["groupedRequests"], s["acceptedRequests"], 100.0 * s["groupedRequests"] / max(1, s["acceptedRequests"])))'

# Drain through nginx: two callers POSTing process-batch until it claims nothing, against the
# same drain in process (local-host, the same code without nginx and FastCGI) in this run.
psql -qc "DELETE FROM conveyor.conveyor_jobs WHERE queue IN ('bench-http', 'bench-pgbench')" "$DATABASE_URL"
/usr/bin/python3 - > "$RUN/batch.json" <<'PY'
import json; print(json.dumps({"jobs": [{"kind": "noop", "queue": "bench-drain", "payload": {"to": "user@example.com", "n": 42}}] * 1000}))
PY
DRAIN_JOBS=${BENCH_DRAIN_JOBS:-50000}
fill() { for _ in $(seq 1 $((DRAIN_JOBS / 1000))); do "$BIN/local-host" invoke enqueue --key-from-env BENCH_TENANT_KEY < "$RUN/batch.json" >/dev/null 2>&1; done
         psql -qc "VACUUM ANALYZE conveyor.conveyor_jobs" "$DATABASE_URL"; }
inprocess() { # N concurrent local-host loops → jobs/s
    local start end; start=$(date +%s.%N)
    for _ in $(seq 1 "$1"); do
        ( while "$BIN/local-host" invoke process-batch --key-from-env CONVEYOR_PROCESSOR_KEY \
              --body '{"queues":["bench-drain"],"maxJobs":10000,"maxSeconds":50}' 2>/dev/null | grep -qv '"claimed":0,'; do :; done ) &
    done
    wait; end=$(date +%s.%N)
    awk -v n="$DRAIN_JOBS" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / (e - s) }'
}
fill; D_IN1=$(inprocess 1)
fill; D_IN2=$(inprocess 2)
fill; D_NGINX=$(/usr/bin/python3 bench/http/drain.py --url "$CONVEYOR_URL" --key "$CONVEYOR_PROCESSOR_KEY" --queue bench-drain --jobs "$DRAIN_JOBS" --callers 2)
printf "%-52s %10s jobs/s\n" "noop drain in process, 1 invocation at a time" "$D_IN1"
printf "%-52s %10s jobs/s\n" "noop drain in process, 2 invocations at a time" "$D_IN2"
printf "%-52s %10s jobs/s\n" "noop drain through nginx, 2 callers" "$D_NGINX"
awk -v n="$D_NGINX" -v a="$D_IN1" -v b="$D_IN2" 'BEGIN { printf "ratio nginx (2 callers)/in process: %.2f against 1 invocation, %.2f against 2\n", n/a, n/b }'

# Pickup latency, clocked where the user sees it: the client's send to the job's own code, with
# cron-driver watch (its default long poll) alone triggering processing. At idle (beside nginx's
# own static answer at the same pace, the floor of any request here), under a steady background
# load of enqueues into another queue, and beside a slow queue whose 16 jobs of 25 s occupy half
# of the long poll's slots.
"$BIN/cron-driver" watch 2>"$RUN/watch.log" &
PIDS+=($!)
sleep 1
/usr/bin/python3 bench/http/pickup.py --url "$CONVEYOR_URL" --key "$BENCH_TENANT_KEY" --queue bench-pickup \
    --samples "$SAMPLES" --label idle --floor-path /nginx/ok --floor-insert --database-url "$DATABASE_URL"
# The same, enqueued by the application's own statement (conveyor.enqueue, committing at once).
BENCH_ORG_ID=$(psql -tAc "SELECT max(id) FROM conveyor.conveyor_organizations" "$DATABASE_URL")
"$(scripts/python-env)" bench/http/pickup.py --url "$CONVEYOR_URL" --key "$BENCH_TENANT_KEY" --queue bench-pickup-sql \
    --samples "$SAMPLES" --label "SQL enqueue, idle" --sql-org "$BENCH_ORG_ID" --database-url "$DATABASE_URL"
/usr/bin/python3 bench/http/pickup.py --url "$CONVEYOR_URL" --key "$BENCH_TENANT_KEY" --queue bench-pickup-load \
    --samples "$SAMPLES" --label "under 200 enqueues/s" --load-rate 200 --database-url "$DATABASE_URL"
/usr/bin/python3 - > "$RUN/slow.json" <<'PY'
import json; print(json.dumps({"jobs": [{"kind": "sleep", "queue": "bench-slow", "payload": {"ms": 25000}}] * 16}))
PY
curl -sf -X POST "$CONVEYOR_URL/v1/jobs" -H "x-api-key: $BENCH_TENANT_KEY" -H 'content-type: application/json' --data-binary @"$RUN/slow.json" >/dev/null
sleep 0.5
/usr/bin/python3 bench/http/pickup.py --url "$CONVEYOR_URL" --key "$BENCH_TENANT_KEY" --queue bench-pickup-slow \
    --samples "$SAMPLES" --label "beside a slow queue" --database-url "$DATABASE_URL"

# Idle RSS of each worker after all of the above.
sleep 2
pool=$(curl -sf "$CONVEYOR_URL/v1/pool/status" -H "x-api-key: $CONVEYOR_ADMIN_KEY")
for pid in $(echo "$pool" | grep -oE '"pid":[0-9]+' | cut -d: -f2); do
    [ -r /proc/$pid/status ] && awk -v p=$pid '/VmRSS/ {printf "idle RSS worker %s: %.1f MiB\n", p, $2/1024}' /proc/$pid/status
done
