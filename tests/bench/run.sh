#!/usr/bin/env bash
# run.sh - `make bench`: build posture (-O2, no sanitizers) and the helpers, make a throw-away
# ECDSA P-256 certificate, then run tests/bench/bench.py (nginx, the MHD ceiling and posture side by
# side) and print its tables. Raw results: build/bench/results.json; tables: build/bench/results.md.
#
# Environment: BENCH_SECONDS (per wrk point, default 10), BENCH_QUICK=1 (about a minute),
# BENCH_CONNS, BENCH_BODIES, BENCH_SERVERS, BENCH_OPENLOOP_SECONDS, BENCH_RATE (see bench.py).
# Every server binds 127.0.0.1 only and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=build/bench
BUILD=$OUT/build            # posture's objects, built here with fixed flags
BIN=$OUT/bin
JOBS=$(nproc 2>/dev/null || echo 2)
CC=${CC:-cc}
WARN="-std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wvla"
OPT="-O2 -g"

for tool in wrk nginx python3 openssl pkg-config; do
	if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
		echo "bench: $tool not found: run \`make deps\` first" >&2
		exit 2
	fi
done

echo "bench: building posture and the helpers (-O2)" >&2
make --no-print-directory -j"$JOBS" BUILD="$BUILD" CFLAGS="$OPT" SAN= "$BUILD/posture" >&2
mkdir -p "$BIN"
# shellcheck disable=SC2046
$CC $WARN $OPT -o "$BIN/mhd_ceiling" tests/bench/mhd_ceiling.c \
	$(pkg-config --cflags --libs libmicrohttpd) -lpthread
# shellcheck disable=SC2046
$CC $WARN $OPT -o "$BIN/openloop" tests/bench/openloop.c $(pkg-config --cflags --libs gnutls)
LIB_OBJ=$(find "$BUILD/obj/webhook" -name '*.o' ! -name main.o | sort)
# shellcheck disable=SC2046,SC2086
$CC $WARN $OPT -Iwebhook $(pkg-config --cflags jansson) -o "$BIN/engine_bench" \
	tests/bench/engine_bench.c $LIB_OBJ \
	$(pkg-config --libs libmicrohttpd gnutls libcrypto jansson yaml-0.1) -lpthread -lm

TMP=$(mktemp -d /tmp/posture-bench.XXXXXX)
PIDS=$TMP/pids
: >"$PIDS"
cleanup() {
	local pid
	while read -r pid; do
		[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	done <"$PIDS"
	sleep 0.2
	while read -r pid; do
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
	done <"$PIDS"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The serving certificate: posture's own generator when it has one, else openssl (same shape:
# ECDSA P-256, SANs localhost, 127.0.0.1 and the in-cluster service name).
CERTS=$TMP/certs
mkdir -p "$CERTS"
if "$BUILD/posture" certs generate --service posture --namespace posture-system --out "$CERTS" \
	--dns localhost --ip 127.0.0.1 >"$TMP/certs.log" 2>&1 && [ -s "$CERTS/tls.crt" ] && [ -s "$CERTS/tls.key" ]; then
	CERT_SOURCE="posture certs generate"
else
	CERT_SOURCE="openssl (posture certs generate unavailable)"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj /CN=posture-bench-ca -keyout "$CERTS/ca.key" -out "$CERTS/ca.crt" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj /CN=posture.posture-system.svc -keyout "$CERTS/tls.key" -out "$CERTS/tls.csr" 2>/dev/null
	printf '%s\n' "subjectAltName=DNS:posture.posture-system.svc,DNS:localhost,IP:127.0.0.1" \
		"basicConstraints=CA:FALSE" "keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" \
		>"$CERTS/ext.cnf"
	openssl x509 -req -in "$CERTS/tls.csr" -CA "$CERTS/ca.crt" -CAkey "$CERTS/ca.key" \
		-CAcreateserial -days 2 -extfile "$CERTS/ext.cnf" -out "$CERTS/tls.crt" 2>/dev/null
fi

python3 tests/bench/bench.py --posture "$BUILD/posture" --bin "$BIN" --out "$OUT" --tmp "$TMP" \
	--pidfile "$PIDS" --cert "$CERTS/tls.crt" --key "$CERTS/tls.key" --ca "$CERTS/ca.crt" \
	--cert-source "$CERT_SOURCE"
