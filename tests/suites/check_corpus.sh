#!/usr/bin/env bash
# check_corpus.sh - `posture check` over the real-world corpus (tests/corpus/): every object's
# verdict as tests/corpus/expected-verdicts.tsv states it, with the deviations explained in
# tests/check/corpus-overrides.tsv. The work is in tests/check/corpus_check.py (python3, stdlib).
# Prints "SUITE check-corpus: P passed, F failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${POSTURE_BUILD:-build}
if [ ! -x "$BUILD/posture" ]; then
	echo "FAIL no binary at $BUILD/posture" >&2
	echo "SUITE check-corpus: 0 passed, 1 failed"
	exit 1
fi
out=$(timeout 600 python3 tests/check/corpus_check.py "$BUILD/posture")
rc=$?
printf '%s\n' "$out" | grep '^FAIL' >&2
line=$(printf '%s\n' "$out" | tail -n 1)
case $line in
"corpus: "*" passed, "*" failed")
	p=${line#corpus: }; p=${p%% passed*}
	f=${line##*passed, }; f=${f%% failed}
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1 ;;
*)
	printf '%s\n' "$out" | tail -5 >&2
	p=0 f=1 ;;
esac
echo "SUITE check-corpus: $p passed, $f failed"
[ "$f" -eq 0 ]
