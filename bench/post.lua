-- wrk script for bench/run.sh: POST the JSON body campaign-sender sends (read from the
-- file in $BENCH_BODY) with the same headers, and stop each thread after $BENCH_MAX
-- responses, so a run is bounded in count as well as by wrk's -d duration.
local f = assert(io.open(os.getenv("BENCH_BODY"), "r"))
wrk.method = "POST"
wrk.path = "/v1/messages/send"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = os.getenv("PILOT_STATUS_API_KEY")

local max = tonumber(os.getenv("BENCH_MAX") or "100000")
local seen = 0
local bad = 0

function response(status, headers, body)
  seen = seen + 1
  if status ~= 202 then bad = bad + 1 end
  if seen >= max then wrk.thread:stop() end
end

function done(summary, latency, requests)
  io.write(string.format("requests=%d duration_us=%d non2xx=%d errors=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
