#!/bin/sh
# render.sh - regenerate the committed manifests derived from the policies, so they cannot drift:
#   base/policy.yaml                          a copy of policies/default.yaml (kustomize reads no
#                                             file outside base/)
#   base/validatingwebhookconfiguration.yaml  posture manifests --policy policies/default.yaml
#   cert-manager/validatingwebhookconfiguration.yaml
#                                             posture manifests --policy cert-manager/policy.yaml,
#                                             as a patch that replaces the base's entries
# usage: manifests/render.sh POSTURE [OUTDIR]
# Run by `make manifests`. OUTDIR defaults to manifests/; tests/suites/manifests.sh renders into a
# temporary one and compares with what is committed.
set -eu
[ $# -ge 1 ] || { echo "usage: manifests/render.sh POSTURE [OUTDIR]" >&2; exit 2; }
posture=$1
out=${2:-manifests}
cd "$(dirname "$0")/.."
mkdir -p "$out/base" "$out/cert-manager"

# render FILE ARGS...: `posture manifests ARGS` into FILE; FILE is replaced only on success.
render() {
	file=$1
	shift
	"$posture" manifests "$@" >"$file.tmp" || { rm -f "$file.tmp"; exit 1; }
	mv "$file.tmp" "$file"
}

# as_replace_patch FILE: make a rendered configuration a strategic-merge patch whose entries
# replace the base's list (another policy may have other entries: other revisions, rules off).
as_replace_patch() {
	# shellcheck disable=SC2016  # a literal $patch
	sed '/^webhooks:$/a\
- $patch: replace' "$1" >"$1.tmp"
	mv "$1.tmp" "$1"
}

cp policies/default.yaml "$out/base/policy.yaml.tmp"
mv "$out/base/policy.yaml.tmp" "$out/base/policy.yaml"
render "$out/base/validatingwebhookconfiguration.yaml" --policy policies/default.yaml
render "$out/cert-manager/validatingwebhookconfiguration.yaml" --policy manifests/cert-manager/policy.yaml
as_replace_patch "$out/cert-manager/validatingwebhookconfiguration.yaml"
