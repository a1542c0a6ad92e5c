#!/usr/bin/env bash
# bench.sh - `posture check` speed against PyYAML's C loader (tests/check/pyyaml-baseline.py) over a
# generated dump (tests/check/gen-dump.py, 10,000 documents by default) in both shapes: a
# kubectl-style List (what `kubectl get -A -o yaml` prints) and a stream of `---` documents.
# Prints, per shape, the median over RUNS runs (default 5) of documents per second, by wall-clock
# time and by CPU time (user + system: steadier on a shared machine), the ratios, and posture's
# median peak RSS. Both programs are timed the same way (/usr/bin/time), runs interleaved.
#   POSTURE_BUILD=build RUNS=5 DOCS=10000 bash tests/check/bench.sh
# Not a suite (PyYAML needs minutes): run it by hand.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${POSTURE_BUILD:-build}
RUNS=${RUNS:-5}
DOCS=${DOCS:-10000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/posture-check-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# timed NAME CMD...: append docs/s by wall and by CPU time, and peak RSS (KB), to $tmp/NAME.*
timed() {
	local name=$1
	shift
	/usr/bin/time -f '%e %U %S %M' -o "$tmp/t" "$@" >/dev/null || true
	tail -n 1 "$tmp/t" | awk -v n="$DOCS" '{ w = $1 > 0 ? $1 : 0.001; c = $2 + $3 > 0 ? $2 + $3 : 0.001
		printf "%.0f\n", n / w > "/dev/stderr"; printf "%.0f %d\n", n / c, $4 }' \
		2>>"$tmp/$name.wall" >>"$tmp/$name.cpu"
}
echo "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for shape in list stream; do
	python3 tests/check/gen-dump.py -n "$DOCS" --format "$shape" >"$tmp/dump.yaml"
	rm -f "$tmp"/p.* "$tmp"/y.*
	for _ in $(seq "$RUNS"); do
		timed p "$BUILD/posture" check "$tmp/dump.yaml"
		timed y python3 tests/check/pyyaml-baseline.py "$tmp/dump.yaml"
	done
	pw=$(median <"$tmp/p.wall"); yw=$(median <"$tmp/y.wall")
	pc=$(cut -d' ' -f1 "$tmp/p.cpu" | median); yc=$(cut -d' ' -f1 "$tmp/y.cpu" | median)
	rss=$(cut -d' ' -f2 "$tmp/p.cpu" | median)
	printf '%-6s %d docs, %.1f MB: posture %d docs/s wall, %d docs/s CPU, peak RSS %d KB; ' \
		"$shape" "$DOCS" "$(echo "$(wc -c <"$tmp/dump.yaml") / 1048576" | bc -l)" "$pw" "$pc" "$rss"
	printf 'PyYAML CSafeLoader %d docs/s wall, %d docs/s CPU; ratio %.1fx wall, %.1fx CPU\n' \
		"$yw" "$yc" "$(echo "$pw / $yw" | bc -l)" "$(echo "$pc / $yc" | bc -l)"
done
