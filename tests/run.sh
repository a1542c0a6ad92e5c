#!/usr/bin/env bash
# run.sh - `make test`: build, run every suite once normally and once under ASan+UBSan, and end
# with one line "N passed, N failed" over all of it.
#
# A suite is a unit-test binary (tests/unit/test_*.c) or a script tests/suites/*.sh; each prints
# "SUITE name: P passed, F failed". A suite that dies without that line counts as one failure.
# Scripts get POSTURE_BUILD (the build directory) and POSTURE_PASS (normal|asan). A script with the
# line "# suite: once" runs in the normal pass only (it tests no C code of ours).
set -u
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)
total_pass=0
total_fail=0
log_dir=build/test-logs
mkdir -p "$log_dir"

record() { # name output rc seconds
	local name=$1 out=$2 rc=$3 secs=${4:-0} line p f
	line=$(printf '%s\n' "$out" | grep -E '^SUITE .*: [0-9]+ passed, [0-9]+ failed' | tail -n 1)
	if [ -z "$line" ]; then
		echo "FAIL  $name: no result line (exit $rc)"
		total_fail=$((total_fail + 1))
		return
	fi
	p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1/')
	f=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\2/')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		line="$line (but exit $rc)"
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	if [ "$f" -eq 0 ]; then echo "ok    $line (${secs}s)"; else echo "FAIL  $line (${secs}s)"; fi
}

run_pass() { # pass build
	local pass=$1 build=$2 t name out rc logf
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		name="$pass/$(basename "$t")"
		logf="$log_dir/$pass-$(basename "$t").log"
		t0=$(date +%s)
		out=$(cd "$PWD" && POSTURE_BUILD=$build POSTURE_PASS=$pass timeout 600 "$t" 2>"$logf")
		rc=$?
		[ "$rc" -ne 0 ] && tail -n 40 "$logf" >&2
		record "$name" "$out" "$rc" $(( $(date +%s) - t0 ))
	done
	for t in tests/suites/*.sh; do
		[ -f "$t" ] || continue
		if [ "$pass" != normal ] && grep -q '^# suite: once' "$t"; then continue; fi
		name="$pass/$(basename "$t" .sh)"
		logf="$log_dir/$pass-$(basename "$t" .sh).log"
		t0=$(date +%s)
		out=$(POSTURE_BUILD=$build POSTURE_PASS=$pass timeout 900 bash "$t" 2>"$logf")
		rc=$?
		[ "$rc" -ne 0 ] && tail -n 40 "$logf" >&2
		record "$name" "$out" "$rc" $(( $(date +%s) - t0 ))
	done
}

start=$(date +%s)
echo "== build (normal)"
if ! make -s -j"$JOBS" BUILD=build all tests >"$log_dir/build-normal.log" 2>&1; then
	cat "$log_dir/build-normal.log" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
if grep -q 'warning:' "$log_dir/build-normal.log"; then
	grep 'warning:' "$log_dir/build-normal.log" >&2
	echo "FAIL  build: compiler warnings"
	total_fail=$((total_fail + 1))
fi
echo "== suites (normal)"
run_pass normal build

echo "== build (ASan+UBSan)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if ! make -s -j"$JOBS" BUILD=build-asan CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" all tests >"$log_dir/build-asan.log" 2>&1; then
	cat "$log_dir/build-asan.log" >&2
	total_fail=$((total_fail + 1))
else
	echo "== suites (ASan+UBSan)"
	run_pass asan build-asan
fi
echo "(took $(( $(date +%s) - start )) s; logs in $log_dir)"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
