-- xff.lua: wrk script: every request comes from the next client address of
-- the list (sent as X-Forwarded-For by a trusted loopback proxy).
local addrs = {}
local path = os.getenv("WSB_BENCH_ADDRS") or "addresses.txt"
for line in io.lines(path) do
  if #line > 0 then addrs[#addrs + 1] = line end
end
local reqs = {}
local target = os.getenv("WSB_BENCH_PATH") or "/v1/websocket/server"
-- Built in init(), once wrk has set the Host header from the URL.
init = function(args)
  for i, a in ipairs(addrs) do
    reqs[i] = wrk.format("GET", target, { ["X-Forwarded-For"] = a })
  end
end
local i = 0
request = function()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
done = function(summary, latency, requests)
  io.write(string.format("WSBRESULT rps=%.0f p50_us=%d p99_us=%d mean_us=%.1f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99), latency.mean,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
