# tests/lib/server.sh - sourced by the scripts that run the real `posture serve` on 127.0.0.1
# (tests/suites/e2e_server.sh, tests/suites/hostile.sh, tests/soak/run.sh): check bookkeeping,
# test certificates made with openssl, starting a server on free ports and reaping it, and the
# clean-up at exit. Not a suite itself (tests/run.sh runs tests/suites/*.sh only).
#
# The sourcing script sets BIN (the posture binary) and WORK (its scratch directory) before using
# these; SLOW (default 1) scales the waits (ASan, valgrind); POSTURE_WRAPPER, when set, is a
# command line the servers run under (`make valgrind`).

PASS=0
FAIL=0
T0=$(date +%s%N)
elapsed() { printf '%6.2fs' "$(($(date +%s%N) - T0))e-9"; }
ok() { PASS=$((PASS + 1)); echo "ok   $(elapsed) $1" >&2; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $(elapsed) $1${2:+: $2}" >&2; }
# check NAME COMMAND...: passes when the command succeeds; its stderr is the reason otherwise
check() {
	local name=$1
	shift
	if "$@" 2>"$WORK/check.err"; then ok "$name"; else bad "$name" "$(head -c 600 "$WORK/check.err")"; fi
}

# require SUITE [FILE...]: exit with the suite's failure line unless BIN is executable and each FILE
# is a non-empty file
require() {
	local suite=$1 f
	shift
	for f in "$BIN" "$@"; do
		if { [ "$f" = "$BIN" ] && [ ! -x "$f" ]; } || [ ! -s "$f" ]; then
			echo "FAIL missing $f" >&2
			echo "SUITE $suite: $PASS passed, $((FAIL + 1)) failed"
			exit 1
		fi
	done
}

# ---- certificates (openssl, EC P-256, valid 3 days), in the current directory ----
ecc() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; }
# ca NAME CN: NAME.key and a self-signed NAME.crt
ca() {
	ecc "$1.key" && openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 3 -out "$1.crt" 2>/dev/null
}
# leaf NAME CA EXT [KEY]: NAME.crt with CN NAME signed by CA, extensions EXT (printf %b text), key
# NAME.key unless KEY (made when missing)
leaf() {
	local key=${4:-$1.key}
	[ -f "$key" ] || ecc "$key"
	openssl req -new -key "$key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null &&
		printf '%b' "$3" >"$1.ext" &&
		openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -set_serial "0x$(openssl rand -hex 12)" \
			-days 3 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}
# a serving certificate's extensions for 127.0.0.1
SERVING_EXT='subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'

# serve_start LOG ARGS...: `posture serve --listen 127.0.0.1:0 ARGS...` in the background (stderr
# to LOG, POD_NAMESPACE posture-system), waiting (bounded) for its "serving" line. Sets
# SERVE_PID, SERVE_PORT and SERVE_MPORT (empty when the metrics listener is off). Returns 1 when
# the server did not come up.
serve_start() {
	local log=$1 i line
	shift
	# shellcheck disable=SC2086
	POD_NAMESPACE=posture-system ${POSTURE_WRAPPER:-} "$BIN" serve --listen 127.0.0.1:0 "$@" 2>"$log" &
	SERVE_PID=$!
	SERVE_PORT=
	SERVE_MPORT=
	for ((i = 0; i < 100 * ${SLOW:-1}; i++)); do
		line=$(grep -m1 '"msg":"serving"' "$log" 2>/dev/null)
		if [ -n "$line" ]; then
			SERVE_PORT=$(sed -nE 's/.*"listen":"127\.0\.0\.1:([0-9]+)".*/\1/p' <<<"$line")
			SERVE_MPORT=$(sed -nE 's/.*"metrics":"127\.0\.0\.1:([0-9]+)".*/\1/p' <<<"$line")
			return 0
		fi
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}

# serve_reap PID TENTHS: wait up to TENTHS tenths of a second for PID to exit, then kill it;
# STATUS is its exit status
serve_reap() {
	local p=$1 i
	for ((i = 0; i < $2; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null
	wait "$p"
	STATUS=$?
}

# cleanup PID...: kill what is still running, reap it, remove WORK (KEEP_WORK=1 keeps it)
cleanup() {
	local p
	for p in "$@"; do [ "$p" -gt 1 ] 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
