#!/usr/bin/env bash
# check_golden.sh - golden tests for `posture check`: each tests/check/golden/<case>/ holds input
# files (or trees), `args` (the command line after `posture check`, shell-quoted), `expected.out`
# (stdout) and `expected.rc` (exit status); optional `stdin` (fed to standard input, else
# /dev/null) and `expected.err` (stderr, compared when present). Each case runs in its own
# directory, so paths in the output are relative. SARIF's tool.driver.version (the build's git
# version) is replaced by VERSION before comparing; JSON and SARIF outputs must parse, and SARIF
# must conform to the schema's rules (tests/check/sarif_check.py). Then the shipped manifests: `kubectl kustomize
# manifests/base | posture check --policy policies/default.yaml -` must exit 0 (needs kubectl and
# manifests/base; said on stderr and counted neither way when missing).
#
# Run from anywhere (it cds to the repository): POSTURE_BUILD=build bash tests/suites/check_golden.sh
# UPDATE_GOLDEN=1 rewrites expected.out/.rc (and .err where present) from the current binary.
# Prints exactly one final line: "SUITE check-golden: P passed, F failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${POSTURE_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
POSTURE=$BUILD/posture
pass=0
fail=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/posture-check-golden.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

bad() { fail=$((fail + 1)); echo "FAIL $*" >&2; }
finish() {
	echo "SUITE check-golden: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
}
if [ ! -x "$POSTURE" ]; then
	bad "no binary at $POSTURE (make BUILD=... all first)"
	finish
fi

normalize() { # stdout of a case -> stable text
	sed -E 's/("name":"posture","version":)"[^"]*"/\1"VERSION"/'
}

for dir in tests/check/golden/*/; do
	dir=${dir%/}
	name=${dir##*/}
	[ -f "$dir/args" ] || { bad "$name: no args file"; continue; }
	input=/dev/null
	[ -f "$dir/stdin" ] && input=$ROOT/$dir/stdin
	# args is shell syntax (quotes allowed): the case's own test data, not user input
	args=$(cat "$dir/args")
	(
		cd "$dir" || exit 99
		eval "set -- $args"
		POD_NAMESPACE= timeout 60 "$POSTURE" check "$@" <"$input" >"$tmp/out" 2>"$tmp/err"
		echo $? >"$tmp/rc"
	)
	rc=$(cat "$tmp/rc")
	normalize <"$tmp/out" >"$tmp/out.norm"
	if [ "${UPDATE_GOLDEN:-}" = 1 ]; then
		cp "$tmp/out.norm" "$dir/expected.out"
		echo "$rc" >"$dir/expected.rc"
		[ -f "$dir/expected.err" ] && cp "$tmp/err" "$dir/expected.err"
		pass=$((pass + 1))
		continue
	fi
	ok=1
	if [ ! -f "$dir/expected.out" ] || ! cmp -s "$dir/expected.out" "$tmp/out.norm"; then
		bad "$name: stdout differs from expected.out"
		diff -u "$dir/expected.out" "$tmp/out.norm" 2>&1 | head -30 >&2
		ok=0
	fi
	want_rc=$(cat "$dir/expected.rc" 2>/dev/null || echo missing)
	if [ "$rc" != "$want_rc" ]; then
		bad "$name: exit status $rc, expected $want_rc"
		head -5 "$tmp/err" >&2
		ok=0
	fi
	if [ -f "$dir/expected.err" ] && ! cmp -s "$dir/expected.err" "$tmp/err"; then
		bad "$name: stderr differs from expected.err"
		diff -u "$dir/expected.err" "$tmp/err" 2>&1 | head -20 >&2
		ok=0
	fi
	# JSON and SARIF outputs must parse; SARIF must conform to the 2.1.0 schema's rules
	case " $args " in
	*" -o json "* | *" -o sarif "* | *"--output=json"* | *"--output=sarif"*)
		if ! python3 -c 'import json,sys; json.load(sys.stdin)' <"$tmp/out" 2>"$tmp/jerr"; then
			bad "$name: output is not JSON: $(head -1 "$tmp/jerr")"
			ok=0
		fi ;;
	esac
	case " $args " in
	*" -o sarif "* | *"--output=sarif"*)
		if ! python3 tests/check/sarif_check.py <"$tmp/out" >"$tmp/serr" 2>&1; then
			bad "$name: SARIF does not conform: $(head -3 "$tmp/serr")"
			ok=0
		fi ;;
	esac
	[ "$ok" = 1 ] && pass=$((pass + 1))
done

# The shipped manifests pass with the shipped policy.
if [ "${UPDATE_GOLDEN:-}" != 1 ]; then
	if ! command -v kubectl >/dev/null 2>&1; then
		echo "SKIP shipped manifests: kubectl is not installed (kubectl kustomize builds manifests/base)" >&2
	elif [ ! -f manifests/base/kustomization.yaml ] || [ ! -f policies/default.yaml ]; then
		echo "SKIP shipped manifests: manifests/base or policies/default.yaml does not exist yet" >&2
	elif ! timeout 60 kubectl kustomize manifests/base >"$tmp/base.yaml" 2>"$tmp/kerr"; then
		bad "shipped manifests: kubectl kustomize manifests/base failed: $(head -3 "$tmp/kerr")"
	else
		timeout 60 "$POSTURE" check --policy policies/default.yaml - <"$tmp/base.yaml" >"$tmp/out" 2>&1
		rc=$?
		if [ "$rc" -eq 0 ] && grep -q '^posture check: .* 0 broken; findings: 0 deny' "$tmp/out"; then
			pass=$((pass + 1))
		else
			bad "shipped manifests: posture check exited $rc"
			head -20 "$tmp/out" >&2
		fi
	fi
fi
finish
