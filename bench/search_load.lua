-- wrk script for bench/search.py: cycle through the request paths in a file, one per line.
--   wrk -t2 -c32 -d20s --latency -s bench/search_load.lua http://127.0.0.1:PORT -- paths.txt
-- Each thread starts at its own offset so the connections do not ask the same thing in lockstep.
-- done() prints one machine-readable line (WRKJSON {...}) for the runner to parse.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local paths = {}
local i = 0
local headers = { ["Accept"] = "application/fhir+json" }

function init(args)
  local file = args[1]
  for line in io.lines(file) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  if #paths == 0 then error("no request paths in " .. tostring(file)) end
  i = (id * 7919) % #paths
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
