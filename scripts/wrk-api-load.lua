-- wrk script of `ringmaster bench api-load` (one wrk process per route):
--   wrk -t1 -cC -d1h -H "Authorization: Bearer TOKEN" -s scripts/wrk-api-load.lua URL -- PAUSE_MS
-- Each connection pauses PAUSE_MS between its requests (0: none, as fast as the controller answers),
-- every response outside 200–299 is counted (wrk's own count starts at 400), and at the end (the
-- duration, or SIGINT) one JSON line reports the requests, errors and latency percentiles in µs.

local threads = {}
pause = 0
non2xx = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  pause = tonumber(args[1] or "0") or 0
end

function delay()
  return pause
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationMicros":%d,"bytes":%d,"non2xx":%d,"connectErrors":%d,"readErrors":%d,' ..
    '"writeErrors":%d,"timeouts":%d,"p50Micros":%d,"p90Micros":%d,"p99Micros":%d,"maxMicros":%d}\n',
    summary.requests, summary.duration, summary.bytes, bad, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
