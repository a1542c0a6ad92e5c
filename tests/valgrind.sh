#!/usr/bin/env bash
# valgrind.sh - `make valgrind`: valgrind memcheck over the unit tests and the end-to-end suite
# (every server it starts runs under valgrind, through e2e_server.sh's POSTURE_WRAPPER hook). Built
# without sanitizers (-O1 -g) in build-valgrind/. A program passes when memcheck reports no errors
# (invalid reads/writes, uses of uninitialised values, bad frees) and no definitely or indirectly
# lost blocks; "still reachable" memory at exit (GnuTLS's and libmicrohttpd's globals) is not a
# leak. Ends with "no leaks, no invalid reads" or the errors, and exits 1 on any.
# Env: VALGRIND_UNIT=0 / VALGRIND_E2E=0 to skip a half; KEEP_WORK=1 keeps the valgrind logs.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=build-valgrind
command -v valgrind >/dev/null 2>&1 || { echo "valgrind: not installed (make deps)" >&2; exit 2; }
echo "valgrind: building $BUILD (-O1 -g, no sanitizers)" >&2
make --no-print-directory -s -j"$(nproc 2>/dev/null || echo 2)" BUILD="$BUILD" CFLAGS="-O1 -g" SAN= all tests >&2 ||
	exit 2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/posture-valgrind.XXXXXX")
trap '[ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"' EXIT
VG="valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect \
--show-leak-kinds=definite,indirect --error-exitcode=99 --num-callers=30 --suppressions=$ROOT/tests/valgrind.supp"
BAD=()
# verdict LOG...: the memcheck logs say no errors and no definite/indirect leak
clean() {
	local f ok=0
	for f in "$@"; do
		[ -s "$f" ] || continue
		if ! grep -q 'ERROR SUMMARY: 0 errors' "$f"; then ok=1; fi
		if grep -qE '(definitely|indirectly) lost: [1-9]' "$f"; then ok=1; fi
	done
	return $ok
}

if [ "${VALGRIND_UNIT:-1}" != 0 ]; then
	for t in "$BUILD"/tests/test_*; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		log=$WORK/$name.vg
		start=$(date +%s)
		out=$(POSTURE_BUILD=$BUILD POSTURE_PASS=valgrind timeout 3600 $VG --log-file="$log" "$t" 2>"$WORK/$name.err")
		rc=$?
		line=$(printf '%s\n' "$out" | grep -E '^SUITE ' | tail -n 1)
		if [ "$rc" -eq 0 ] && clean "$log"; then
			echo "ok    $name under valgrind ($(($(date +%s) - start)) s): ${line:-no SUITE line};" \
				"$(grep -m1 -oE 'in use at exit: [0-9,]+ bytes' "$log")" >&2
		else
			echo "FAIL  $name under valgrind (exit $rc): ${line:-no SUITE line}" >&2
			grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|.*definitely lost|.*indirectly lost|   (at|by) )' "$log" |
				head -n 40 >&2
			BAD+=("$name")
		fi
	done
fi

if [ "${VALGRIND_E2E:-1}" != 0 ]; then
	mkdir -p "$WORK/e2e"
	start=$(date +%s)
	out=$(POSTURE_BUILD=$BUILD POSTURE_PASS=valgrind \
		POSTURE_WRAPPER="$VG --log-file=$WORK/e2e/server.%p.vg" bash tests/suites/e2e_server.sh 2>"$WORK/e2e.err")
	rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^SUITE ' | tail -n 1)
	logs=("$WORK"/e2e/server.*.vg)
	n=$(ls "$WORK"/e2e/server.*.vg 2>/dev/null | wc -l)
	if [ "$rc" -eq 0 ] && [ "$n" -gt 0 ] && clean "${logs[@]}"; then
		freed=$(grep -l 'All heap blocks were freed' "${logs[@]}" | wc -l)
		echo "ok    e2e-server with $n servers under valgrind ($(($(date +%s) - start)) s): $line;" \
			"$freed of $n servers freed every heap block at exit" >&2
	else
		echo "FAIL  e2e-server under valgrind (exit $rc, $n server logs): ${line:-no SUITE line}" >&2
		grep '^FAIL' "$WORK/e2e.err" | head -n 20 >&2
		for f in "${logs[@]}"; do
			clean "$f" && continue
			echo "---- $(basename "$f")" >&2
			grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|.*definitely lost|.*indirectly lost|   (at|by) |ERROR SUMMARY)' "$f" |
				head -n 40 >&2
		done
		BAD+=(e2e-server)
	fi
fi

if [ ${#BAD[@]} -eq 0 ]; then
	echo "valgrind: no leaks, no invalid reads"
	exit 0
fi
echo "valgrind: errors in: ${BAD[*]}"
exit 1
