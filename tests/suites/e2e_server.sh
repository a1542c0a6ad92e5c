#!/usr/bin/env bash
# e2e_server.sh - end-to-end tests of `posture serve`: the real binary on 127.0.0.1 (free ports:
# --listen 127.0.0.1:0, the bound port read from the start-up log line), driven over TLS by
# clients we did not write (curl, gnutls-cli, openssl) and a stdlib-Python client
# (tests/e2e/client.py). Certificates are made here with openssl. Prints per-check lines on
# stderr and, last on stdout, "SUITE e2e-server: P passed, F failed".
#
# Env: POSTURE_BUILD (directory holding posture; default build), POSTURE_PASS (normal|asan|valgrind:
# asan and valgrind scale the waits), POSTURE_WRAPPER (a command line the servers started by
# start() run under, e.g. valgrind: `make valgrind`).
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${POSTURE_BUILD:-build}
case $BUILD in /*) BIN=$BUILD/posture ;; *) BIN=$ROOT/$BUILD/posture ;; esac
FIX=$ROOT/tests/fixtures/e2e
CLIENT=$ROOT/tests/e2e/client.py
CHECK=$ROOT/tests/e2e/check.py
SLOW=1
[ "${POSTURE_PASS:-normal}" = asan ] && SLOW=3
[ "${POSTURE_PASS:-normal}" = valgrind ] && SLOW=12
# the "slow" server's own deadlines: a TLS handshake under valgrind can take a second or two
TS=1
[ "${POSTURE_PASS:-normal}" = valgrind ] && TS=4
SECRET=PLANTED-SECRET-7f3a9c1e-do-not-log
# the system's interpreter when there is one (version-manager shims cost ~0.4 s per start)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

WORK=$(mktemp -d "${TMPDIR:-/tmp}/posture-e2e.XXXXXX")
# shellcheck source=tests/lib/server.sh
. "$ROOT/tests/lib/server.sh"
declare -A PORT MPORT PID
BG=()
BADEXIT=""
trap 'cleanup "${PID[@]}" "${BG[@]}"' EXIT

require e2e-server

# ---- certificates (openssl, EC P-256) ----
mkdir -p "$WORK/pki" && cd "$WORK/pki" || exit 1
SERVER_EXT=$SERVING_EXT
CLIENT_EXT='extendedKeyUsage=clientAuth\n'
ca ca posture-e2e-ca && leaf srv1 ca "$SERVER_EXT" && leaf srv2 ca "$SERVER_EXT" && leaf srv3 ca "$SERVER_EXT" &&
	ca clientca e2e-client-ca && ca otherca e2e-other-ca &&
	leaf good clientca "$CLIENT_EXT" && leaf wrong otherca "$CLIENT_EXT" &&
	ecc self.key && openssl req -x509 -new -key self.key -subj /CN=self -days 3 -out self.crt 2>/dev/null
# a serving certificate that expires a few seconds from now (openssl ca takes exact dates)
touch index.txt && echo 01 >serial &&
	printf '[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=p\ncopy_extensions=copy\nunique_subject=no\n[p]\ncommonName=supplied\n' >ca.cnf &&
	ecc short.key && openssl req -new -key short.key -subj /CN=short -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -out short.csr 2>/dev/null &&
	openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -notext -in short.csr -out short.crt \
		-startdate "$(date -u -d '-1 min' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d "+$((5 * SLOW)) sec" +%Y%m%d%H%M%SZ)" 2>/dev/null
require e2e-server short.crt self.crt wrong.crt
cd "$ROOT" || exit 1
PKI=$WORK/pki
CA=$PKI/ca.crt
serial_of() { openssl x509 -noout -serial -in "$1" | sed 's/^serial=//; s/^0*//'; }

# ---- helpers ----
# start NAME ARGS...: posture serve in the background (ARGS override the defaults here); waits
# (bounded) for its "serving" line and sets PORT[NAME], MPORT[NAME] and PID[NAME]. Logs in
# $WORK/NAME.log.
start() {
	local name=$1
	shift
	if serve_start "$WORK/$name.log" --metrics-listen 127.0.0.1:0 --shutdown-delay 0.3 "$@"; then
		PID[$name]=$SERVE_PID
		PORT[$name]=$SERVE_PORT
		MPORT[$name]=$SERVE_MPORT
		return 0
	fi
	PID[$name]=$SERVE_PID
	bad "start $name" "$(tail -n 3 "$WORK/$name.log")"
	return 1
}
# stop NAME: SIGTERM, then reap
stop() {
	[ -n "${PID[$1]:-}" ] && kill -TERM "${PID[$1]}" 2>/dev/null
	reap "$1"
}
# reap NAME: wait (bounded) for a signalled server; its exit status goes to STATUS
reap() {
	STATUS=1
	[ -n "${PID[$1]:-}" ] || return 0
	serve_reap "${PID[$1]}" $((200 * SLOW))
	[ "$STATUS" -eq 0 ] || BADEXIT="$BADEXIT $1:$STATUS"
	unset "PID[$1]"
}
# wait_log NAME PATTERN [SECONDS]: until the log has a line matching PATTERN (grep -E)
wait_log() {
	local i
	for ((i = 0; i < ${3:-10} * 10 * SLOW; i++)); do
		grep -qE "$2" "$WORK/$1.log" && return 0
		sleep 0.1
	done
	echo "no log line matching $2 in $1.log" >&2
	return 1
}
# post NAME ROUTE FILE OUT [curl args...]: POST a review (Content-Type $CT, default
# application/json); prints the HTTP status
post() {
	local name=$1 route=$2 file=$3 out=$4
	shift 4
	curl -sS --max-time 20 --cacert "$CA" -H "Content-Type: ${CT:-application/json}" --data-binary @"$file" \
		-o "$out" -w '%{http_code}' "$@" "https://127.0.0.1:${PORT[$name]:-0}$route"
}
# verdict NAME ROUTE FIXTURE ALLOWED [check.py flags]: the review's answer on ROUTE
verdict() {
	local name=$1 route=$2 fx=$3 allowed=$4 code
	shift 4
	code=$(post "$name" "$route?timeout=5s" "$FIX/$fx.json" "$WORK/verdict.json")
	[ "$code" = 200 ] || { echo "HTTP $code: $(head -c 300 "$WORK/verdict.json")" >&2; return 1; }
	"$PY" "$CHECK" verdict "$FIX/$fx.json" "$WORK/verdict.json" --allowed "$allowed" "$@"
}
scrape() { curl -sS --max-time 10 -o "$2" "http://127.0.0.1:${MPORT[$1]:-0}/metrics"; }
metric() { "$PY" "$CHECK" metric "$1" "$2"; }
# status NAME PATH [curl args]: HTTP status of a GET on the TLS listener
status() {
	local name=$1 path=$2
	shift 2
	curl -sS --max-time 10 --cacert "$CA" -o "$WORK/status.body" -w '%{http_code}' "$@" \
		"https://127.0.0.1:${PORT[$name]:-0}$path" 2>/dev/null
}
eq() { [ "$1" = "$2" ] || { echo "got '$1', want '$2'" >&2; return 1; }; }
ne() { [ "$1" != "$2" ] || { echo "got '$1', want anything else" >&2; return 1; }; }
gt() { "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$1" "$2" ||
	{ echo "$1 is not > $2" >&2; return 1; }; }
between() { "$PY" -c 'import sys; v=sys.argv[1]; sys.exit(0 if v not in ("None","") and float(sys.argv[2]) <= float(v) <= float(sys.argv[3]) else 1)' "$1" "$2" "$3" ||
	{ echo "$1 not in [$2, $3]" >&2; return 1; }; }
jfield() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
swap_data() { # DIR NEWDIR: atomically point DIR/..data at DIR/NEWDIR, as the kubelet does
	ln -sfn "$2" "$1/..data_tmp" && mv -T "$1/..data_tmp" "$1/..data"
}

# ---- the command line ----
out=$("$BIN" serve --help 2>&1)
rc=$?
check "serve --help exits 0" eq "$rc" 0
missing=""
for f in --listen --tls-cert --tls-key --policy --client-ca --metrics-listen --shutdown-delay --max-body-bytes; do
	grep -q -- "$f" <<<"$out" || missing="$missing $f"
done
check "serve --help describes every flag" eq "$missing" ""
"$BIN" serve --bogus 2>"$WORK/cli.err" >/dev/null
rc=$?
check "unknown flag: exit 2, one line naming it" eq "$rc:$(wc -l <"$WORK/cli.err"):$(grep -c -- --bogus "$WORK/cli.err")" "2:1:1"
"$BIN" serve --tls-cert "$WORK/nope.crt" --tls-key "$PKI/srv1.key" 2>"$WORK/cli.err" >/dev/null
rc=$?
check "unreadable file: exit 2, one line naming it" eq "$rc:$(wc -l <"$WORK/cli.err"):$(grep -c nope.crt "$WORK/cli.err")" "2:1:1"
"$BIN" serve --listen nowhere --tls-cert "$PKI/srv1.crt" --tls-key "$PKI/srv1.key" 2>"$WORK/cli.err" >/dev/null
rc=$?
check "bad --listen: exit 2 naming the flag" eq "$rc:$(grep -c -- --listen "$WORK/cli.err")" "2:1"
"$BIN" serve --listen 127.0.0.1:0 --metrics-listen off --tls-cert "$PKI/srv1.crt" --tls-key "$PKI/srv2.key" \
	2>"$WORK/cli.err" >/dev/null
rc=$?
check "key not matching the certificate: refuses to start (exit 2)" eq "$rc" 2

# ---- servers that run while the rest is tested ----
# main: built-in policy (or the file's defaults), default limits
start main --tls-cert "$PKI/srv1.crt" --tls-key "$PKI/srv1.key" --shutdown-delay 2
# a certificate that expires while the suite runs
start exp --tls-cert "$PKI/short.crt" --tls-key "$PKI/short.key" --reload-interval 0.2
check "exp: ready while its certificate is valid" eq "$(status exp /readyz)" 200
# short request deadline and idle timeout
start slow --tls-cert "$PKI/srv1.crt" --tls-key "$PKI/srv1.key" --request-timeout $((2 * TS)) --idle-timeout $((3 * TS))
"$PY" "$CLIENT" slowloris --port "${PORT[slow]:-0}" --cacert "$CA" --interval 0.25 --max $((10 * SLOW)) >"$WORK/slow-headers.json" &
BG+=($!)
"$PY" "$CLIENT" slowloris --port "${PORT[slow]:-0}" --cacert "$CA" --interval 0.25 --max $((10 * SLOW)) --body-only >"$WORK/slow-body.json" &
BG+=($!)
"$PY" "$CLIENT" slowloris --port "${MPORT[slow]:-0}" --plain --interval 0.25 --max $((10 * SLOW)) >"$WORK/slow-metrics.json" &
BG+=($!)
"$PY" "$CLIENT" linger --port "${PORT[slow]:-0}" --cacert "$CA" --body "$FIX/pod-meshed.json" --max $((10 * SLOW)) >"$WORK/linger.json" &
BG+=($!)
"$PY" "$CLIENT" loop --port "${PORT[slow]:-0}" --cacert "$CA" --body "$FIX/pod-meshed.json" --path /validate/namespace/sidecar \
	--duration 3 --reconnect 20 >"$WORK/slow-good.json" &
BG+=($!)

# ---- verdicts: each rule, each route ----
check "default SA pod denied on /validate, both rules named" \
	verdict main /validate pod-default-sa false --rules default-service-account,mesh-injection
check "injected pod with its own SA allowed on /validate/namespace/sidecar" \
	verdict main /validate/namespace/sidecar pod-meshed true
check "deployment not in the mesh denied on /validate/namespace/none (mesh-injection only)" \
	verdict main /validate/namespace/none deployment-unmeshed false --rules mesh-injection --absent default-service-account
check "same deployment denied on /validate/namespace/disabled" \
	verdict main /validate/namespace/disabled deployment-unmeshed false --rules mesh-injection
check "same deployment allowed on /validate/namespace/sidecar" \
	verdict main /validate/namespace/sidecar deployment-unmeshed true
for r in none/ambient disabled/ambient sidecar/ambient; do
	check "same deployment allowed on /validate/namespace/$r" verdict main "/validate/namespace/$r" deployment-unmeshed true
done
check "allow-all AuthorizationPolicy denied" \
	verdict main /validate authz-allow-all false --rules authorization-policy-wildcard
check "deny-all AuthorizationPolicy (spec: {}) allowed" verdict main /validate authz-deny-all true
check "v1 review: uid and apiVersion echoed" verdict main /validate/namespace/sidecar pod-meshed true
check "v1beta1 review: uid and apiVersion echoed" verdict main /validate/namespace/sidecar pod-meshed-v1beta1 true
code=$(CT='application/json; charset=utf-8' post main /validate "$FIX/pod-meshed.json" "$WORK/ct.json" -D "$WORK/ct.hdr")
check "Content-Type application/json; charset=utf-8 accepted" eq "$code" 200
check "a judged review answers Content-Type: application/json" grep -qi '^content-type: application/json' "$WORK/ct.hdr"

# ---- error statuses ----
printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":' >"$WORK/bad.json"
code=$(post main /validate "$WORK/bad.json" "$WORK/err.json")
check "400 for a body that is not JSON" eq "$code" 400
check "400 answer carries the reason" "$PY" "$CHECK" error "$WORK/err.json" 400
printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}' >"$WORK/bad2.json"
code=$(post main /validate "$WORK/bad2.json" "$WORK/err.json")
check "400 for a review whose uid is not a string, reason names the field" \
	eq "$code:$("$PY" "$CHECK" json "$WORK/err.json" '"request.uid" in d["error"]' && echo named)" "400:named"
check "404 for an unknown path" eq "$(status main /nope)" 404
check "404 for an unknown namespace mode" eq "$(post main /validate/namespace/bogus "$FIX/pod-meshed.json" "$WORK/err.json")" 404
check "404 answer carries the reason" "$PY" "$CHECK" error "$WORK/err.json" 404
code=$(curl -sS --max-time 10 --cacert "$CA" -D "$WORK/405.hdr" -o "$WORK/err.json" -w '%{http_code}' "https://127.0.0.1:${PORT[main]:-0}/validate")
check "405 for GET /validate, with Allow: POST" eq "$code:$(grep -ci '^allow: POST' "$WORK/405.hdr")" "405:1"
code=$(curl -sS --max-time 10 --cacert "$CA" -X DELETE -D "$WORK/405.hdr" -o /dev/null -w '%{http_code}' "https://127.0.0.1:${PORT[main]:-0}/readyz")
check "405 for DELETE /readyz, with Allow" eq "$code:$(grep -ci '^allow: GET' "$WORK/405.hdr")" "405:1"
code=$(CT=text/plain post main /validate "$FIX/pod-meshed.json" "$WORK/err.json")
check "415 for Content-Type text/plain" eq "$code" 415
code=$(CT='application/json; charset=latin1' post main /validate "$FIX/pod-meshed.json" "$WORK/err.json")
check "415 for a charset other than UTF-8" eq "$code" 415
code=$(post main /validate "$FIX/pod-meshed.json" "$WORK/err.json" -H 'Content-Type: text/plain')
check "415 for two Content-Type headers" eq "$code" 415
code=$(curl -sS --max-time 10 --cacert "$CA" --data-binary @"$FIX/pod-meshed.json" -H 'Content-Type:' -o /dev/null -w '%{http_code}' "https://127.0.0.1:${PORT[main]:-0}/validate")
check "415 without Content-Type" eq "$code" 415
head -c $((8 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$WORK/big.json"
code=$(curl -sS --max-time 20 --cacert "$CA" -H 'Content-Type: application/json' --data-binary @"$WORK/big.json" \
	-o "$WORK/err.json" -w '%{http_code} %{size_upload}' "https://127.0.0.1:${PORT[main]:-0}/validate")
check "413 from Content-Length (8 MiB + 1), refused before the body is sent" \
	"$PY" -c 'import sys; c, up = sys.argv[1].split(); sys.exit(0 if c == "413" and int(up) < 8*1024*1024 else 1)' "$code"
check "413 answer carries the reason" "$PY" "$CHECK" error "$WORK/err.json" 413
code=$(post main /validate "$WORK/big.json" "$WORK/err.json" -H 'Transfer-Encoding: chunked')
check "413 for a chunked body over the limit" eq "$code" 413
code=$(post main /validate "$FIX/pod-meshed.json" "$WORK/chunked.json" -H 'Transfer-Encoding: chunked')
check "a chunked review under the limit is judged" eq "$code" 200
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[main]:-0}/healthz" 2>/dev/null)
check "plain HTTP on the TLS port gets no answer" ne "$code" 200

# ---- keep-alive, probes ----
curl -sv --max-time 20 --cacert "$CA" -H 'Content-Type: application/json' --data-binary @"$FIX/pod-meshed.json" \
	"https://127.0.0.1:${PORT[main]:-0}/validate/namespace/sidecar" "https://127.0.0.1:${PORT[main]:-0}/validate/namespace/sidecar/ambient" \
	>"$WORK/ka.out" 2>"$WORK/ka.err"
check "keep-alive: two reviews in one curl reuse the connection" \
	eq "$(grep -c 'Re-using existing connection' "$WORK/ka.err"):$(grep -o '"allowed":true' "$WORK/ka.out" | wc -l)" "1:2"
check "TLS /healthz 200" eq "$(status main /healthz)" 200
check "TLS /readyz 200" eq "$(status main /readyz)" 200
check "metrics /healthz 200" eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${MPORT[main]:-0}/healthz")" 200
check "metrics /readyz 200" eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${MPORT[main]:-0}/readyz")" 200

# ---- metrics move ----
scrape main "$WORK/m1.txt"
for i in 1 2 3; do post main /validate "$FIX/pod-default-sa.json" /dev/null >/dev/null; done
post main /validate/namespace/sidecar "$FIX/pod-meshed.json" /dev/null >/dev/null
status main /nope >/dev/null
scrape main "$WORK/m2.txt"
delta() { echo $(($(metric "$WORK/m2.txt" "$1") - $(metric "$WORK/m1.txt" "$1"))); }
check "metrics: reviews_total{Pod,CREATE,deny} +3" eq "$(delta 'posture_admission_reviews_total{kind="Pod",operation="CREATE",decision="deny"}')" 3
check "metrics: reviews_total{Pod,CREATE,allow} +1" eq "$(delta 'posture_admission_reviews_total{kind="Pod",operation="CREATE",decision="allow"}')" 1
check "metrics: rule_violations_total{default-service-account,deny} +3" \
	eq "$(delta 'posture_rule_violations_total{rule="default-service-account",action="deny"}')" 3
check "metrics: duration histogram count +4" eq "$(delta 'posture_admission_duration_seconds_count')" 4
check "metrics: http_errors_total{404} +1" eq "$(delta 'posture_http_errors_total{code="404"}')" 1
check "metrics: http_errors_total{413} counted" gt "$(metric "$WORK/m2.txt" 'posture_http_errors_total{code="413"}')" 0
check "metrics: build_info" grep -q '^posture_build_info{version="[^"]*"} 1$' "$WORK/m2.txt"
notafter=$(date -u -d "$(openssl x509 -noout -enddate -in "$PKI/srv1.crt" | cut -d= -f2)" +%s)
check "metrics: certificate expiry = notAfter" eq "$(metric "$WORK/m2.txt" posture_tls_certificate_expiry_timestamp_seconds)" "$notafter"
check "metrics: Prometheus text content type" \
	grep -qi 'content-type: text/plain; version=0.0.4' <(curl -sS -D - -o /dev/null "http://127.0.0.1:${MPORT[main]:-0}/metrics")

# ---- TLS: versions, ciphers ----
check "TLS 1.3 accepted" eq "$(status main /healthz --tlsv1.3)" 200
check "TLS 1.2 accepted" eq "$(status main /healthz --tlsv1.2 --tls-max 1.2)" 200
tls11() { # PORT: does gnutls-cli complete a TLS 1.1 handshake?
	timeout 10 gnutls-cli --insecure --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.1' -p "$1" 127.0.0.1 </dev/null 2>&1 |
		grep -q 'Handshake was completed'
}
ctl=$(free_port)
gnutls-serv --x509certfile "$PKI/srv1.crt" --x509keyfile "$PKI/srv1.key" -p "$ctl" \
	--priority 'NORMAL:-VERS-ALL:+VERS-TLS1.1' >"$WORK/gnutls-serv.log" 2>&1 &
BG+=($!)
for ((i = 0; i < 50 * SLOW; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$ctl") 2>/dev/null && break; sleep 0.1; done
check "positive control: gnutls-cli completes TLS 1.1 with a TLS 1.1 server" tls11 "$ctl"
check "TLS 1.1 refused (gnutls-cli)" eval '! tls11 "${PORT[main]:-0}"'
ossl11() { echo | timeout 10 openssl s_client -connect "127.0.0.1:$1" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' 2>&1 | grep -q 'New, TLSv1'; }
check "positive control: openssl at SECLEVEL=0 speaks TLS 1.1 to it too" ossl11 "$ctl"
check "TLS 1.1 refused (openssl s_client -tls1_1, SECLEVEL=0)" eval '! ossl11 "${PORT[main]:-0}"'
cipher() { echo | timeout 10 openssl s_client -connect "127.0.0.1:${PORT[main]:-0}" -tls1_2 -cipher "$1" 2>&1 | grep -q "Cipher is $1"; }
check "TLS 1.2 AEAD suite accepted (ECDHE-ECDSA-AES128-GCM-SHA256)" cipher ECDHE-ECDSA-AES128-GCM-SHA256
check "TLS 1.2 CBC suite refused (ECDHE-ECDSA-AES128-SHA)" eval '! cipher ECDHE-ECDSA-AES128-SHA'

# ---- client certificates ----
start mtls --tls-cert "$PKI/srv1.crt" --tls-key "$PKI/srv1.key" --client-ca "$PKI/clientca.crt" --metrics-listen off
check "client CA: no certificate refused" ne "$(status mtls /healthz)" 200
check "client CA: self-signed certificate refused" ne "$(status mtls /healthz --cert "$PKI/self.crt" --key "$PKI/self.key")" 200
check "client CA: certificate from another CA refused" ne "$(status mtls /healthz --cert "$PKI/wrong.crt" --key "$PKI/wrong.key")" 200
check "client CA: no certificate refused over TLS 1.2 too" ne "$(status mtls /healthz --tls-max 1.2)" 200
code=$(post mtls /validate/namespace/sidecar "$FIX/pod-meshed.json" "$WORK/mtls.json" --cert "$PKI/good.crt" --key "$PKI/good.key")
check "client CA: a good certificate gets its verdict" \
	eq "$code:$("$PY" "$CHECK" verdict "$FIX/pod-meshed.json" "$WORK/mtls.json" --allowed true && echo ok)" "200:ok"

# ---- policy reload: file change (ConfigMap symlink swap) and SIGHUP ----
policy() { # FILE SA-ACTION [extra line]: a policy with every rule deny except default-service-account
	cat >"$1" <<EOF
apiVersion: posture.dev/v1alpha1
kind: PosturePolicy
spec:
  rootNamespace: istio-system
  exemptNamespaces: [kube-system, kube-public, kube-node-lease, istio-system]
  rules:
    default-service-account: {action: $2}
    mesh-injection: {action: deny}
    authorization-policy-wildcard: {action: deny}
${3:-}
EOF
}
mkdir -p "$WORK/pcm/..v1" "$WORK/pcm/..v2" "$WORK/pcm/..v3"
policy "$WORK/pcm/..v1/policy.yaml" deny
policy "$WORK/pcm/..v2/policy.yaml" warn
policy "$WORK/pcm/..v3/policy.yaml" warn '  bogusKey: true'
ln -s ..v1 "$WORK/pcm/..data" && ln -s ..data/policy.yaml "$WORK/pcm/policy.yaml"
start pol --tls-cert "$PKI/srv1.crt" --tls-key "$PKI/srv1.key" --policy "$WORK/pcm/policy.yaml" --reload-interval 0.2
check "policy file named in the start-up log" grep -q "\"policy\":\"$WORK/pcm/policy.yaml\"" "$WORK/pol.log"
# in an ambient namespace the pod is in the mesh: only its service account is at fault
check "policy v1 (deny): default SA pod denied" verdict pol /validate/namespace/none/ambient pod-default-sa false --rules default-service-account
swap_data "$WORK/pcm" ..v2
check "file change: reload logged" wait_log pol '"msg":"policy reloaded".*"trigger":"file change"'
check "file change: new policy (warn) answers: allowed with a warning" \
	verdict pol /validate/namespace/none/ambient pod-default-sa true --warns default-service-account
swap_data "$WORK/pcm" ..v3
check "invalid policy: refusal logged" wait_log pol '"level":"error","msg":"policy reload refused, keeping the current policy"'
check "invalid policy: the old policy keeps serving" \
	verdict pol /validate/namespace/none/ambient pod-default-sa true --warns default-service-account
scrape pol "$WORK/mp.txt"
check "metrics: policy_reloads_total success 1, failure 1" \
	eq "$(metric "$WORK/mp.txt" 'posture_policy_reloads_total{result="success"}'):$(metric "$WORK/mp.txt" 'posture_policy_reloads_total{result="failure"}')" "1:1"
policy "$WORK/hup.yaml" deny
start hup --tls-cert "$PKI/srv1.crt" --tls-key "$PKI/srv1.key" --policy "$WORK/hup.yaml" --reload-interval 3600 --metrics-listen off
policy "$WORK/hup.yaml.new" warn && mv "$WORK/hup.yaml.new" "$WORK/hup.yaml"
check "before SIGHUP (no polling): old policy" verdict hup /validate/namespace/none/ambient pod-default-sa false
kill -HUP "${PID[hup]:-0}"
check "SIGHUP: reload logged" wait_log hup '"msg":"policy reloaded".*"trigger":"SIGHUP"'
check "SIGHUP: new policy answers" verdict hup /validate/namespace/none/ambient pod-default-sa true --warns default-service-account

# ---- certificate rotation by symlink swap, under a running client ----
mkdir -p "$WORK/sec/..v1" "$WORK/sec/..v2" "$WORK/sec/..v3"
cp "$PKI/srv1.crt" "$WORK/sec/..v1/tls.crt" && cp "$PKI/srv1.key" "$WORK/sec/..v1/tls.key"
cp "$PKI/srv2.crt" "$WORK/sec/..v2/tls.crt" && cp "$PKI/srv2.key" "$WORK/sec/..v2/tls.key"
cp "$PKI/srv3.crt" "$WORK/sec/..v3/tls.crt" && cp "$PKI/srv2.key" "$WORK/sec/..v3/tls.key"   # mismatched pair
ln -s ..v1 "$WORK/sec/..data" && ln -s ..data/tls.crt "$WORK/sec/tls.crt" && ln -s ..data/tls.key "$WORK/sec/tls.key"
start rot --tls-cert "$WORK/sec/tls.crt" --tls-key "$WORK/sec/tls.key" --reload-interval 0.2
served_serial() {
	echo | timeout 10 openssl s_client -connect "127.0.0.1:${PORT[rot]:-0}" -servername localhost 2>/dev/null |
		openssl x509 -noout -serial | sed 's/^serial=//; s/^0*//'
}
check "rotation: serves the first certificate" eq "$(served_serial)" "$(serial_of "$PKI/srv1.crt")"
"$PY" "$CLIENT" loop --port "${PORT[rot]:-0}" --cacert "$CA" --body "$FIX/pod-meshed.json" --path /validate/namespace/sidecar \
	--duration $((60 * SLOW)) --reconnect 3 --stop-file "$WORK/rot.stop" >"$WORK/rot-loop.json" &
rot_loop=$!
BG+=($rot_loop)
sleep 0.7
swap_data "$WORK/sec" ..v2
check "rotation: logged with the new serial" wait_log rot "\"msg\":\"TLS certificate rotated\".*\"serial\":\"0*$(serial_of "$PKI/srv2.crt")\""
sleep 0.7
touch "$WORK/rot.stop"
wait "$rot_loop"
check "rotation: zero failed requests in the client loop" "$PY" "$CHECK" json "$WORK/rot-loop.json" 'd["failed"] == 0 and d["ok"] > 10'
check "rotation: the client saw both certificates" "$PY" "$CHECK" json "$WORK/rot-loop.json" \
	"set(s.lstrip('0') for s in d['serials']) == {'$(serial_of "$PKI/srv1.crt")', '$(serial_of "$PKI/srv2.crt")'}"
check "rotation: the new certificate is served afterwards (openssl s_client)" eq "$(served_serial)" "$(serial_of "$PKI/srv2.crt")"
swap_data "$WORK/sec" ..v3
check "rotation: a mismatched pair is refused with a log line" wait_log rot 'new TLS certificate refused, keeping the current one'
check "rotation: the previous pair keeps serving" eq "$(served_serial)" "$(serial_of "$PKI/srv2.crt")"
check "rotation: still ready" eq "$(status rot /readyz)" 200

# ---- deadlines (started at the top) ----
for j in "${BG[@]:0:5}"; do wait "$j" 2>/dev/null; done
check "slowloris (headers one byte at a time) cut by the 2 s request deadline" \
	between "$(jfield "$WORK/slow-headers.json" closed_after)" 1.5 $((4 * SLOW))
check "slowloris (body one byte at a time) cut by the 2 s request deadline" \
	between "$(jfield "$WORK/slow-body.json" closed_after)" 1.5 $((4 * SLOW))
check "slowloris on the metrics listener cut too" \
	between "$(jfield "$WORK/slow-metrics.json" closed_after)" 1.5 $((4 * SLOW))
check "a good client meanwhile: every review answered" "$PY" "$CHECK" json "$WORK/slow-good.json" 'd["failed"] == 0 and d["ok"] > 5'
check "an idle keep-alive connection is closed after the idle timeout (3 s)" \
	between "$(jfield "$WORK/linger.json" closed_after)" 2.5 $((6 * SLOW))
check "request deadline logged and counted" grep -q 'request deadline exceeded' "$WORK/slow.log"

# ---- expired certificate (started at the top) ----
exp_end=$(date -u -d "$(openssl x509 -noout -enddate -in "$PKI/short.crt" | cut -d= -f2)" +%s)
for ((i = 0; i < 200 * SLOW && $(date +%s) <= exp_end; i++)); do sleep 0.1; done
check "expired certificate: logged" wait_log exp '"msg":"TLS certificate expired'
check "expired certificate: /readyz fails" eq "$(status exp /readyz --insecure)" 503
check "expired certificate: /readyz on the metrics listener fails" \
	eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${MPORT[exp]:-0}/readyz")" 503
scrape exp "$WORK/me.txt"
check "expired certificate: the expiry metric shows it" "$PY" -c 'import sys,time; sys.exit(0 if 0 < int(sys.argv[1]) <= time.time() else 1)' \
	"$(metric "$WORK/me.txt" posture_tls_certificate_expiry_timestamp_seconds)"

# ---- SIGTERM under a keep-alive client ----
"$PY" "$CLIENT" loop --port "${PORT[main]:-0}" --cacert "$CA" --body "$FIX/pod-default-sa.json" --until-refused \
	--duration $((60 * SLOW)) >"$WORK/term-ka.json" &
t1=$!
"$PY" "$CLIENT" loop --port "${PORT[main]:-0}" --cacert "$CA" --body "$FIX/pod-meshed.json" --path /validate/namespace/sidecar \
	--until-refused --reconnect 4 --duration $((60 * SLOW)) >"$WORK/term-re.json" &
t2=$!
BG+=($t1 $t2)
sleep 0.7
kill -TERM "${PID[main]:-0}"
sleep 0.3
check "SIGTERM: /readyz fails at once (metrics listener)" \
	eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${MPORT[main]:-0}/readyz")" 503
code=$(curl -sS --max-time 10 --cacert "$CA" -D "$WORK/drain.hdr" -o /dev/null -w '%{http_code}' "https://127.0.0.1:${PORT[main]:-0}/readyz")
check "SIGTERM: /readyz fails on the TLS listener, with Connection: close" eq "$code:$(grep -ci '^connection: close' "$WORK/drain.hdr")" "503:1"
wait "$t1" "$t2"
stop main
check "SIGTERM: exit status 0" eq "$STATUS" 0
check "SIGTERM: keep-alive client, zero failed requests" "$PY" "$CHECK" json "$WORK/term-ka.json" 'd["failed"] == 0 and d["ok"] > 0'
check "SIGTERM: reconnecting client, zero failed requests" "$PY" "$CHECK" json "$WORK/term-re.json" 'd["failed"] == 0 and d["ok"] > 0'
check "SIGTERM: answers during the delay carried Connection: close" "$PY" "$CHECK" json "$WORK/term-ka.json" 'd["close"] >= 1'
check "SIGTERM: the clients ended on a refused connection" "$PY" "$CHECK" json "$WORK/term-re.json" 'd["end"].startswith("refused")'
check "SIGTERM: drain and stop logged" eval 'grep -q "\"msg\":\"SIGTERM: draining\"" "$WORK/main.log" && grep -q "\"msg\":\"stopped\"" "$WORK/main.log"'

# ---- logs ----
printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","object":{"a":"%s"' "$SECRET" >"$WORK/leak.json"
start leak --tls-cert "$PKI/srv1.crt" --tls-key "$PKI/srv1.key" --metrics-listen off
post leak /validate "$WORK/leak.json" /dev/null >/dev/null
post leak /validate "$FIX/pod-default-sa.json" /dev/null >/dev/null
stop leak
for name in "${!PID[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null; done
for name in "${!PID[@]}"; do reap "$name"; done
check "logs: every line is one JSON object; review lines carry the review fields" "$PY" "$CHECK" logs "$WORK/main.log"
check "logs: start-up line says where the policy came from" grep -q '"msg":"serving".*"policy":"' "$WORK/main.log"
check "logs: certificate expiry logged at start" grep -q '"msg":"TLS certificate loaded".*"notAfter":"' "$WORK/main.log"
check "logs: a denial names its rules" grep -q '"uid":"e2e-pod-default-sa".*"decision":"deny","rules":"default-service-account,mesh-injection"' "$WORK/main.log"
check "logs: the object body never appears (planted secret absent)" eval '! grep -l "$SECRET" "$WORK"/*.log'
check "every server drained and exited 0 on SIGTERM" \
	eq "$BADEXIT:$(grep -L '"msg":"stopped"' "$WORK"/{pol,hup,rot,slow,exp,mtls,leak}.log | wc -l)" ":0"

if [ "$FAIL" -ne 0 ]; then   # for the test log: what each server said last
	for f in "$WORK"/*.log; do
		echo "---- $(basename "$f") (last 15 lines)" >&2
		tail -n 15 "$f" | cut -c1-400 >&2
	done
fi
echo "SUITE e2e-server: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
