#!/bin/sh
# run-dev.sh - `make run`: build, create a development CA and serving certificate under certs/dev/
# (git-ignored) when absent, print a curl command that posts a sample review, then serve on
# 127.0.0.1:8443 (metrics on 127.0.0.1:9090) with policies/default.yaml. Ctrl-C drains and stops
# (a second Ctrl-C stops at once).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=$(nproc 2>/dev/null || echo 2)

make -s -j"$JOBS" BUILD="$BUILD" "$BUILD/posture"

if [ ! -f certs/dev/ca.crt ] || [ ! -f certs/dev/tls.crt ] || [ ! -f certs/dev/tls.key ]; then
	echo "posture: creating a development CA and serving certificate in certs/dev/" >&2
	"$BUILD/posture" certs generate --service posture --namespace posture-system --out certs/dev \
		--dns localhost --ip 127.0.0.1 --force
fi

set -- --listen 127.0.0.1:8443 --metrics-listen 127.0.0.1:9090 \
	--tls-cert certs/dev/tls.crt --tls-key certs/dev/tls.key --shutdown-delay 1
if [ -f policies/default.yaml ]; then
	set -- "$@" --policy policies/default.yaml
fi

cat >&2 <<MSG

posture is starting on https://127.0.0.1:8443 (metrics: http://127.0.0.1:9090/metrics).
In another terminal, post a review of a Pod that runs as the default service account:

  curl --cacert certs/dev/ca.crt -H 'Content-Type: application/json' \\
    --data-binary @tests/samples/pod-default-sa.json https://127.0.0.1:8443/validate

The answer is an AdmissionReview with "allowed": false and a 403 message naming the rules
([default-service-account], [mesh-injection]). Logs follow, one JSON object per line.

MSG
exec "$BUILD/posture" serve "$@"
