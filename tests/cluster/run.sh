#!/usr/bin/env bash
# run.sh - end-to-end against a real cluster: install posture the documented way (first with
# policies/rollout.yaml, then switch to policies/default.yaml), apply good and bad workloads and
# AuthorizationPolicies, assert the exact text `kubectl apply` prints for each denial and warning,
# and uninstall. Not part of `make test` (no cluster runs there).
#
#   kind create cluster --name posture        # or any kubeconfig
#   tests/cluster/run.sh
#
# Without a reachable cluster (kubectl cluster-info fails within 5 s) it prints SKIP and exits 0.
# It installs a webhook with failurePolicy Fail: it runs on a kind-* context, or on another one
# only when POSTURE_E2E_CONTEXT names it. Environment:
#   IMAGE                 image to run (default posture:dev). On a kind context it is built with
#                         `make image` and loaded with `kind load docker-image` unless
#                         POSTURE_E2E_NO_BUILD=1; elsewhere the cluster must be able to pull it.
#   POSTURE_E2E_CONTEXT   the kubectl context to use when it is not a kind cluster
#   POSTURE_E2E_KEEP=1    leave everything installed (for debugging)
# Prints "SUITE cluster: P passed, F failed"; exit 1 on any failure.
# shellcheck disable=SC2015  # ok and bad always succeed: `test && ok || bad` is an if-else
set -u
cd "$(dirname "$0")/../.." || exit 1
FIX=tests/cluster/fixtures
IMAGE=${IMAGE:-posture:dev}
pass=0
fail=0
K() { timeout 120 kubectl --request-timeout=60s "$@"; }
ok() { pass=$((pass + 1)); echo "ok    $*"; }
bad() { fail=$((fail + 1)); echo "FAIL  $*"; }
say() { echo "== $*"; }

if ! command -v kubectl >/dev/null 2>&1; then
	echo "SKIP tests/cluster: kubectl is not installed"
	exit 0
fi
if ! timeout 5 kubectl cluster-info --request-timeout=5s >/dev/null 2>&1; then
	echo "SKIP tests/cluster: no cluster reachable (kubectl cluster-info failed within 5 s);" \
		"create one (kind create cluster) or point KUBECONFIG at one to run this test"
	exit 0
fi
context=$(kubectl config current-context 2>/dev/null)
case $context in
kind-*) kind_name=${context#kind-} ;;
*)
	kind_name=
	if [ "${POSTURE_E2E_CONTEXT:-}" != "$context" ]; then
		echo "SKIP tests/cluster: context \"$context\" is not a kind cluster; this test installs an" \
			"enforcing webhook, so set POSTURE_E2E_CONTEXT=$context to run it there"
		exit 0
	fi
	;;
esac
for tool in python3 make; do
	command -v "$tool" >/dev/null 2>&1 || { echo "tests/cluster: $tool is required" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/posture-cluster.XXXXXX") || exit 1
crd_installed=0
cleanup() {
	if [ "${POSTURE_E2E_KEEP:-0}" = 1 ]; then
		echo "(POSTURE_E2E_KEEP=1: left installed; remove with kubectl delete -k manifests/local" \
			"and kubectl delete -f $FIX/namespaces.yaml)"
	else
		say "uninstall"
		# the webhook configuration first: nothing waits on posture while the rest goes
		K delete validatingwebhookconfiguration posture.dev --ignore-not-found >/dev/null 2>&1
		K delete -f "$FIX/namespaces.yaml" --ignore-not-found --wait=false >/dev/null 2>&1
		[ -f manifests/local/kustomization.yaml ] && K delete -k manifests/local --ignore-not-found >/dev/null 2>&1
		[ "$crd_installed" = 1 ] && K delete -f "$FIX/authorizationpolicy-crd.yaml" --ignore-not-found >/dev/null 2>&1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# apply_expect NAME FIXTURE POLICY MODE ENTRY [OLD]: kubectl apply, and its stderr is exactly what
# posture review says the verdict prints (expect.py)
apply_expect() {
	local name=$1 fixture=$2 policy=$3 mode=$4 entry=$5 old=${6:-}
	if ! python3 tests/cluster/expect.py build/posture "$policy" "$mode" "$entry" "$fixture" ${old:+"$old"} \
		>"$tmp/want" 2>"$tmp/expect.err"; then
		bad "$name: cannot compute the expected output: $(cat "$tmp/expect.err")"
		return
	fi
	K apply -f "$fixture" >"$tmp/out" 2>"$tmp/got"
	if cmp -s "$tmp/want" "$tmp/got"; then
		ok "$name"
	else
		bad "$name: kubectl apply -f $fixture printed something else"
		diff -u "$tmp/want" "$tmp/got" | sed 's/^/      /'
	fi
}

say "build and install with policies/rollout.yaml (context $context, image $IMAGE)"
make -s all >/dev/null || { echo "tests/cluster: make failed" >&2; exit 1; }
if [ -n "$kind_name" ] && [ "${POSTURE_E2E_NO_BUILD:-0}" != 1 ]; then
	make -s image IMAGE="$IMAGE" >"$tmp/image.log" 2>&1 || { tail -20 "$tmp/image.log" >&2; exit 1; }
	command -v kind >/dev/null 2>&1 || { echo "tests/cluster: kind is required to load the image" >&2; exit 1; }
	timeout 300 kind load docker-image "$IMAGE" --name "$kind_name" >/dev/null || exit 1
fi
if ! K get crd authorizationpolicies.security.istio.io >/dev/null 2>&1; then
	K apply -f "$FIX/authorizationpolicy-crd.yaml" >/dev/null && crd_installed=1
	K wait --for=condition=Established crd/authorizationpolicies.security.istio.io --timeout=60s >/dev/null
fi
make -s manifests POLICY=policies/rollout.yaml IMAGE="$IMAGE" >/dev/null || exit 1
if K apply -k manifests/local >"$tmp/install.log" 2>&1 &&
	timeout 300 kubectl -n posture-system rollout status deploy/posture --timeout=240s >/dev/null; then
	ok "install: kubectl apply -k manifests/local, 3 replicas ready"
else
	bad "install: $(tail -5 "$tmp/install.log")"
	K -n posture-system get pods -o wide
	exit 1
fi
K apply -f "$FIX/namespaces.yaml" -f "$FIX/serviceaccounts.yaml" >/dev/null

say "rollout policy: everything is allowed, with warnings"
apply_expect "rollout: the default service account is a warning" "$FIX/deployment-default-sa.yaml" \
	policies/rollout.yaml sidecar workloads-sidecar.posture.dev

say "switch to policies/default.yaml (deny)"
make -s manifests POLICY=policies/default.yaml IMAGE="$IMAGE" >/dev/null || exit 1
K apply -k manifests/local >/dev/null 2>&1 || bad "kubectl apply -k manifests/local with the default policy"
# the mounted ConfigMap changes within the kubelet's sync period; posture reloads it
switched=0
for _ in $(seq 1 60); do
	if ! K apply --dry-run=server -f "$FIX/deployment-default-sa-deny.yaml" >/dev/null 2>&1; then
		switched=1
		break
	fi
	sleep 5
done
[ "$switched" = 1 ] && ok "the new policy is live without a restart" ||
	bad "posture still allows the default service account 5 minutes after the policy change"

apply_expect "deny: the default service account" "$FIX/deployment-default-sa-deny.yaml" \
	policies/default.yaml sidecar workloads-sidecar.posture.dev
apply_expect "deny: a namespace without mesh enrolment" "$FIX/deployment-not-enrolled.yaml" \
	policies/default.yaml none workloads-none.posture.dev
apply_expect "deny: an AuthorizationPolicy that allows anyone anything" "$FIX/authz-allow-all.yaml" \
	policies/default.yaml none authorizationpolicies.posture.dev
apply_expect "allow: an ALLOW-nothing AuthorizationPolicy" "$FIX/authz-allow-nothing.yaml" \
	policies/default.yaml none authorizationpolicies.posture.dev
apply_expect "allow: a good Deployment, silently" "$FIX/deployment-good.yaml" \
	policies/default.yaml sidecar workloads-sidecar.posture.dev
apply_expect "ratchet: an image bump keeps an old violation, with a warning" \
	"$FIX/deployment-default-sa-bump.yaml" policies/default.yaml sidecar workloads-sidecar.posture.dev \
	"$FIX/deployment-default-sa.yaml"
if K apply -f "$FIX/deployment-break-glass.yaml" >"$tmp/out" 2>"$tmp/got" && [ ! -s "$tmp/got" ]; then
	ok "break-glass: a namespace labelled posture.dev/ignore=true is not judged"
else
	bad "break-glass: $(cat "$tmp/got")"
fi
# pods the replicaset controller makes (not injected: no Istio) are only warned about
if timeout 200 kubectl -n posture-e2e-sidecar rollout status deploy/web --timeout=180s >/dev/null 2>&1; then
	ok "controller-made pods are admitted (their denial is lowered to a warning)"
else
	bad "deploy/web did not roll out: $(K -n posture-e2e-sidecar get events --sort-by=.lastTimestamp | tail -5)"
fi

echo "SUITE cluster: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
