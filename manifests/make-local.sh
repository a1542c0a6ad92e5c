#!/bin/sh
# make-local.sh - write the git-ignored overlay manifests/local/ that installs a working webhook
# in one command (`kubectl apply -k manifests/local`): certificates made by `posture certs
# generate`, the TLS Secret from them, the policy, and the webhook configuration rendered from
# that policy with the CA as its caBundle.
# usage: manifests/make-local.sh POSTURE   (run by `make manifests`)
# environment:
#   POLICY     policy file to install (default policies/default.yaml; policies/rollout.yaml for a
#              first install that only warns)
#   IMAGE      container image (default posture:dev)
#   CA_BUNDLE  PEM file written into caBundle (default manifests/local/certs/ca.crt); during a CA
#              rotation, the old and the new CA concatenated (docs/install.md)
# Existing certificates are reused: delete manifests/local/certs to make new ones.
set -eu
[ $# -eq 1 ] || { echo "usage: manifests/make-local.sh POSTURE" >&2; exit 2; }
posture=$1
cd "$(dirname "$0")/.."
policy=${POLICY:-policies/default.yaml}
image=${IMAGE:-posture:dev}
dir=manifests/local
ca_bundle=${CA_BUNDLE:-$dir/certs/ca.crt}

[ -r "$policy" ] || { echo "make manifests: POLICY=$policy: no such file" >&2; exit 2; }
mkdir -p "$dir"
if [ -f "$dir/certs/tls.crt" ] && [ -f "$dir/certs/tls.key" ]; then
	echo "make manifests: reusing the certificates in $dir/certs (delete them to make new ones)"
else
	"$posture" certs generate --service posture --namespace posture-system --out "$dir/certs"
fi

# the image, as kustomize's images transformer wants it: name[:tag] or name@digest
case $image in
*@*) image_fields="  newName: \"${image%%@*}\"
  digest: \"${image#*@}\"" ;;
*)
	last=${image##*/}
	case $last in
	*:*) image_fields="  newName: \"${image%:*}\"
  newTag: \"${image##*:}\"" ;;
	*) image_fields="  newName: \"$image\"" ;;
	esac
	;;
esac

cp "$policy" "$dir/policy.yaml.tmp"
mv "$dir/policy.yaml.tmp" "$dir/policy.yaml"
"$posture" manifests --policy "$dir/policy.yaml" --ca-bundle-file "$ca_bundle" \
	>"$dir/vwc.tmp" || { rm -f "$dir/vwc.tmp"; exit 1; }
# a patch replacing the base's entries (see manifests/render.sh)
# shellcheck disable=SC2016  # a literal $patch
sed '/^webhooks:$/a\
- $patch: replace' "$dir/vwc.tmp" >"$dir/validatingwebhookconfiguration.yaml"
rm -f "$dir/vwc.tmp"

cat >"$dir/kustomization.yaml" <<KUSTOMIZATION
# Written by \`make manifests\` (manifests/make-local.sh): git-ignored, it names a private key.
# Install: kubectl apply -k manifests/local     Remove: kubectl delete -k manifests/local
# Policy: $policy
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../base
secretGenerator:
- name: posture-tls
  namespace: posture-system
  type: kubernetes.io/tls
  files:
  - tls.crt=certs/tls.crt
  - tls.key=certs/tls.key
  options:
    disableNameSuffixHash: true
    labels:
      app.kubernetes.io/name: posture
configMapGenerator:
- name: posture-policy
  namespace: posture-system
  behavior: replace
  files:
  - policy.yaml
  options:
    disableNameSuffixHash: true
    labels:
      app.kubernetes.io/name: posture
patches:
# posture manifests --policy policy.yaml --ca-bundle-file $ca_bundle
- path: validatingwebhookconfiguration.yaml
images:
- name: posture
$image_fields
KUSTOMIZATION
echo "make manifests: wrote $dir (policy $policy, image $image); install with: kubectl apply -k $dir"
