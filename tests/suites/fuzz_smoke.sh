#!/usr/bin/env bash
# fuzz_smoke.sh - CI smoke run of every libFuzzer target (tests/fuzz/fuzz_*.c): build each with
# clang-14 and -fsanitize=fuzzer,address,undefined (tests/fuzz/run.sh build), replay its committed
# regressions (tests/fuzz/regressions/TARGET/), then fuzz it from its seeds and dictionary for
# FUZZ_SMOKE_SECONDS (default 10) with new inputs in a throw-away directory. Any crash, leak,
# sanitizer report or broken invariant fails the target. Prints the executions per target, and
# last "SUITE fuzz-smoke: P passed, F failed". The targets are sanitizer builds already, so:
# suite: once
set -u
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SMOKE_SECONDS:-10}
export FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
PASS=0
FAIL=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/posture-fuzz-smoke.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

bash tests/fuzz/run.sh build 2>"$WORK/build.log"
rc=$?
grep -E '^(built|BUILD-)' "$WORK/build.log" >&2
if [ "$rc" -eq 99 ]; then
	cat "$WORK/build.log" >&2
	echo "SUITE fuzz-smoke: 0 passed, 1 failed"
	exit 1
fi
targets=()
for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c | sed 's/^fuzz_//')"); done
for t in "${targets[@]}"; do
	if grep -q "^BUILD-FAILED $t\$\|^BUILD-WARNINGS $t\$" "$WORK/build.log"; then
		grep -B20 "^BUILD-\(FAILED\|WARNINGS\) $t\$" "$WORK/build.log" | tail -n 20 >&2
		echo "FAIL fuzz_$t: does not build cleanly" >&2
		FAIL=$((FAIL + 1))
		continue
	fi
	# run.sh replays the regressions first, then fuzzes; its last line is the summary row
	out=$(FUZZ_SECONDS=$SECS FUZZ_WORK="$WORK" FUZZ_NICE=0 bash tests/fuzz/run.sh run "$t" 2>"$WORK/run-$t.err" | tail -n 1)
	read -r name execs secs result <<<"$out"
	nreg=$(find "tests/fuzz/regressions/$t" -type f 2>/dev/null | wc -l)
	if [ "${result:-}" = ok ] && [ "${execs:-0}" -gt 0 ]; then
		PASS=$((PASS + 1))
		echo "ok   fuzz_$t: $execs executions in ${secs}s, $nreg regression inputs replayed" >&2
	else
		FAIL=$((FAIL + 1))
		echo "FAIL fuzz_$t: ${result:-no result} after ${execs:-0} executions ($nreg regression inputs)" >&2
		tail -n 40 "$WORK/run-$t.err" >&2
		for c in "$WORK"/crashes/"$t"-*; do
			[ -f "$c" ] || continue
			mkdir -p build/test-logs
			cp "$c" build/test-logs/ && echo "     crash input kept: build/test-logs/$(basename "$c")" >&2
		done
	fi
	echo "fuzz_$t executions=${execs:-0} seconds=${secs:-0} result=${result:-none}"
done
echo "SUITE fuzz-smoke: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
