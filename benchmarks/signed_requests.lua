-- wrk script: POST pre-signed requests in turn, then print the figures as one JSON line.
-- WRK_REQUESTS names a file with one request per line: header name, header value (or "-"),
-- content type and body, separated by tabs. Bodies are distinct (signed before the run), so
-- our redelivery path is not what gets measured.
local requests = {}

init = function(args)
  local path = os.getenv("WRK_REQUESTS")
  for line in io.lines(path) do
    local name, value, ctype, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = { ["Content-Type"] = ctype }
    if name ~= "-" then headers[name] = value end
    requests[#requests + 1] = wrk.format("POST", nil, headers, body)
  end
end

-- WRK_OFFSET: where this run starts in the file (after the requests earlier runs sent).
local n = tonumber(os.getenv("WRK_OFFSET") or "0")
request = function()
  n = n % #requests + 1
  return requests[n]
end

done = function(summary, latency, requests_stats)
  local over_1s = 0
  for i = 1, #latency do
    local value, count = latency(i)
    if value > 1000000 then over_1s = over_1s + count end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "over_1s": %d, "connect_errors": %d, "read_errors": %d, '
      .. '"write_errors": %d, "status_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, over_1s, e.connect, e.read, e.write, e.status,
    e.timeout))
end
