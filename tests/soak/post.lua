-- post.lua - wrk script for `make soak` (tests/soak/run.sh): POST one AdmissionReview per request,
-- count every answer that is not a 200 or not the expected verdict, stop each thread after its
-- share of the requests, and print one summary line after wrk's own report:
--   SOAK_RESULT {"requests":N,"responses":N,"non200":N,"wrong":N,"errors":{...},...}
-- (tests/bench/post.lua measures throughput instead: it defines no response() so that wrk skips
-- parsing; this one reads every answer.)
--
-- Environment: SOAK_BODY (the review file, required), SOAK_QUOTA (responses per thread, then the
-- thread stops; 0 or unset: run for wrk's -d), SOAK_EXPECT (a substring every 200 body must hold,
-- e.g. "allowed":false), SOAK_CLOSE=1 (send Connection: close: a new TLS connection per request).

local body_file = os.getenv("SOAK_BODY")
local quota = tonumber(os.getenv("SOAK_QUOTA") or "0") or 0
local expect = os.getenv("SOAK_EXPECT")
if expect == "" then
	expect = nil
end
local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	if body_file == nil or body_file == "" then
		error("post.lua: set SOAK_BODY to the review file")
	end
	local f = assert(io.open(body_file, "rb"))
	wrk.body = f:read("*a")
	f:close()
	wrk.method = "POST"
	wrk.headers["Content-Type"] = "application/json"
	if os.getenv("SOAK_CLOSE") == "1" then
		wrk.headers["Connection"] = "close"
	end
	-- globals: done() reads them with thread:get
	responses = 0
	non200 = 0
	wrong = 0
	first_bad = ""
end

function response(status, headers, body)
	responses = responses + 1
	if status ~= 200 then
		non200 = non200 + 1
		if first_bad == "" then
			first_bad = "HTTP " .. status .. ": " .. string.sub(body or "", 1, 200)
		end
	elseif expect ~= nil and not string.find(body, expect, 1, true) then
		wrong = wrong + 1
		if first_bad == "" then
			first_bad = string.sub(body or "", 1, 200)
		end
	end
	if quota > 0 and responses >= quota then
		wrk.thread:stop()
	end
end

local function jstr(s)
	return '"' .. string.gsub(s, '[%c"\\]', function(c)
		return string.format("\\u%04x", string.byte(c))
	end) .. '"'
end

function done(summary, latency, requests)
	local total, bad, wr, first = 0, 0, 0, ""
	for _, t in ipairs(threads) do
		total = total + (t:get("responses") or 0)
		bad = bad + (t:get("non200") or 0)
		wr = wr + (t:get("wrong") or 0)
		if first == "" then
			first = t:get("first_bad") or ""
		end
	end
	local e = summary.errors
	io.write(string.format(
		'SOAK_RESULT {"requests":%d,"responses":%d,"non200":%d,"wrong":%d,"duration_s":%.2f,' ..
		'"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
		'"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"first_bad":%s}\n',
		summary.requests, total, bad, wr, summary.duration / 1e6,
		summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
		latency:percentile(99) / 1000, latency.max / 1000,
		e.connect, e.read, e.write, e.status, e.timeout, jstr(first)))
end
