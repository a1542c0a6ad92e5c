-- post.lua - wrk script: POST one AdmissionReview body per request, and print a JSON summary.
--
-- The body file comes from the env var BENCH_BODY, or the first script argument
-- (wrk ... -s post.lua URL -- FILE). The summary is one line on stdout, after wrk's own report:
--   BENCH_RESULT {"requests":N,"duration_us":N,"rps":X,"p50_us":X,...,"errors":{...}}
-- Latencies are wrk's (closed loop: measured from when wrk sent each request; see openloop.c for
-- latency at a fixed rate without coordinated omission). errors.status counts responses with a
-- status above 399 (wrk's rule).

local body_file = os.getenv("BENCH_BODY")

function init(args)
	if args[1] ~= nil and args[1] ~= "" then
		body_file = args[1]
	end
	if body_file == nil then
		error("post.lua: set BENCH_BODY or pass the body file after --")
	end
	local f = assert(io.open(body_file, "rb"))
	local body = f:read("*a")
	f:close()
	wrk.method = "POST"
	wrk.body = body
	wrk.headers["Content-Type"] = "application/json"
	wrk.headers["Accept"] = "application/json, */*"
	-- no request() function: wrk then builds this request once (after init) and sends it as is
end

local function pct(lat, p)
	return lat:percentile(p)
end

function done(summary, latency, requests)
	local dur = summary.duration
	local e = summary.errors
	local out = string.format(
		'{"requests":%d,"duration_us":%d,"bytes":%d,"rps":%.2f,' ..
		'"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"p999_us":%.1f,"max_us":%.1f,"mean_us":%.1f,' ..
		'"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}',
		summary.requests, dur, summary.bytes, summary.requests / (dur / 1e6),
		pct(latency, 50), pct(latency, 90), pct(latency, 99), pct(latency, 99.9),
		latency.max, latency.mean,
		e.connect, e.read, e.write, e.status, e.timeout)
	io.write("BENCH_RESULT " .. out .. "\n")
end
