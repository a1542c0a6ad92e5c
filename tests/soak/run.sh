#!/usr/bin/env bash
# run.sh - `make soak`: posture serve under wrk (tests/soak/post.lua) on 127.0.0.1, in three phases.
#   1. soak: SOAK_REQUESTS (default 1,000,000) reviews over SOAK_CONNS (16) keep-alive connections;
#      zero non-200 answers, zero wrong verdicts, zero socket errors; the server's RSS sampled from
#      /proc/PID/status every second with the review count from /metrics, and its growth between
#      the end of the first 100k reviews and the end of the last 100k reported (goal: < 1 MiB).
#   2. rotation and reload under load: a keep-alive wrk and a wrk that opens a new TLS connection
#      per request (Connection: close) while the certificate pair is swapped (a Secret's ..data
#      symlink) and the policy changed and SIGHUP sent, four times each; zero failed requests.
#   3. SIGTERM under load: the same two wrk runs; SIGTERM mid-run: the server answers with
#      Connection: close for its shutdown delay, stops accepting, finishes in-flight reviews and
#      exits 0. Every request completes or is refused at connect: wrk's read, write and timeout
#      errors, non-200 and wrong answers must all be 0 (connect errors after the close are
#      expected and reported).
# Results: build/soak/results.json and the RSS samples in build/soak/rss-*.tsv. Exit 1 if a goal
# is missed. Env: SOAK_REQUESTS, SOAK_CONNS, SOAK_THREADS (2), SOAK_PHASE_SECONDS (20).
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
REQUESTS=${SOAK_REQUESTS:-1000000}
CONNS=${SOAK_CONNS:-16}
THREADS=${SOAK_THREADS:-2}
PHASE_S=${SOAK_PHASE_SECONDS:-20}
OUT=build/soak
BUILD=$OUT/build
LUA=$ROOT/tests/soak/post.lua
BODY=$ROOT/tests/fixtures/e2e/pod-default-sa.json
EXPECT='"allowed":false'
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

for tool in wrk openssl curl; do
	command -v "$tool" >/dev/null 2>&1 || { echo "soak: $tool not found: run \`make deps\`" >&2; exit 2; }
done
mkdir -p "$OUT"
echo "soak: building posture (-O2, no sanitizers) in $BUILD" >&2
make --no-print-directory -s -j"$(nproc 2>/dev/null || echo 2)" BUILD="$BUILD" CFLAGS="-O2 -g" SAN= "$BUILD/posture" >&2 || exit 2
BIN=$ROOT/$BUILD/posture

WORK=$(mktemp -d "${TMPDIR:-/tmp}/posture-soak.XXXXXX")
# shellcheck source=tests/lib/server.sh
. "$ROOT/tests/lib/server.sh"
PIDS=()
trap 'cleanup "${PIDS[@]}"' EXIT
trap 'exit 130' INT TERM
FAILS=0
fail() { FAILS=$((FAILS + 1)); echo "soak: FAIL $*" >&2; }
okay() { echo "soak: ok   $*" >&2; }

# ---- certificates: one CA, two serving pairs ----
(
	cd "$WORK" && ca ca posture-soak-ca && leaf srv1 ca "$SERVING_EXT" && leaf srv2 ca "$SERVING_EXT"
) || { echo "soak: cannot make certificates with openssl" >&2; exit 2; }

# start NAME ARGS...: sets SPID, SPORT, SMPORT
start() {
	local name=$1
	shift
	serve_start "$WORK/$name.log" --metrics-listen 127.0.0.1:0 "$@"
	local rc=$?
	SPID=$SERVE_PID SPORT=$SERVE_PORT SMPORT=$SERVE_MPORT
	PIDS+=("$SPID")
	[ "$rc" -eq 0 ] && return 0
	echo "soak: $name did not start: $(tail -n 3 "$WORK/$name.log")" >&2
	exit 2
}
# stop PID: SIGTERM, wait (bounded 30 s); STATUS = exit status
stop() {
	kill -TERM "$1" 2>/dev/null
	serve_reap "$1" 300
}
# sample PID MPORT FILE: every second "unix_time rss_kib reviews_total" until the process ends
sample() {
	local pid=$1 mport=$2 file=$3 rss reviews
	while kill -0 "$pid" 2>/dev/null; do
		rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
		reviews=$(reviews_total "$mport")
		[ -n "$rss" ] && echo "$(date +%s.%N) $rss ${reviews:-0}" >>"$file"
		sleep 1
	done
}
reviews_total() { # MPORT: the server's review count
	curl -s --max-time 2 "http://127.0.0.1:$1/metrics" 2>/dev/null |
		awk '/^posture_admission_reviews_total\{/ {s += $2} END {printf "%d", s}'
}
# run_wrk NAME PORT SECONDS CONNS [ENV=...]: wrk with post.lua; SOAK_RESULT line to $WORK/NAME.result.
# With STOP_AT=N MPORT=P in the environment: once the server has judged N reviews (the threads stop
# at their quota), interrupt wrk's sleep with SIGINT (it then reports as at the end of -d).
run_wrk() {
	local name=$1 port=$2 secs=$3 conns=$4 wpid
	shift 4
	env SOAK_BODY="$BODY" SOAK_EXPECT="$EXPECT" "$@" wrk -t"$THREADS" -c"$conns" -d"${secs}s" --timeout 10s \
		-s "$LUA" "https://127.0.0.1:$port/validate?timeout=10s" >"$WORK/$name.wrk" 2>&1 &
	wpid=$!
	if [ -n "${STOP_AT:-}" ]; then
		while kill -0 "$wpid" 2>/dev/null && [ "$(reviews_total "$MPORT")" -lt "$STOP_AT" ]; do sleep 0.5; done
		sleep 1
		kill -INT "$wpid" 2>/dev/null
	fi
	wait "$wpid"
	grep '^SOAK_RESULT ' "$WORK/$name.wrk" | sed 's/^SOAK_RESULT //' >"$WORK/$name.result"
}
field() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); exec("v="+sys.argv[2]); print(v)' "$1" "$2" 2>/dev/null; }
# zero_failures NAME ALLOW_CONNECT: the wrk run NAME had no failed request
zero_failures() {
	local r=$WORK/$1.result
	[ -s "$r" ] || { echo "no result from wrk $1: $(tail -n 5 "$WORK/$1.wrk")"; return 1; }
	"$PY" - "$r" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
e = d["errors"]
bad = {k: v for k, v in e.items() if v and not (k == "connect" and sys.argv[2] == "1")}
if d["non200"] or d["wrong"] or bad or d["responses"] == 0:
    print("non-200 %d, wrong verdicts %d, errors %s, %d responses; first: %s" %
          (d["non200"], d["wrong"], e, d["responses"], d["first_bad"]))
    sys.exit(1)
print("%d requests (%.0f/s, p99 %.2f ms), 0 non-200, 0 wrong, errors %s" %
      (d["requests"], d["rps"], d["p99_ms"], e))
EOF
}

# ---- 1. the soak ----
per_thread=$(((REQUESTS + THREADS - 1) / THREADS))
start soak --tls-cert "$WORK/srv1.crt" --tls-key "$WORK/srv1.key"
soak_pid=$SPID
: >"$WORK/rss-soak.tsv"
sample "$soak_pid" "$SMPORT" "$WORK/rss-soak.tsv" &
sampler=$!
PIDS+=("$sampler")
echo "soak: phase 1: $REQUESTS reviews over $CONNS keep-alive connections ($THREADS wrk threads)" >&2
sleep 1.5   # a baseline sample before the load
STOP_AT=$((per_thread * THREADS)) MPORT=$SMPORT run_wrk soak "$SPORT" 7200 "$CONNS" SOAK_QUOTA="$per_thread"
sleep 1.5   # a sample after it
stop "$soak_pid"
wait "$sampler" 2>/dev/null
[ "$STATUS" -eq 0 ] || fail "phase 1: the server exited $STATUS on SIGTERM"
if line=$(zero_failures soak 0); then okay "phase 1: $line"; else fail "phase 1: $line"; fi
cp "$WORK/rss-soak.tsv" "$OUT/rss-soak.tsv"
rss_json=$("$PY" - "$WORK/rss-soak.tsv" "$REQUESTS" <<'EOF'
import json, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 3]
total = int(sys.argv[2])
def at(n):   # the first sample taken once n reviews were done
    for t, rss, rev in rows:
        if rev >= n:
            return rss
    return None
first = [rss for t, rss, rev in rows if 0 < rev <= 100000]
last = [rss for t, rss, rev in rows if rev >= total - 100000]
out = {
    "samples": len(rows),
    "rss_kib_before_load": rows[0][1] if rows else None,
    "rss_kib_after_first_100k": at(100000),
    "rss_kib_after_all": at(total),
    "rss_kib_max": max((r[1] for r in rows), default=None),
    "rss_kib_mean_first_100k": round(sum(first) / len(first), 1) if first else None,
    "rss_kib_mean_last_100k": round(sum(last) / len(last), 1) if last else None,
    "reviews_counted": int(rows[-1][2]) if rows else 0,
}
if out["rss_kib_after_first_100k"] is not None and out["rss_kib_after_all"] is not None:
    out["rss_growth_kib"] = out["rss_kib_after_all"] - out["rss_kib_after_first_100k"]
print(json.dumps(out))
EOF
)
echo "$rss_json" >"$WORK/rss.json"
growth=$(field "$WORK/rss.json" 'd.get("rss_growth_kib")')
counted=$(field "$WORK/rss.json" 'd["reviews_counted"]')
if [ -z "$growth" ] || [ "$growth" = None ]; then
	fail "phase 1: too few RSS samples to compare ($(field "$WORK/rss.json" 'd["samples"]'))"
elif [ "$("$PY" -c "print(int($growth < 1024))")" = 1 ]; then
	okay "phase 1: RSS $(field "$WORK/rss.json" 'd["rss_kib_after_first_100k"]') KiB after the first 100k reviews, $(field "$WORK/rss.json" 'd["rss_kib_after_all"]') KiB after all: growth $growth KiB (< 1024)"
else
	fail "phase 1: RSS grew $growth KiB between the first 100k and the end (goal < 1024 KiB)"
fi
[ "$counted" -ge "$REQUESTS" ] 2>/dev/null || fail "phase 1: the server counted $counted reviews, want >= $REQUESTS"

# ---- 2. certificate rotation and SIGHUP reload under load ----
mkdir -p "$WORK/sec/..v1" "$WORK/sec/..v2" "$WORK/pcm/..p1" "$WORK/pcm/..p2"
cp "$WORK/srv1.crt" "$WORK/sec/..v1/tls.crt" && cp "$WORK/srv1.key" "$WORK/sec/..v1/tls.key"
cp "$WORK/srv2.crt" "$WORK/sec/..v2/tls.crt" && cp "$WORK/srv2.key" "$WORK/sec/..v2/tls.key"
ln -s ..v1 "$WORK/sec/..data" && ln -s ..data/tls.crt "$WORK/sec/tls.crt" && ln -s ..data/tls.key "$WORK/sec/tls.key"
for p in 1 2; do   # two policies, one verdict for the soak review: only the exempt list differs
	printf 'apiVersion: posture.dev/v1alpha1\nkind: PosturePolicy\nspec:\n  exemptNamespaces: [kube-system, soak-%s]\n' "$p" \
		>"$WORK/pcm/..p$p/policy.yaml"
done
ln -s ..p1 "$WORK/pcm/..data" && ln -s ..data/policy.yaml "$WORK/pcm/policy.yaml"
swap() { ln -sfn "$2" "$1/..data_tmp" && mv -T "$1/..data_tmp" "$1/..data"; }
start reload --tls-cert "$WORK/sec/tls.crt" --tls-key "$WORK/sec/tls.key" --policy "$WORK/pcm/policy.yaml" \
	--reload-interval 0.5
reload_pid=$SPID
echo "soak: phase 2: certificate rotation and SIGHUP policy reload under load (${PHASE_S}s)" >&2
run_wrk reload-ka "$SPORT" "$PHASE_S" "$CONNS" &
w1=$!
run_wrk reload-new "$SPORT" "$PHASE_S" 4 SOAK_CLOSE=1 &
w2=$!
PIDS+=("$w1" "$w2")
step=$("$PY" -c "print(max(1.0, $PHASE_S / 10))")
for i in 1 2 3 4; do
	sleep "$step"
	if [ $((i % 2)) = 1 ]; then swap "$WORK/sec" ..v2; else swap "$WORK/sec" ..v1; fi
	sleep "$step"
	if [ $((i % 2)) = 1 ]; then swap "$WORK/pcm" ..p2; else swap "$WORK/pcm" ..p1; fi
	kill -HUP "$reload_pid"
done
wait "$w1" "$w2"
rotations=$(grep -c '"msg":"TLS certificate rotated"' "$WORK/reload.log")
reloads=$(grep -c '"msg":"policy reloaded"' "$WORK/reload.log")
refused=$(grep -c 'refused' "$WORK/reload.log")
stop "$reload_pid"
[ "$STATUS" -eq 0 ] || fail "phase 2: the server exited $STATUS on SIGTERM"
if line=$(zero_failures reload-ka 0); then okay "phase 2 keep-alive: $line"; else fail "phase 2 keep-alive: $line"; fi
if line=$(zero_failures reload-new 0); then okay "phase 2 new connection per request: $line"; else fail "phase 2 new connection per request: $line"; fi
if [ "$rotations" -ge 4 ] && [ "$reloads" -ge 4 ] && [ "$refused" -eq 0 ]; then
	okay "phase 2: $rotations certificate rotations and $reloads policy reloads logged, none refused"
else
	fail "phase 2: $rotations rotations, $reloads reloads, $refused refusals logged (want >= 4, >= 4, 0)"
fi

# ---- 3. SIGTERM under load ----
start term --tls-cert "$WORK/srv1.crt" --tls-key "$WORK/srv1.key" --shutdown-delay 1
term_pid=$SPID
echo "soak: phase 3: SIGTERM under load" >&2
term_s=$("$PY" -c "print(max(6, int($PHASE_S / 2)))")
run_wrk term-ka "$SPORT" "$term_s" "$CONNS" &
w1=$!
run_wrk term-new "$SPORT" "$term_s" 4 SOAK_CLOSE=1 &
w2=$!
PIDS+=("$w1" "$w2")
sleep "$("$PY" -c "print($term_s / 2 - 1)")"
t_term=$(date +%s.%N)
stop "$term_pid"
t_exit=$(date +%s.%N)
wait "$w1" "$w2"
[ "$STATUS" -eq 0 ] && okay "phase 3: exit 0, $("$PY" -c "print('%.2f' % ($t_exit - $t_term))") s after SIGTERM" ||
	fail "phase 3: the server exited $STATUS on SIGTERM"
grep -q '"msg":"stopped"' "$WORK/term.log" || fail "phase 3: no \"stopped\" log line"
if line=$(zero_failures term-ka 1); then okay "phase 3 keep-alive: $line"; else fail "phase 3 keep-alive: $line"; fi
if line=$(zero_failures term-new 1); then okay "phase 3 new connection per request: $line"; else fail "phase 3 new connection per request: $line"; fi

# ---- summary ----
"$PY" - "$WORK" "$OUT/results.json" "$FAILS" <<'EOF'
import json, os, sys
work, out, fails = sys.argv[1], sys.argv[2], int(sys.argv[3])
res = {"failures": fails, "rss": json.load(open(os.path.join(work, "rss.json")))}
for name in ("soak", "reload-ka", "reload-new", "term-ka", "term-new"):
    p = os.path.join(work, name + ".result")
    res[name] = json.load(open(p)) if os.path.getsize(p) else None
json.dump(res, open(out, "w"), indent=1)
s, r = res["soak"] or {}, res["rss"]
print("soak summary")
print("  phase 1: %s requests in %.0f s (%.0f/s, p99 %.2f ms): %s non-200, %s wrong, socket errors %s" %
      (s.get("requests"), s.get("duration_s", 0), s.get("rps", 0), s.get("p99_ms", 0), s.get("non200"),
       s.get("wrong"), s.get("errors")))
print("  RSS: %s KiB before, %s KiB after the first 100k, %s KiB after all, max %s KiB: growth %s KiB" %
      (r.get("rss_kib_before_load"), r.get("rss_kib_after_first_100k"), r.get("rss_kib_after_all"),
       r.get("rss_kib_max"), r.get("rss_growth_kib")))
print("  RSS mean over the first 100k: %s KiB, over the last 100k: %s KiB" %
      (r.get("rss_kib_mean_first_100k"), r.get("rss_kib_mean_last_100k")))
for name, what in (("reload-ka", "phase 2, keep-alive"), ("reload-new", "phase 2, new connections"),
                   ("term-ka", "phase 3, keep-alive"), ("term-new", "phase 3, new connections")):
    d = res[name] or {}
    print("  %s: %s requests, %s non-200, %s wrong, errors %s" %
          (what, d.get("requests"), d.get("non200"), d.get("wrong"), d.get("errors")))
print("  %s" % ("all goals met" if fails == 0 else "%d goal(s) missed" % fails))
print("  results: %s" % out)
EOF
[ "$FAILS" -eq 0 ]
