#!/usr/bin/env bash
# certs.sh - `posture certs` end to end: generate (checked by openssl verify and x509 -text), file
# modes, refusal to overwrite, CA reuse; inspect and check on good, expired, SAN-less, missing-SAN,
# mismatched and garbage inputs; flags and exit codes. Env: POSTURE_BUILD (holds `posture`).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${POSTURE_BUILD:-build}
case $B in /*) ;; *) B="$ROOT/$B" ;; esac
P="$B/posture"
pass=0
fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/posture-certs-suite.XXXXXX") || { echo "SUITE certs-cli: 0 passed, 1 failed"; exit 1; }
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM

finish() {
	echo "SUITE certs-cli: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
}
ok() { pass=$((pass + 1)); }
bad() {
	fail=$((fail + 1))
	echo "FAIL: $*" >&2
}
show() { sed 's/^/  | /' "$T/out" "$T/err" >&2; }

# t NAME WANT_RC CMD...: run CMD (time-bounded, stdin from /dev/null); stdout in $T/out, stderr in $T/err
t() {
	local name=$1 want=$2 rc
	shift 2
	timeout 60 "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if [ "$rc" -eq "$want" ]; then ok; else
		bad "$name: exit $rc, want $want"
		show
	fi
}
# p ARGS...: t for `posture certs ARGS...`
p() {
	local name=$1 want=$2
	shift 2
	t "$name" "$want" "$P" certs "$@"
}
out_has() { if grep -qF -- "$2" "$T/out"; then ok; else bad "$1: stdout lacks '$2'"; show; fi; }
out_lacks() { if grep -qF -- "$2" "$T/out"; then bad "$1: stdout has '$2'"; show; else ok; fi; }
err_has() { if grep -qF -- "$2" "$T/err"; then ok; else bad "$1: stderr lacks '$2'"; show; fi; }
# err_line NAME TEXT: stderr is exactly one line and holds TEXT (the flag or file it names)
err_line() {
	if [ "$(wc -l <"$T/err")" -eq 1 ] && grep -qF -- "$2" "$T/err"; then ok; else
		bad "$1: stderr is not one line naming '$2'"
		show
	fi
}
check() { # NAME CMD...: CMD succeeds
	local name=$1
	shift
	if timeout 60 "$@" >/dev/null 2>&1 </dev/null; then ok; else bad "$name"; fi
}
check_not() {
	local name=$1
	shift
	if timeout 60 "$@" >/dev/null 2>&1 </dev/null; then bad "$name"; else ok; fi
}
mode() { stat -c %a "$1" 2>/dev/null; }
eq() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
sum() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

if [ ! -x "$P" ]; then
	bad "no executable $P"
	finish
fi
if ! command -v openssl >/dev/null; then
	bad "the openssl CLI is missing (make deps)"
	finish
fi
if ! timeout 60 sh "$ROOT/tests/fixtures/certs/gen.sh" "$T/fx" >"$T/gen.log" 2>&1; then
	bad "tests/fixtures/certs/gen.sh failed"
	cat "$T/gen.log" >&2
	finish
fi
FX=$T/fx
G=$T/gen/out
SVC=posture.posture-system.svc

# ---- generate ----
p "generate" 0 generate --service posture --namespace posture-system --out "$G"
out_has "generate output" "wrote $G/tls.crt"
out_has "generate output" "names: posture, posture.posture-system, $SVC, $SVC.cluster.local"
for f in ca.crt ca.key tls.crt tls.key; do
	if [ -f "$G/$f" ]; then ok; else bad "generate: $f missing"; fi
done
eq "ca.key mode" "$(mode "$G/ca.key")" 600
eq "tls.key mode" "$(mode "$G/tls.key")" 600
eq "ca.crt mode" "$(mode "$G/ca.crt")" 644
eq "tls.crt mode" "$(mode "$G/tls.crt")" 644
eq "created out dir mode" "$(mode "$G")" 700

t "openssl verify (serverAuth, $SVC)" 0 openssl verify -CAfile "$G/ca.crt" -purpose sslserver \
	-verify_hostname "$SVC" "$G/tls.crt"
out_has "openssl verify" "tls.crt: OK"
for h in posture posture.posture-system "$SVC.cluster.local"; do
	check "openssl verify -verify_hostname $h" openssl verify -CAfile "$G/ca.crt" -purpose sslserver \
		-verify_hostname "$h" "$G/tls.crt"
done
check_not "openssl verify refuses another name" openssl verify -CAfile "$G/ca.crt" \
	-verify_hostname other.posture-system.svc "$G/tls.crt"
check_not "openssl verify refuses another CA" openssl verify -CAfile "$FX/ca.crt" "$G/tls.crt"

t "x509 -text tls.crt" 0 openssl x509 -in "$G/tls.crt" -text -noout
out_has "tls.crt SANs" "DNS:posture, DNS:posture.posture-system, DNS:$SVC, DNS:$SVC.cluster.local"
out_has "tls.crt EKU" "TLS Web Server Authentication"
out_lacks "tls.crt EKU" "TLS Web Client Authentication"
out_has "tls.crt key type" "ASN1 OID: prime256v1"
out_has "tls.crt subject" "Subject: CN = $SVC"
out_has "tls.crt signature" "Signature Algorithm: ecdsa-with-SHA256"
out_has "tls.crt version" "Version: 3 (0x2)"
out_has "tls.crt AKI" "X509v3 Authority Key Identifier"
out_has "tls.crt SKI" "X509v3 Subject Key Identifier"
if grep -A1 'X509v3 Basic Constraints: critical' "$T/out" | grep -q 'CA:FALSE'; then ok; else bad "tls.crt CA:FALSE critical"; fi
if grep -A1 'X509v3 Key Usage: critical' "$T/out" | grep -qx ' *Digital Signature'; then ok; else bad "tls.crt keyUsage critical digitalSignature only"; fi
t "x509 -text ca.crt" 0 openssl x509 -in "$G/ca.crt" -text -noout
if grep -A1 'X509v3 Basic Constraints: critical' "$T/out" | grep -q 'CA:TRUE'; then ok; else bad "ca.crt CA:TRUE critical"; fi
if grep -A1 'X509v3 Key Usage: critical' "$T/out" | grep -qx ' *Certificate Sign, CRL Sign'; then ok; else bad "ca.crt keyUsage"; fi
out_has "ca.crt SKI" "X509v3 Subject Key Identifier"
out_has "ca.crt key type" "ASN1 OID: prime256v1"
out_has "ca.crt subject" "Subject: CN = posture-ca@"
t "pkey tls.key" 0 openssl pkey -in "$G/tls.key" -noout -text
out_has "tls.key type" "ASN1 OID: prime256v1"
if [ "$(openssl pkey -in "$G/tls.key" -pubout 2>/dev/null)" = "$(openssl x509 -in "$G/tls.crt" -noout -pubkey 2>/dev/null)" ]; then ok; else bad "tls.key does not match tls.crt"; fi
if head -n 1 "$G/tls.key" | grep -qx -- '-----BEGIN PRIVATE KEY-----'; then ok; else bad "tls.key is not PKCS#8"; fi

serial=$(openssl x509 -in "$G/tls.crt" -noout -serial | sed 's/^serial=//')
ca_serial=$(openssl x509 -in "$G/ca.crt" -noout -serial | sed 's/^serial=//')
if [[ $serial =~ ^[0-9A-F]{16,34}$ ]]; then ok; else bad "serial '$serial' is not a positive 128-bit number"; fi
if [ "$serial" != "$ca_serial" ]; then ok; else bad "CA and serving serials are equal"; fi
check "tls.crt valid for 364 days" openssl x509 -in "$G/tls.crt" -noout -checkend $((364 * 86400))
check_not "tls.crt not valid for 366 days" openssl x509 -in "$G/tls.crt" -noout -checkend $((366 * 86400))
check "ca.crt valid for 3649 days" openssl x509 -in "$G/ca.crt" -noout -checkend $((3649 * 86400))
check_not "ca.crt not valid for 3651 days" openssl x509 -in "$G/ca.crt" -noout -checkend $((3651 * 86400))

# refusal to overwrite, then --force
before=$(sum "$G/tls.crt")
p "generate again refuses" 2 generate --service posture --namespace posture-system --out "$G"
err_line "generate again refuses" "already exists (use --force to replace it)"
eq "refused generate leaves tls.crt" "$(sum "$G/tls.crt")" "$before"
chmod 644 "$G/tls.key"
p "generate --force" 0 generate --service posture --namespace posture-system --out "$G" --force
if [ "$(sum "$G/tls.crt")" != "$before" ]; then ok; else bad "--force did not replace tls.crt"; fi
eq "tls.key mode after --force" "$(mode "$G/tls.key")" 600
eq "ca.key mode after --force" "$(mode "$G/ca.key")" 600
eq "no stray files after --force" "$(ls -A "$G" | tr '\n' ' ')" "ca.crt ca.key tls.crt tls.key "
serial2=$(openssl x509 -in "$G/tls.crt" -noout -serial | sed 's/^serial=//')
if [ "$serial2" != "$serial" ]; then ok; else bad "a new certificate reused the serial"; fi

# whatever the umask, keys 0600 and certificates 0644
(umask 000 && timeout 60 "$P" certs generate --service a --namespace b --out "$T/umask0" >/dev/null 2>&1)
eq "umask 000: tls.key" "$(mode "$T/umask0/tls.key")" 600
eq "umask 000: ca.key" "$(mode "$T/umask0/ca.key")" 600
(umask 077 && timeout 60 "$P" certs generate --service a --namespace b --out "$T/umask77" >/dev/null 2>&1)
eq "umask 077: tls.crt" "$(mode "$T/umask77/tls.crt")" 644

# reuse a given CA
p "generate with --ca-cert/--ca-key" 0 generate --service web --namespace shop --out "$T/reuse" \
	--ca-cert "$G/ca.crt" --ca-key "$G/ca.key"
if [ ! -e "$T/reuse/ca.key" ]; then ok; else bad "reuse wrote ca.key"; fi
eq "reuse copies ca.crt" "$(sum "$T/reuse/ca.crt")" "$(sum "$G/ca.crt")"
check "reuse: verify against the given CA" openssl verify -CAfile "$G/ca.crt" -purpose sslserver \
	-verify_hostname web.shop.svc "$T/reuse/tls.crt"
# rotate the serving pair in place, next to the CA
ca_before=$(sum "$G/ca.crt")
p "rotate in place" 0 generate --service posture --namespace posture-system --out "$G" \
	--ca-cert "$G/ca.crt" --ca-key "$G/ca.key" --force
out_has "rotate in place" "kept  $G/ca.crt"
eq "rotate keeps ca.crt" "$(sum "$G/ca.crt")" "$ca_before"
check "rotated tls.crt verifies" openssl verify -CAfile "$G/ca.crt" -verify_hostname "$SVC" "$G/tls.crt"
# an RSA-free fixture CA (EC) from the openssl CLI works too
p "reuse the fixture CA" 0 generate --service posture --namespace posture-system --out "$T/fxca" \
	--ca-cert "$FX/ca.crt" --ca-key "$FX/ca.key" --days 30
check "fixture CA: verify" openssl verify -CAfile "$FX/ca.crt" -purpose sslserver "$T/fxca/tls.crt"
p "mismatched CA key" 2 generate --service a --namespace b --out "$T/x1" --ca-cert "$G/ca.crt" \
	--ca-key "$FX/ca.key"
err_line "mismatched CA key" "does not match the CA certificate"
p "a leaf is no CA" 2 generate --service a --namespace b --out "$T/x2" --ca-cert "$FX/good.crt" \
	--ca-key "$FX/good.key"
err_line "a leaf is no CA" "is not a CA certificate"
p "serving cert may not outlive the CA" 2 generate --service a --namespace b --out "$T/x3" \
	--ca-cert "$FX/ca.crt" --ca-key "$FX/ca.key" --days 36500
err_line "outlive the CA" "would outlive the CA"
if [ ! -e "$T/x1/tls.key" ] && [ ! -e "$T/x2/tls.key" ] && [ ! -e "$T/x3/tls.key" ]; then ok; else bad "a refused generate wrote files"; fi

# extra names for local development
p "generate --dns --ip" 0 generate --service posture --namespace dev --out "$T/dev" --dns localhost \
	--ip 127.0.0.1 --ip ::1 --days 10
t "x509 -text dev" 0 openssl x509 -in "$T/dev/tls.crt" -text -noout
out_has "dev SANs" "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
check "dev: verify 127.0.0.1" openssl verify -CAfile "$T/dev/ca.crt" -verify_ip 127.0.0.1 "$T/dev/tls.crt"
check "dev: verify localhost" openssl verify -CAfile "$T/dev/ca.crt" -verify_hostname localhost "$T/dev/tls.crt"
check_not "dev: 10 days, not 11" openssl x509 -in "$T/dev/tls.crt" -noout -checkend $((11 * 86400))

# ---- inspect ----
p "inspect good" 0 inspect "$G/tls.crt" --service posture --namespace posture-system
for line in "subject:       CN=$SVC" "issuer:        CN=posture-ca@" "key:           EC P-256" \
	"DNS names:     posture, posture.posture-system, $SVC, $SVC.cluster.local" \
	"ext usage:     serverAuth" "CA:            no" "days left:     36"; do
	out_has "inspect good" "$line"
done
if grep -Eq '^not after: +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "$T/out"; then ok; else bad "inspect: not after is not RFC 3339 UTC"; show; fi
out_lacks "inspect good" "warning:"
out_lacks "inspect good" "error:"
p "inspect missing SAN" 1 inspect "$G/tls.crt" --service other --namespace posture-system
out_has "inspect missing SAN" "error: no DNS name covers other.posture-system.svc"
p "inspect fixture missing SAN" 1 inspect "$FX/othersan.crt" --service svc --namespace ns
out_has "inspect fixture missing SAN" "DNS names:     other.elsewhere.svc"
p "inspect wildcard covers the SAN" 0 inspect "$FX/wild.crt" --service svc --namespace ns
p "inspect expiring soon" 0 inspect "$T/dev/tls.crt"
out_has "inspect expiring soon" "warning: expires in"
out_has "inspect expiring soon" "IP addresses:  127.0.0.1, ::1"
p "inspect expired" 1 inspect "$FX/expired.crt"
out_has "inspect expired" "error: expired on 2020-12-31T23:59:59Z"
out_has "inspect expired" "not after:     2020-12-31T23:59:59Z"
p "inspect not yet valid" 1 inspect "$FX/future.crt"
out_has "inspect not yet valid" "error: not valid before 2090-01-01T00:00:00Z"
p "inspect SAN-less" 1 inspect "$FX/nosan.crt"
out_has "inspect SAN-less" "DNS names:     (none)"
out_has "inspect SAN-less" "error: no DNS subjectAltName"
p "inspect clientAuth only" 1 inspect "$FX/clientonly.crt"
out_has "inspect clientAuth only" "does not allow serverAuth"
p "inspect a CA" 1 inspect "$G/ca.crt"
out_has "inspect a CA" "CA:            yes (self-signed)"
p "inspect chain" 0 inspect "$FX/chain.crt"
out_has "inspect chain" "2 certificates; the first is shown"
p "inspect DER" 0 inspect "$FX/good.der"
t "inspect stdin" 0 sh -c '"$1" certs inspect - <"$2"' sh "$P" "$G/tls.crt"
out_has "inspect stdin" "subject:       CN=$SVC"
p "inspect garbage" 2 inspect "$FX/garbage.pem"
err_line "inspect garbage" "no certificate found"
p "inspect truncated" 2 inspect "$FX/truncated.crt"
err_line "inspect truncated" "malformed PEM certificate"
p "inspect empty" 2 inspect "$FX/empty.pem"
err_line "inspect empty" "certificate is empty"
p "inspect a key" 2 inspect "$FX/good.key"
p "inspect missing file" 2 inspect "$T/nope.crt"
err_line "inspect missing file" "nope.crt"
p "inspect a directory" 2 inspect "$T"
head -c $((1024 * 1024 + 1)) /dev/zero >"$T/huge.crt"
p "inspect huge" 2 inspect "$T/huge.crt"
err_line "inspect huge" "larger than"
p "inspect --service without --namespace" 2 inspect "$G/tls.crt" --service posture
err_line "inspect --service without --namespace" "--namespace"

# ---- check ----
p "check good" 0 check --cert "$G/tls.crt" --key "$G/tls.key"
out_has "check good" "ok: the key matches the certificate, valid until"
p "check mismatch" 1 check --cert "$G/tls.crt" --key "$T/reuse/tls.key"
out_has "check mismatch" "error: private key does not match the certificate"
p "check RSA" 0 check --cert "$FX/rsa.crt" --key "$FX/rsa.key"
p "check EC traditional" 0 check --cert "$FX/good.crt" --key "$FX/good-trad.key"
p "check expired" 1 check --cert "$FX/expired.crt" --key "$FX/expired.key"
out_has "check expired" "error: certificate expired on 2020-12-31T23:59:59Z"
p "check not yet valid" 1 check --cert "$FX/future.crt" --key "$FX/future.key"
out_has "check not yet valid" "error: certificate is not valid before 2090-01-01T00:00:00Z"
p "check encrypted key" 1 check --cert "$FX/good.crt" --key "$FX/encrypted.key"
out_has "check encrypted key" "encrypted"
p "check garbage key" 1 check --cert "$FX/good.crt" --key "$FX/garbage.pem"
out_has "check garbage key" "error: no private key found"
p "check garbage cert" 1 check --cert "$FX/garbage.pem" --key "$FX/good.key"
p "check expiring soon" 0 check --cert "$T/dev/tls.crt" --key "$T/dev/tls.key"
out_has "check expiring soon" "warning: expires in"
p "check missing key file" 2 check --cert "$G/tls.crt" --key "$T/nope.key"
err_line "check missing key file" "--key: cannot read"
p "check without --key" 2 check --cert "$G/tls.crt"
err_line "check without --key" "--key"

# ---- help and flags ----
p "certs --help" 0 --help
for w in generate inspect check; do out_has "certs --help" "$w"; done
p "generate --help" 0 generate --help
for f in --service --namespace --out --days --ca-days --ca-cert --ca-key --dns --ip --force --help; do
	out_has "generate --help" "$f"
done
p "inspect --help" 0 inspect --help
for f in --service --namespace --help; do out_has "inspect --help" "$f"; done
p "check --help" 0 check --help
for f in --cert --key --help; do out_has "check --help" "$f"; done
p "certs alone" 2
p "unknown command" 2 frob
err_line "unknown command" "frob"
p "unknown flag" 2 generate --bogus
err_line "unknown flag" "--bogus"
p "--days abc" 2 generate --service a --namespace b --out "$T/y" --days abc
err_line "--days abc" "--days"
p "--days 0" 2 generate --service a --namespace b --out "$T/y" --days 0
err_line "--days 0" "--days"
p "--days=99999" 2 generate --service a --namespace b --out "$T/y" --days=99999
err_line "--days=99999" "--days"
p "--ca-days x" 2 generate --service a --namespace b --out "$T/y" --ca-days x
err_line "--ca-days x" "--ca-days"
p "missing --service" 2 generate --namespace b --out "$T/y"
err_line "missing --service" "--service"
p "missing --out" 2 generate --service a --namespace b
err_line "missing --out" "--out"
p "bad --service" 2 generate --service Bad_Name --namespace b --out "$T/y"
err_line "bad --service" "--service"
p "bad --namespace" 2 generate --service a --namespace a.b --out "$T/y"
err_line "bad --namespace" "--namespace"
p "--ca-cert without --ca-key" 2 generate --service a --namespace b --out "$T/y" --ca-cert "$G/ca.crt"
err_line "--ca-cert without --ca-key" "--ca-key"
p "bad --ip" 2 generate --service a --namespace b --out "$T/y" --ip 999.1.1.1
err_line "bad --ip" "--ip"
p "bad --dns" 2 generate --service a --namespace b --out "$T/y" --dns 'a,IP:1.2.3.4'
err_line "bad --dns" "--dns"
p "--service twice" 2 generate --service a --service c --namespace b --out "$T/y"
err_line "--service twice" "--service"
p "--force=yes" 2 generate --service a --namespace b --out "$T/y" --force=yes
err_line "--force=yes" "--force"
p "value missing" 2 generate --service a --namespace b --out
err_line "value missing" "--out"
p "inspect two files" 2 inspect "$G/tls.crt" "$G/ca.crt"
err_line "inspect two files" "ca.crt"
if [ ! -e "$T/y" ]; then ok; else bad "a refused generate created its output directory"; fi

finish
