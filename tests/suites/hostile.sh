#!/usr/bin/env bash
# hostile.sh - hostile input against the real `posture serve` on 127.0.0.1 (free ports): more than
# 30 classes of malformed JSON, reviews, HTTP and TLS (tests/e2e/hostile.py drives them, with a good
# client running throughout that must see zero failures), 1,000 idle connections, TLS 1.0/1.1
# refused (gnutls-cli and openssl, each with a positive control against a server that speaks
# them), YAML bombs through `posture check` / `posture policy check`, and the server's log
# checked for a secret planted in every broken review. Runs in both passes (under ASan the
# servers are the sanitizer build, and must exit 0 on SIGTERM: no leak at exit). Prints per-check
# lines on stderr and, last on stdout, "SUITE hostile: P passed, F failed".
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${POSTURE_BUILD:-build}
case $BUILD in /*) BIN=$BUILD/posture ;; *) BIN=$ROOT/$BUILD/posture ;; esac
FIX=$ROOT/tests/fixtures/e2e
SLOW=1
[ "${POSTURE_PASS:-normal}" = asan ] && SLOW=3
SECRET=PLANTED-SECRET-hostile-5be1d0c4-do-not-log
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

WORK=$(mktemp -d "${TMPDIR:-/tmp}/posture-hostile.XXXXXX")
# shellcheck source=tests/lib/server.sh
. "$ROOT/tests/lib/server.sh"
declare -A PORT PID
BG=()
# no "Killed" notices for the helpers
trap 'exec 2>/dev/null; cleanup "${PID[@]}" "${BG[@]}"' EXIT

require hostile

# ---- certificates (openssl, EC P-256) ----
mkdir -p "$WORK/pki" && cd "$WORK/pki" || exit 1
ca ca posture-hostile-ca && leaf srv ca "$SERVING_EXT"
# an RSA pair for the TLS 1.0/1.1 positive control (its old suites need RSA or DHE-RSA)
openssl req -x509 -newkey rsa:2048 -nodes -keyout old.key -subj /CN=localhost -days 3 -out old.crt 2>/dev/null
cd "$ROOT" || exit 1
require hostile "$WORK/pki/srv.crt" "$WORK/pki/old.crt"
CA=$WORK/pki/ca.crt

# start NAME ARGS...: posture serve in the background, PORT[NAME] from its "serving" line
start() {
	local name=$1
	shift
	serve_start "$WORK/$name.log" --metrics-listen off --tls-cert "$WORK/pki/srv.crt" \
		--tls-key "$WORK/pki/srv.key" --shutdown-delay 0.2 "$@"
	local rc=$?
	PID[$name]=$SERVE_PID
	[ "$rc" -eq 0 ] && PORT[$name]=$SERVE_PORT && return 0
	bad "start $name" "$(tail -n 3 "$WORK/$name.log")"
	return 1
}
# stop NAME: SIGTERM, wait (bounded); STATUS = its exit status
stop() {
	STATUS=1
	[ -n "${PID[$1]:-}" ] || return 0
	kill -TERM "${PID[$1]}" 2>/dev/null
	serve_reap "${PID[$1]}" $((150 * SLOW))
	unset "PID[$1]"
}
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
eq() { [ "$1" = "$2" ] || { echo "got '$1', want '$2'" >&2; return 1; }; }

start main --connection-limit 4096
start slow --request-timeout 2
if [ -z "${PORT[main]:-}" ] || [ -z "${PORT[slow]:-}" ]; then
	echo "SUITE hostile: $PASS passed, $((FAIL + 1)) failed"
	exit 1
fi

# ---- the classes, with the good client running (hostile.py) ----
"$PY" "$ROOT/tests/e2e/hostile.py" --port "${PORT[main]}" --slow-port "${PORT[slow]}" --cacert "$CA" --bin "$BIN" \
	--meshed "$FIX/pod-meshed.json" --denied "$FIX/pod-default-sa.json" --secret "$SECRET" \
	>"$WORK/hostile.json" 2>"$WORK/hostile.err"
rc=$?
cat "$WORK/hostile.err" >&2
summary=$(tail -n 1 "$WORK/hostile.json")
p=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["passed"])' "$summary" 2>/dev/null)
f=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["failed"])' "$summary" 2>/dev/null)
if [ -z "$p" ] || [ -z "$f" ] || [ "$rc" -ne 0 ]; then
	bad "hostile.py ran to its end" "exit $rc; $(tail -n 5 "$WORK/hostile.err")"
else
	PASS=$((PASS + p))
	FAIL=$((FAIL + f))
	echo "figures: $("$PY" -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1])["figures"]["idle"]))' "$summary")" >&2
fi
check "server still ready after all of it" eq "$(curl -sS --max-time 10 --cacert "$CA" -o /dev/null -w '%{http_code}' "https://127.0.0.1:${PORT[main]}/readyz")" 200

# ---- TLS 1.0 and 1.1: refused; a server that speaks them shows the clients can ----
ctl=$(free_port)
gnutls-serv --x509certfile "$WORK/pki/old.crt" --x509keyfile "$WORK/pki/old.key" -p "$ctl" \
	--priority 'NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0:+RSA:+AES-128-CBC:+SHA1' >"$WORK/gnutls-serv.log" 2>&1 &
BG+=($!)
for ((i = 0; i < 50 * SLOW; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$ctl") 2>/dev/null && break; sleep 0.1; done
gnutls_old() { # PORT VERSION: does gnutls-cli complete a handshake at exactly that version?
	timeout 10 gnutls-cli --insecure --priority "NORMAL:-VERS-ALL:+VERS-$2:+RSA:+AES-128-CBC:+SHA1" -p "$1" 127.0.0.1 \
		</dev/null 2>&1 | grep -q 'Handshake was completed'
}
openssl_old() { # PORT FLAG
	echo | timeout 10 openssl s_client -connect "127.0.0.1:$1" "$2" -cipher 'DEFAULT:@SECLEVEL=0' 2>&1 |
		grep -qE 'New, TLSv1(\.[01])?, Cipher is [A-Z]'   # a failure says "New, (NONE), Cipher is (NONE)"
}
for v in TLS1.0 TLS1.1; do
	check "positive control: gnutls-cli completes $v with a server that speaks it" gnutls_old "$ctl" "$v"
	check "$v refused (gnutls-cli)" eval "! gnutls_old ${PORT[main]} $v"
done
for fl in -tls1 -tls1_1; do
	check "positive control: openssl s_client $fl (SECLEVEL=0) completes with it" openssl_old "$ctl" "$fl"
	check "openssl s_client $fl (SECLEVEL=0) refused" eval "! openssl_old ${PORT[main]} $fl"
done

# ---- every cipher suite openssl knows, offered one at a time: only ECDHE with an AEAD cipher ----
scan() { # PORT: prints "VERSION SUITE" for each suite the server completes a handshake with
	# TLS 1.2: every suite this OpenSSL knows, one handshake each (Python's ssl: no process per try)
	# shellcheck disable=SC2046
	"$PY" - "$1" $(openssl ciphers 'ALL:COMPLEMENTOFALL:@SECLEVEL=0' | tr ':' ' ') <<'EOF'
import socket, ssl, sys
port = int(sys.argv[1])
for c in sys.argv[2:]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.set_ciphers(c + ":@SECLEVEL=0")
    except ssl.SSLError:
        continue   # not usable by this client at all
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw) as s:
                print("TLSv1.2", s.cipher()[0])
    except (ssl.SSLError, OSError):
        pass
EOF
	# TLS 1.3: its five suites (Python's ssl cannot pick one)
	local c
	for c in TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 TLS_AES_128_GCM_SHA256 TLS_AES_128_CCM_SHA256 \
		TLS_AES_128_CCM_8_SHA256; do
		echo | timeout 10 openssl s_client -connect "127.0.0.1:$1" -tls1_3 -ciphersuites "$c" 2>/dev/null |
			grep -q "Cipher is $c\$" && echo "TLSv1.3 $c"
	done
}
ctl2=$(free_port)
gnutls-serv --x509certfile "$WORK/pki/old.crt" --x509keyfile "$WORK/pki/old.key" -p "$ctl2" \
	--priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2:+RSA:+AES-128-CBC:+SHA1' >"$WORK/gnutls-serv2.log" 2>&1 &
BG+=($!)
for ((i = 0; i < 50 * SLOW; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$ctl2") 2>/dev/null && break; sleep 0.1; done
check "positive control: the suite scan sees CBC and static-RSA suites where a server offers them" \
	eval 'scan "$ctl2" | grep -qE "^TLSv1.2 (ECDHE-RSA-)?AES128-SHA$"'
scan "${PORT[main]}" >"$WORK/suites.txt"
echo "TLS suites accepted (one handshake per suite this OpenSSL knows; ECDSA certificate):" >&2
sed 's/^/    /' "$WORK/suites.txt" >&2
check "TLS 1.2: every accepted suite is ECDHE-ECDSA with an AEAD cipher (no CBC, no static RSA, no SHA-1)" \
	"$PY" -c 'import re,sys
s = [l.split()[1] for l in open(sys.argv[1]) if l.startswith("TLSv1.2 ")]
bad = [c for c in s if not re.fullmatch(r"ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305|AES(128|256)-CCM(8)?)", c)]
sys.exit("unexpected: %s" % bad if bad else 0 if "ECDHE-ECDSA-AES128-GCM-SHA256" in s else "ECDHE-ECDSA-AES128-GCM-SHA256 refused")' "$WORK/suites.txt"
check "TLS 1.3: the AEAD suites accepted (AES-GCM, ChaCha20-Poly1305)" \
	eval 'grep -q "TLSv1.3 TLS_AES_128_GCM_SHA256" "$WORK/suites.txt" && grep -q "TLSv1.3 TLS_CHACHA20_POLY1305_SHA256" "$WORK/suites.txt"'

# ---- the drain, and the logs ----
stop main
check "main: SIGTERM after all of it: exit 0$([ "$SLOW" -gt 1 ] && echo ' (ASan: no leak at exit)')" eq "$STATUS" 0
stop slow
check "slow: SIGTERM: exit 0" eq "$STATUS" 0
check "logs: the 400s were logged (request refused lines)" \
	eval '[ "$(grep -c "\"msg\":\"request refused\".*\"status\":400" "$WORK/main.log")" -ge 30 ]'
check "logs: the secret planted in every broken review appears in no log line" \
	eval '! grep -l "$SECRET" "$WORK"/main.log "$WORK"/slow.log'
check "logs: every line is one JSON object" \
	"$PY" -c 'import json,sys
for f in sys.argv[1:]:
    for n, line in enumerate(open(f, encoding="utf-8"), 1):
        try:
            d = json.loads(line)
        except ValueError:
            sys.exit("%s:%d: not JSON: %r" % (f, n, line[:200]))
        if not isinstance(d, dict) or "msg" not in d:
            sys.exit("%s:%d: not a log object" % (f, n))' "$WORK/main.log" "$WORK/slow.log"

if [ "$FAIL" -ne 0 ]; then
	for f in "$WORK"/main.log "$WORK"/slow.log; do
		echo "---- $(basename "$f") (last 15 lines)" >&2
		tail -n 15 "$f" | cut -c1-400 >&2
	done
fi
echo "SUITE hostile: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
