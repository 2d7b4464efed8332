-- wrk: job-status of one existing job.
wrk.method = "GET"
wrk.headers["x-api-key"] = os.getenv("BENCH_TENANT_KEY")
wrk.path = "/v1/jobs/" .. os.getenv("BENCH_JOB_ID")
done = function(summary, latency, requests)
    io.write(string.format("non2xx=%d\n", summary.errors.status))
end
