#!/usr/bin/env bash
# run.sh - build and run the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang-14,
# -fsanitize=fuzzer,address,undefined. `make fuzz-build` / `make fuzz` call it.
#
#   run.sh build [TARGET...]  build the targets (default: all) into $FUZZ_BUILD (default build-fuzz); a target
#                             that does not compile is reported and the others are still built
#   run.sh run [TARGET...]    build, then fuzz each target (default: all) in turn for FUZZ_SECONDS
#                             (default 300) or FUZZ_RUNS executions, whichever comes first, with
#                             its dictionary (tests/fuzz/TARGET.dict), its seeds
#                             (tests/fuzz/corpus/TARGET, read-only) and its regressions replayed
#                             first; new inputs go to tests/fuzz/work/TARGET/, crashes to
#                             tests/fuzz/work/crashes/ (both git-ignored). Ends with one line per
#                             target: executions, seconds, result. Exit 1 if any target crashed.
#   run.sh replay TARGET      run every seed and regression of TARGET once (no fuzzing)
#
# Env: FUZZ_BUILD, FUZZ_CC (clang-14), FUZZ_SECONDS, FUZZ_RUNS, FUZZ_NICE (niceness, default 10),
# FUZZ_MAX_LEN (65536), FUZZ_JOBS (make -j), FUZZ_WORK (tests/fuzz/work). A crash found: copy the input from work/crashes/ to
# tests/fuzz/regressions/TARGET/ (the smoke suite replays it) and fix it.
set -u
cd "$(dirname "$0")/../.."
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_CC=${FUZZ_CC:-clang-14}
FUZZ_SECONDS=${FUZZ_SECONDS:-300}
FUZZ_RUNS=${FUZZ_RUNS:--1}
FUZZ_NICE=${FUZZ_NICE:-10}
FUZZ_MAX_LEN=${FUZZ_MAX_LEN:-65536}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
FUZZ_WORK=${FUZZ_WORK:-tests/fuzz/work}
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

targets_all() {
	local f
	for f in tests/fuzz/fuzz_*.c; do
		[ -f "$f" ] && basename "$f" .c | sed 's/^fuzz_//'
	done
}

# build [TARGET...]: the targets (default: all); prints "built T" or "BUILD-FAILED T" per target on stderr; returns the
# number of failures.
build() {
	local t fails=0
	if ! command -v "$FUZZ_CC" >/dev/null 2>&1; then
		echo "fuzz: $FUZZ_CC not found (make deps installs clang-14 and libclang-rt-14-dev)" >&2
		return 99
	fi
	mkdir -p "$FUZZ_BUILD"
	local want=("$@")
	[ ${#want[@]} -gt 0 ] || mapfile -t want < <(targets_all)
	# one build at a time per build directory (make fuzz and the smoke suite may overlap)
	exec 9>"$FUZZ_BUILD/.build.lock"
	flock 9
	for t in "${want[@]}"; do
		if make -s -j"$FUZZ_JOBS" BUILD="$FUZZ_BUILD" CC="$FUZZ_CC" \
			CFLAGS="-O1 -g -fno-omit-frame-pointer" SAN="$SAN" "$FUZZ_BUILD/fuzz_$t" \
			>"$FUZZ_BUILD/build-$t.log" 2>&1; then
			# the target's own file must be warning-free under clang too; the library's
			# clang-only warnings (gcc is the project's compiler) are shown, not fatal
			grep 'warning:' "$FUZZ_BUILD/build-$t.log" | grep -v "^tests/fuzz/fuzz_$t.c" >&2
			if grep -q "^tests/fuzz/fuzz_$t.c.*warning:" "$FUZZ_BUILD/build-$t.log"; then
				grep "^tests/fuzz/fuzz_$t.c.*warning:" "$FUZZ_BUILD/build-$t.log" >&2
				echo "BUILD-WARNINGS $t" >&2
				fails=$((fails + 1))
			else
				echo "built $t" >&2
			fi
		else
			tail -n 20 "$FUZZ_BUILD/build-$t.log" >&2
			echo "BUILD-FAILED $t" >&2
			fails=$((fails + 1))
		fi
	done
	flock -u 9
	return "$fails"
}

# fuzz T SECONDS RUNS WORKDIR: one libFuzzer run; prints "T EXECS SECONDS ok|CRASH|..." on stdout
fuzz_one() {
	local t=$1 secs=$2 runs=$3 work=$4 bin=$FUZZ_BUILD/fuzz_$t log dict=() regs=() rc execs start
	mkdir -p "$work/$t" "$work/crashes"
	log=$work/fuzz-$t.log
	[ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
	mkdir -p "tests/fuzz/corpus/$t"
	start=$(date +%s)
	# regressions first: each file run once, any failure is a failure of the target
	if [ -d "tests/fuzz/regressions/$t" ] && [ -n "$(ls -A "tests/fuzz/regressions/$t" 2>/dev/null)" ]; then
		regs=(tests/fuzz/regressions/"$t"/*)
		if ! nice -n "$FUZZ_NICE" "$bin" -runs=1 "${regs[@]}" >"$work/regress-$t.log" 2>&1; then
			tail -n 30 "$work/regress-$t.log" >&2
			echo "$t 0 $(($(date +%s) - start)) REGRESSION-FAILED (${#regs[@]} inputs)"
			return 1
		fi
	fi
	nice -n "$FUZZ_NICE" "$bin" "${dict[@]}" -max_len="$FUZZ_MAX_LEN" -timeout=20 -rss_limit_mb=2048 \
		-max_total_time="$secs" -runs="$runs" -print_final_stats=1 \
		-artifact_prefix="$work/crashes/$t-" "$work/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	execs=$(grep -Eo '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -n 1)
	[ -n "$execs" ] || execs=$(grep -Eo '^Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' | tail -n 1)
	if [ "$rc" -ne 0 ]; then
		grep -E 'ERROR|SUMMARY|runtime error|fuzz_[a-z]+:|Test unit written' "$log" | head -n 20 >&2
		echo "$t ${execs:-0} $(($(date +%s) - start)) CRASH (exit $rc; $log)"
		return 1
	fi
	echo "$t ${execs:-0} $(($(date +%s) - start)) ok"
}

cmd=${1:-run}
[ $# -gt 0 ] && shift
case $cmd in
build)
	build "$@"
	exit $?
	;;
replay)
	t=${1:?usage: run.sh replay TARGET}
	build "$t" || true
	files=()
	for d in "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t"; do
		[ -d "$d" ] && [ -n "$(ls -A "$d")" ] && files+=("$d"/*)
	done
	exec "$FUZZ_BUILD/fuzz_$t" -runs=1 "${files[@]}"
	;;
run)
	targets=("$@")
	[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(targets_all)
	build "${targets[@]}"
	bfail=$?
	[ "$bfail" -eq 99 ] && exit 2
	fails=0
	summary=""
	for t in "${targets[@]}"; do
		if [ ! -x "$FUZZ_BUILD/fuzz_$t" ]; then
			summary+="$t 0 0 NOT-BUILT"$'\n'
			fails=$((fails + 1))
			continue
		fi
		echo "fuzz: $t for ${FUZZ_SECONDS}s (runs limit $FUZZ_RUNS)" >&2
		line=$(fuzz_one "$t" "$FUZZ_SECONDS" "$FUZZ_RUNS" "$FUZZ_WORK") || fails=$((fails + 1))
		summary+="$line"$'\n'
	done
	printf '%-10s %12s %8s  %s\n' target executions seconds result
	printf '%s' "$summary" | while read -r t e s r; do printf '%-10s %12s %8s  %s\n' "$t" "$e" "$s" "$r"; done
	[ "$fails" -eq 0 ] && [ "$bfail" -eq 0 ]
	;;
*)
	echo "usage: run.sh build | run [TARGET...] | replay TARGET" >&2
	exit 2
	;;
esac
