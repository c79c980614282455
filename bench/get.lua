-- wrk script for bench/run.sh: the lookup `status` makes (GET /v1/messages/{id}, with the
-- same key header), to time the sandbox's own answer per lookup. The id is one the sandbox
-- does not know, as in the status benchmark, so every answer is a 404.
wrk.method = "GET"
wrk.path = "/v1/messages/msg_00000000000000000000000000"
wrk.headers["x-api-key"] = os.getenv("PILOT_STATUS_API_KEY")

function done(summary, latency, requests)
  io.write(string.format("requests=%d duration_us=%d errors=%d\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
