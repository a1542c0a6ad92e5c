#!/usr/bin/env python3
"""vwc_partition.py - evaluate the ValidatingWebhookConfiguration `posture manifests` renders the
way the kube-apiserver does, over a table of namespaces, requesters, resources and operations,
and compare every outcome with an independent model of SEMANTICS.md.

What the apiserver does with one entry (k8s.io/apiserver .../webhook/predicates and
.../matchconditions): the request's resource and operation must match one of its rules; the
namespace's labels must match its namespaceSelector (matchLabels and matchExpressions ANDed;
In needs the key with a listed value, NotIn matches a missing key too, Exists/DoesNotExist look at
the key only; an empty or absent selector matches everything); then every matchCondition (CEL)
must be true. The CEL posture emits is modelled here: `request.userInfo.username in [...]` and its
negation `!(request.userInfo.username in [...])`; any other expression fails the test.

Run by tests/suites/vwc.sh; prints one line "SUITE vwc: P passed, F failed".
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
POSTURE = os.path.join(os.environ.get("POSTURE_BUILD", os.path.join(ROOT, "build")), "posture")

passed = 0
failed = 0


def check(name, ok, detail=""):
    """One test: counted, and explained on stderr when it fails."""
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL %s%s" % (name, (": " + detail) if detail else ""), file=sys.stderr)
    return ok


# ---- the model: SEMANTICS.md, written independently of manifests.c ----

WORKLOAD_RULES = ("default-service-account", "mesh-injection")
AUTHZ_RULES = ("authorization-policy-wildcard",)
# issue 9's rules: the mesh's own policies (every namespace), Namespaces, Services
PA_RULES = ("peer-authentication-mtls",)
DR_RULES = ("destination-rule-tls",)
NS_RULES = ("namespace-enrolment",)
SVC_RULES = ("gateway-bypass",)
ALL_RULES = WORKLOAD_RULES + AUTHZ_RULES + PA_RULES + DR_RULES + NS_RULES + SVC_RULES
# the action of a rule the policy file does not mention (the built-in defaults)
DEFAULT_ACTION = dict({r: "deny" for r in WORKLOAD_RULES + AUTHZ_RULES},
                      **{r: "warn" for r in PA_RULES + DR_RULES + NS_RULES + SVC_RULES})

SA = "system:serviceaccount:kube-system:"
KCM = "system:kube-controller-manager"
# "Enforced where the user acts": who creates what (resource names).
CONTROLLER_CREATES = {
    SA + "deployment-controller": {"replicasets"},
    SA + "cronjob-controller": {"jobs"},
    SA + "replicaset-controller": {"pods"},
    SA + "replication-controller": {"pods"},
    SA + "daemon-set-controller": {"pods"},
    SA + "statefulset-controller": {"pods"},
    SA + "job-controller": {"pods"},
    KCM: {"pods", "replicasets", "jobs"},
}
REQUESTERS = ["alice", "system:serviceaccount:ci:deployer", "system:node:worker-1",
              SA + "namespace-controller"] + sorted(CONTROLLER_CREATES)

# (group, version, resource); workload resources, then AuthorizationPolicies, then never judged
WORKLOADS = [("", "v1", "pods"), ("apps", "v1", "deployments"), ("apps", "v1", "statefulsets"),
             ("apps", "v1", "daemonsets"), ("apps", "v1", "replicasets"), ("batch", "v1", "jobs"),
             ("batch", "v1", "cronjobs"), ("", "v1", "replicationcontrollers")]
AUTHZ = [("security.istio.io", "v1", "authorizationpolicies"),
         ("security.istio.io", "v1beta1", "authorizationpolicies")]
PEERAUTHN = [("security.istio.io", v, "peerauthentications") for v in ("v1", "v1beta1")]
DESTRULES = [("networking.istio.io", v, "destinationrules") for v in ("v1", "v1beta1", "v1alpha3")]
# every namespace-wide policy kind: one entry, /validate, no namespace exclusions
EVERYWHERE = {g: rules for gs, rules in ((AUTHZ, AUTHZ_RULES), (PEERAUTHN, PA_RULES), (DESTRULES, DR_RULES))
              for g in gs}
NAMESPACES = [("", "v1", "namespaces")]
SERVICES = [("", "v1", "services")]
NEVER = [("", "v1", "configmaps"), ("", "v1", "secrets"), ("", "v1", "namespaces/status"),
         ("", "v1", "services/status"), ("networking.istio.io", "v1", "virtualservices")]
RESOURCES = WORKLOADS + AUTHZ + PEERAUTHN + DESTRULES + NAMESPACES + SERVICES + NEVER
OPERATIONS = ["CREATE", "UPDATE", "DELETE", "CONNECT"]
ACTION_ORDER = {"off": 0, "audit": 1, "warn": 2, "deny": 3}


def expected_mode(labels, revisions):
    """The namespace's enrolment as the path names it: Istio's injector precedence
    (istio-injection beats istio.io/rev); with revisions listed, an istio.io/rev naming another
    one is served by no injector: nothing injects, as with disabled."""
    if "istio-injection" in labels:
        injection = "sidecar" if labels["istio-injection"] == "enabled" else "disabled"
    elif "istio.io/rev" in labels:
        known = not revisions or labels["istio.io/rev"] in revisions
        injection = "sidecar" if known else "disabled"
    else:
        injection = "none"
    ambient = labels.get("istio.io/dataplane-mode") == "ambient"
    return "/validate/namespace/" + injection + ("/ambient" if ambient else "")


def enrolled_path(path):
    """Sidecar injection or ambient: where gateway-bypass judges Services."""
    return path.startswith("/validate/namespace/sidecar") or path.endswith("/ambient")


class Policy:
    """What the oracle needs from a policy file (explicit values; the variants spell them)."""

    def __init__(self, path):
        with open(path) as f:
            spec = (yaml.safe_load(f) or {}).get("spec") or {}
        self.exempt = list(spec.get("exemptNamespaces") or [])
        self.revisions = list(spec.get("revisions") or [])
        self.enforce = bool(spec.get("enforceOnControllerObjects", False))
        rules = spec.get("rules") or {}
        self.actions = {r: (rules.get(r) or {}).get("action", DEFAULT_ACTION[r]) for r in ALL_RULES}

    def strongest(self, rules):
        return max((self.actions[r] for r in rules), key=lambda a: ACTION_ORDER[a])


def expected(pol, own_ns, ns_labels, user, gvr, op):
    """None: no entry may be reached; else (path, failurePolicy) of the one entry to reach."""
    if op not in ("CREATE", "UPDATE"):
        return None
    if gvr in EVERYWHERE:
        action = pol.strongest(EVERYWHERE[gvr])
        if action == "off":
            return None
        return ("/validate", "Fail" if action == "deny" else "Ignore")
    name = ns_labels["kubernetes.io/metadata.name"]
    if gvr in NAMESPACES:
        # the request is about the Namespace itself: matched on its own labels; the break-glass
        # label does not hide it (adding it is what the rule reports)
        action = pol.strongest(NS_RULES)
        if action == "off" or name in pol.exempt or name == own_ns:
            return None
        return ("/validate", "Fail" if action == "deny" else "Ignore")
    if gvr in SERVICES:
        action = pol.strongest(SVC_RULES)
        path = expected_mode(ns_labels, pol.revisions)
        if (action == "off" or name in pol.exempt or name == own_ns
                or ns_labels.get("posture.dev/ignore") == "true" or not enrolled_path(path)):
            return None
        return (path, "Fail" if action == "deny" else "Ignore")
    if gvr not in WORKLOADS:
        return None
    action = pol.strongest(WORKLOAD_RULES)
    if (action == "off" or name in pol.exempt or name == own_ns
            or ns_labels.get("posture.dev/ignore") == "true"):
        return None
    by_controller = gvr[2] in CONTROLLER_CREATES.get(user, ())
    fail = action == "deny" and (not by_controller or pol.enforce)
    return (expected_mode(ns_labels, pol.revisions), "Fail" if fail else "Ignore")


# ---- the apiserver's side ----

def requirement_matches(expr, labels):
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    raise ValueError("unknown operator " + op)


def selector_matches(sel, labels):
    if not sel:
        return True
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    return all(requirement_matches(e, labels) for e in sel.get("matchExpressions") or [])


CEL_IN = re.compile(r"^request\.userInfo\.username in \[(.*)\]$")
CEL_NOT_IN = re.compile(r"^!\(request\.userInfo\.username in \[(.*)\]\)$")


def cel_list(text):
    items = re.findall(r"'([^'\\]*)'", text)
    if ", ".join("'%s'" % i for i in items) != text:
        raise ValueError("not a list of plain single-quoted strings: " + text)
    return items


def cel_predicate(expr):
    """A function username -> bool for the CEL posture emits, or ValueError."""
    m = CEL_IN.match(expr)
    if m:
        names = set(cel_list(m.group(1)))
        return lambda u: u in names
    m = CEL_NOT_IN.match(expr)
    if m:
        names = set(cel_list(m.group(1)))
        return lambda u: u not in names
    raise ValueError("unmodelled CEL expression: " + expr)


def rule_matches(rules, gvr, op):
    g, v, r = gvr
    for rule in rules:
        if ((g in rule["apiGroups"] or "*" in rule["apiGroups"])
                and (v in rule["apiVersions"] or "*" in rule["apiVersions"])
                and (r in rule["resources"] or "*" in rule["resources"])
                and (op in rule["operations"] or "*" in rule["operations"])):
            return True
    return False


# ---- the table ----

def namespaces(pol, own_ns):
    """Label sets: istio-injection x istio.io/rev x dataplane-mode x who the namespace is."""
    out = []
    who = [("team-a", {}), ("team-b", {"posture.dev/ignore": "false"}),
           ("team-c", {"posture.dev/ignore": "true"}), (own_ns, {}), ("posture-system", {})]
    who += [(n, {}) for n in pol.exempt]
    for inj in (None, "enabled", "disabled", "true"):
        for rev in (None, "stable", "canary", "retired", ""):
            for dp in (None, "ambient", "none"):
                for name, extra in who:
                    labels = {"kubernetes.io/metadata.name": name}
                    labels.update(extra)
                    if inj is not None:
                        labels["istio-injection"] = inj
                    if rev is not None:
                        labels["istio.io/rev"] = rev
                    if dp is not None:
                        labels["istio.io/dataplane-mode"] = dp
                    out.append(labels)
    return out


def render(args):
    res = subprocess.run([POSTURE, "manifests"] + args, capture_output=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError("posture manifests %s: exit %d: %s"
                           % (" ".join(args), res.returncode, res.stderr.decode(errors="replace")))
    return res.stdout


DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def check_structure(tag, vwc, pol, own_ns, service, name, ca_pem):
    """Per-entry invariants the apiserver and SEMANTICS.md ask for."""
    hooks = vwc.get("webhooks") or []
    names = [w.get("name", "") for w in hooks]
    check(tag + ": entry names unique", len(names) == len(set(names)), str(names))
    check(tag + ": kind and name", vwc.get("kind") == "ValidatingWebhookConfiguration"
          and vwc.get("apiVersion") == "admissionregistration.k8s.io/v1"
          and vwc["metadata"]["name"] == name)
    bad = []
    for w in hooks:
        n = w.get("name", "")
        labels = n.split(".")
        if not (n.endswith("." + name) and len(labels) >= 3 and all(DNS_LABEL.match(x) for x in labels)):
            bad.append(n + ": name")
        if w.get("sideEffects") != "None" or w.get("timeoutSeconds") != 5:
            bad.append(n + ": sideEffects/timeoutSeconds")
        if w.get("admissionReviewVersions") != ["v1", "v1beta1"] or w.get("matchPolicy") != "Equivalent":
            bad.append(n + ": admissionReviewVersions/matchPolicy")
        if w.get("failurePolicy") not in ("Fail", "Ignore"):
            bad.append(n + ": failurePolicy")
        if any(r.get("operations") != ["CREATE", "UPDATE"] for r in w.get("rules") or []) or not w.get("rules"):
            bad.append(n + ": operations")
        svc = (w.get("clientConfig") or {}).get("service") or {}
        if (svc.get("namespace") != own_ns or svc.get("name") != service or svc.get("port") != 443
                or not str(svc.get("path", "")).startswith("/validate")
                or "url" in (w.get("clientConfig") or {})):
            bad.append(n + ": clientConfig " + json.dumps(svc))
        ca = (w.get("clientConfig") or {}).get("caBundle")
        if ca_pem is None and ca is not None:
            bad.append(n + ": unexpected caBundle")
        if ca_pem is not None and (ca is None or base64.b64decode(ca) != ca_pem):
            bad.append(n + ": caBundle is not the CA file")
        if "objectSelector" in w:
            bad.append(n + ": objectSelector")
        for e in (w.get("namespaceSelector") or {}).get("matchExpressions") or []:
            vals = e.get("values")
            if e["operator"] in ("In", "NotIn") and (not vals or not all(isinstance(v, str) for v in vals)):
                bad.append(n + ": %s needs string values" % e["operator"])
            if e["operator"] in ("Exists", "DoesNotExist") and vals:
                bad.append(n + ": %s takes no values" % e["operator"])
        for c in w.get("matchConditions") or []:
            try:
                cel_predicate(c["expression"])
            except ValueError as err:
                bad.append(n + ": " + str(err))
        # exemptions agree with the policy
        workload = any(rule_matches(w.get("rules") or [], g, "CREATE") for g in WORKLOADS)
        is_service = any(rule_matches(w.get("rules") or [], g, "CREATE") for g in SERVICES)
        is_namespace = any(rule_matches(w.get("rules") or [], g, "CREATE") for g in NAMESPACES)
        is_everywhere = any(rule_matches(w.get("rules") or [], g, "CREATE") for g in EVERYWHERE)
        exprs = (w.get("namespaceSelector") or {}).get("matchExpressions") or []
        names_out = [e for e in exprs if e["key"] == "kubernetes.io/metadata.name"]
        want = set(pol.exempt) | {own_ns}
        if sum((workload, is_service, is_namespace, is_everywhere)) != 1:
            bad.append(n + ": an entry serves exactly one of workloads, Services, Namespaces, policies")
        scopes = {r.get("scope") for r in w.get("rules") or []}
        if scopes != {"Cluster" if is_namespace else "Namespaced"}:
            bad.append(n + ": scope %s" % sorted(map(str, scopes)))
        if is_service:
            if len(names_out) != 1 or names_out[0]["operator"] != "NotIn" or set(names_out[0]["values"]) != want:
                bad.append(n + ": namespace exclusions are not exemptNamespaces + %s" % own_ns)
            if not any(e["key"] == "posture.dev/ignore" and e["operator"] == "NotIn"
                       and e.get("values") == ["true"] for e in exprs):
                bad.append(n + ": no break-glass exclusion")
            if not enrolled_path(svc.get("path", "")) or w.get("matchConditions"):
                bad.append(n + ": a Service entry routes enrolled namespaces only, for every requester")
        if is_namespace:
            if exprs != [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                          "values": names_out[0]["values"] if names_out else None}] or \
                    set(names_out[0]["values"]) != want or (w["namespaceSelector"].get("matchLabels")):
                bad.append(n + ": the Namespace entry excludes exactly exemptNamespaces + %s by name "
                           "(and never the break-glass label)" % own_ns)
            if svc.get("path") != "/validate":
                bad.append(n + ": the Namespace entry's path is /validate")
        if workload:
            names_out = [e for e in exprs if e["key"] == "kubernetes.io/metadata.name"]
            want = set(pol.exempt) | {own_ns}
            if len(names_out) != 1 or names_out[0]["operator"] != "NotIn" or set(names_out[0]["values"]) != want:
                bad.append(n + ": namespace exclusions are not exemptNamespaces + %s" % own_ns)
            if not any(e["key"] == "posture.dev/ignore" and e["operator"] == "NotIn"
                       and e.get("values") == ["true"] for e in exprs):
                bad.append(n + ": no break-glass exclusion")
        elif is_everywhere:
            if w.get("namespaceSelector") or w.get("matchConditions") or svc.get("path") != "/validate":
                bad.append(n + ": the policy entries (AuthorizationPolicy, PeerAuthentication, "
                           "DestinationRule) see every namespace, at /validate")
    check(tag + ": entry invariants (%d entries)" % len(hooks), not bad, "; ".join(bad[:8]))


def partition(tag, vwc, pol, own_ns):
    """Every (namespace, requester, resource, operation) reaches what the model says."""
    hooks = vwc.get("webhooks") or []
    nss = namespaces(pol, own_ns)
    # precompute each entry's verdict per namespace, per user, per (resource, operation)
    sel = [[selector_matches(w.get("namespaceSelector"), ns) for ns in nss] for w in hooks]
    conds = []
    for w in hooks:
        preds = [cel_predicate(c["expression"]) for c in w.get("matchConditions") or []]
        conds.append({u: all(p(u) for p in preds) for u in REQUESTERS})
    cases = 0
    wrong = []
    for gvr in RESOURCES:
        for op in OPERATIONS:
            by_rule = [i for i, w in enumerate(hooks) if rule_matches(w.get("rules") or [], gvr, op)]
            for ni, ns in enumerate(nss):
                in_ns = [i for i in by_rule if sel[i][ni]]
                for user in REQUESTERS:
                    cases += 1
                    hit = [hooks[i] for i in in_ns if conds[i][user]]
                    want = expected(pol, own_ns, ns, user, gvr, op)
                    got = [(h["clientConfig"]["service"]["path"], h["failurePolicy"]) for h in hit]
                    if (want is None and got) or (want is not None and got != [want]):
                        wrong.append("%s %s/%s by %s in %s: want %s, got %s" % (
                            op, gvr[0] or "core", gvr[2], user, json.dumps(ns, sort_keys=True),
                            want, [(h["name"], h["failurePolicy"]) for h in hit]))
    check(tag + ": partition over %d cases (%d namespaces x %d requesters x %d resources x %d "
          "operations)" % (cases, len(nss), len(REQUESTERS), len(RESOURCES),
                           len(OPERATIONS)), not wrong,
          "%d wrong, e.g.\n  %s" % (len(wrong), "\n  ".join(wrong[:6])))
    return cases


def variant(tmp, name, base_spec, **changes):
    """A policy file: policies/default.yaml's spec with changes (rules: {rule: action})."""
    doc = {"apiVersion": "posture.dev/v1alpha1", "kind": "PosturePolicy", "spec": json.loads(json.dumps(base_spec))}
    spec = doc["spec"]
    for k, v in changes.items():
        if k == "actions":
            for rule, action in v.items():
                spec.setdefault("rules", {}).setdefault(rule, {})["action"] = action
        else:
            spec[k] = v
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        yaml.safe_dump(doc, f, default_flow_style=False, sort_keys=False)
    return path


def run_case(tag, policy_path, own_ns="posture-system", service="posture", name="posture.dev",
             ca_file=None):
    args = ["--policy", policy_path]
    if own_ns != "posture-system":
        args += ["--namespace", own_ns]
    if service != "posture":
        args += ["--service", service]
    if name != "posture.dev":
        args += ["--name", name]
    if ca_file:
        args += ["--ca-bundle-file", ca_file]
    try:
        out_yaml = render(args)
        out_json = render(args + ["-o", "json"])
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        check(tag + ": render", False, str(err))
        return 0
    vwc = yaml.safe_load(out_yaml)
    check(tag + ": -o json is the same document as the YAML", json.loads(out_json) == vwc)
    check(tag + ": rendering is deterministic", render(args) == out_yaml)
    pol = Policy(policy_path)
    ca_pem = open(ca_file, "rb").read() if ca_file else None
    check_structure(tag, vwc, pol, own_ns, service, name, ca_pem)
    return partition(tag, vwc, pol, own_ns)


def main():
    if not os.access(POSTURE, os.X_OK):
        check("posture binary", False, POSTURE + " is missing: build first")
        return
    res = subprocess.run([POSTURE, "manifests", "--help"], capture_output=True, timeout=30)
    if not check("posture manifests exists", res.returncode == 0,
                 "is it in main.c's command table? " + res.stderr.decode(errors="replace").strip()):
        return
    default = os.path.join(ROOT, "policies", "default.yaml")
    rollout = os.path.join(ROOT, "policies", "rollout.yaml")
    if not check("policies/default.yaml exists", os.path.exists(default)):
        return
    with open(default) as f:
        base_spec = (yaml.safe_load(f) or {}).get("spec") or {}
    total = 0
    with tempfile.TemporaryDirectory(prefix="posture-vwc-") as tmp:
        total += run_case("default", default)
        if check("policies/rollout.yaml exists", os.path.exists(rollout)):
            total += run_case("rollout", rollout)
            vwc = yaml.safe_load(render(["--policy", rollout]))
            fps = {w["failurePolicy"] for w in vwc["webhooks"]}
            check("rollout: every entry is Ignore", fps == {"Ignore"}, str(fps))
        total += run_case("revisions", variant(tmp, "revisions", base_spec, revisions=["canary", "stable"]))
        total += run_case("enforce-controllers", variant(tmp, "enforce", base_spec, enforceOnControllerObjects=True))
        total += run_case("mixed-actions", variant(tmp, "mixed", base_spec, actions={
            "default-service-account": "warn", "mesh-injection": "off",
            "authorization-policy-wildcard": "deny", "peer-authentication-mtls": "deny",
            "namespace-enrolment": "audit", "destination-rule-tls": "off", "gateway-bypass": "deny"}))
        total += run_case("mesh-rules-deny", variant(tmp, "mesh-deny", base_spec, actions={
            "peer-authentication-mtls": "deny", "namespace-enrolment": "deny",
            "destination-rule-tls": "deny", "gateway-bypass": "deny"}))
        total += run_case("mesh-rules-off+revisions", variant(tmp, "mesh-off", base_spec, revisions=["stable"],
                                                              actions={
            "peer-authentication-mtls": "off", "namespace-enrolment": "off",
            "destination-rule-tls": "off", "gateway-bypass": "off"}))
        total += run_case("mesh-rules-deny+revisions+exemptions", variant(
            tmp, "mesh-deny-rev", base_spec, revisions=["canary", "stable"],
            exemptNamespaces=["kube-system", "team-a", "legacy"], actions={
                "namespace-enrolment": "deny", "gateway-bypass": "deny"}))
        total += run_case("workload-rules-off", variant(tmp, "off", base_spec, actions={
            "default-service-account": "off", "mesh-injection": "off",
            "authorization-policy-wildcard": "audit"}))
        total += run_case("extra-exemptions+revisions+enforce", variant(
            tmp, "many", base_spec, exemptNamespaces=list(base_spec.get("exemptNamespaces") or [])
            # names YAML 1.1 would read as booleans, null or numbers unless quoted
            + ["monitoring", "cert-manager", "on", "yes", "n", "null", "true", "0123"],
            revisions=["stable"], enforceOnControllerObjects=True))
        cm_policy = os.path.join(ROOT, "manifests", "cert-manager", "policy.yaml")
        if os.path.exists(cm_policy):
            total += run_case("cert-manager-overlay", cm_policy)
        # another namespace, Service and name; and a caBundle
        ca = os.path.join(tmp, "ca.pem")
        with open(ca, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
                    "-----BEGIN CERTIFICATE-----\nMIIBsecond\n-----END CERTIFICATE-----\n")
        total += run_case("own-namespace+ca-bundle", default, own_ns="mesh-guard", service="guard",
                          name="guard.example.com", ca_file=ca)
    print("(%d cases evaluated)" % total, file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # a crash is one failure, with its reason
        import traceback
        traceback.print_exc()
        check("no crash", False, repr(err))
    print("SUITE vwc: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
