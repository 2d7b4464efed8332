-- wrk: single-job enqueue. The key and queue come from the environment.
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("BENCH_TENANT_KEY")
wrk.body = '{"kind":"noop","queue":"' .. os.getenv("BENCH_QUEUE") .. '","payload":{"to":"user@example.com","n":42}}'

-- Count non-2xx answers so a fast stream of errors is never mistaken for throughput.
local bad = 0
response = function(status, headers, body)
    if status < 200 or status > 299 then bad = bad + 1 end
end
done = function(summary, latency, requests)
    io.write(string.format("non2xx=%d\n", summary.errors.status))
end
