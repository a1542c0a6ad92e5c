#!/bin/sh
# deps.sh - install what posture needs to build and test, when missing (Debian/Ubuntu).
# As root: apt-get installs. Otherwise: prints the exact command and fails.
set -u
PKGS="build-essential pkg-config libmicrohttpd-dev libgnutls28-dev libssl-dev libjansson-dev libyaml-dev
curl openssl gnutls-bin python3 python3-yaml clang-14 libclang-rt-14-dev llvm-14 git
wrk nginx time valgrind"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "posture: missing packages:$missing" >&2
	echo "install them with: sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "posture: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q $missing >/dev/null 2>&1 || {
	apt-get update -q >/dev/null 2>&1
	apt-get install -y -q $missing >/dev/null || { echo "posture: apt-get install failed" >&2; exit 1; }
}
exit 0
