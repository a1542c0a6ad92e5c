#!/usr/bin/env bash
# suite: once   (the partition proof is Python; the renderer runs under ASan in test_manifests)
# vwc.sh - the rendered ValidatingWebhookConfiguration, evaluated the way the apiserver does over
# a table of namespaces, requesters, resources and operations (vwc_partition.py says how).
# Prints "SUITE vwc: P passed, F failed".
cd "$(dirname "$0")/../.." || exit 1
export POSTURE_BUILD=${POSTURE_BUILD:-build}
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import yaml' 2>/dev/null; then
	echo "vwc: python3 with PyYAML is required (make deps installs python3-yaml)" >&2
	echo "SUITE vwc: 0 passed, 1 failed"
	exit 1
fi
timeout 600 python3 tests/suites/vwc_partition.py
rc=$?
if [ "$rc" -eq 124 ]; then
	echo "vwc: timed out after 600 s" >&2
	echo "SUITE vwc: 0 passed, 1 failed"
fi
exit "$rc"
