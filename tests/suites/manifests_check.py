#!/usr/bin/env python3
"""manifests_check.py - invariants of the kustomize builds, for tests/suites/manifests.sh.

usage: manifests_check.py WHAT FILE [ARGS...]
  base FILE                      the build of manifests/base
  cert-manager FILE CM_VWC_JSON  the build of manifests/cert-manager, and `posture manifests -o
                                 json --policy manifests/cert-manager/policy.yaml`
  monitoring FILE                the build of manifests/monitoring
  local FILE CERTS_DIR           the build of a manifests/local written by make-local.sh
  cert-manager-policy DEFAULT CM the overlay's policy is DEFAULT plus cert-manager exempt
Prints one line per check: "ok NAME" or "FAIL NAME: why"; the shell suite counts them.
"""
import base64
import json
import os
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def check(name, ok, detail=""):
    print(("ok %s" % name) if ok else ("FAIL %s: %s" % (name, detail)))
    return ok


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def one(docs, kind, name=None):
    found = [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    return found[0] if len(found) == 1 else None


def arg_value(args, flag):
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def port_number(container, port):
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p["containerPort"]
    return None


def common(docs, tag):
    """What every installable build holds."""
    check(tag + ": no Secret in the build", not any(d["kind"] == "Secret" for d in docs),
          [d["metadata"]["name"] for d in docs if d["kind"] == "Secret"])


def base(docs, tag="base", secret_expected=False):
    if not secret_expected:
        common(docs, tag)
    ns = one(docs, "Namespace", "posture-system")
    labels = (ns or {}).get("metadata", {}).get("labels") or {}
    check(tag + ": namespace posture-system without injection, break-glass labelled",
          ns is not None and labels.get("istio-injection") == "disabled"
          and labels.get("posture.dev/ignore") == "true", labels)
    dep = one(docs, "Deployment", "posture")
    if not check(tag + ": one Deployment posture", dep is not None):
        return
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    c = [x for x in pod["containers"] if x["name"] == "posture"]
    if not check(tag + ": container posture", len(c) == 1):
        return
    c = c[0]
    check(tag + ": replicas 3", spec.get("replicas") == 3, spec.get("replicas"))
    ru = spec.get("strategy", {}).get("rollingUpdate", {})
    check(tag + ": rolling update never lowers ready replicas", ru.get("maxUnavailable") == 0, ru)
    aff = pod.get("affinity", {}).get("podAntiAffinity", {})
    pref = aff.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    check(tag + ": preferred pod anti-affinity on hostname",
          any(t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname" for t in pref)
          and not aff.get("requiredDuringSchedulingIgnoredDuringExecution"), aff)
    pdb = one(docs, "PodDisruptionBudget")
    sel = spec["selector"]["matchLabels"]
    check(tag + ": PodDisruptionBudget maxUnavailable 1 over the Deployment's pods",
          pdb is not None and pdb["spec"].get("maxUnavailable") == 1
          and pdb["spec"]["selector"].get("matchLabels") == sel, pdb and pdb["spec"])
    tpl_labels = spec["template"]["metadata"]["labels"]
    check(tag + ": selector matches the template",
          all(tpl_labels.get(k) == v for k, v in sel.items()), (sel, tpl_labels))
    check(tag + ": template refuses a sidecar", tpl_labels.get("sidecar.istio.io/inject") == "false", tpl_labels)

    psc = pod.get("securityContext") or {}
    csc = c.get("securityContext") or {}
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    check(tag + ": runs as non-root with a numeric UID",
          (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")) is True
          and isinstance(uid, int) and uid > 0, (psc, csc))
    check(tag + ": read-only root filesystem", csc.get("readOnlyRootFilesystem") is True, csc)
    check(tag + ": drops ALL capabilities, no privilege escalation",
          csc.get("capabilities", {}).get("drop") == ["ALL"] and not csc.get("capabilities", {}).get("add")
          and csc.get("allowPrivilegeEscalation") is False, csc)
    seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    check(tag + ": seccomp RuntimeDefault", seccomp == "RuntimeDefault", seccomp)
    res = c.get("resources") or {}
    check(tag + ": requests and limits for cpu and memory",
          all(k in res.get(s, {}) for s in ("requests", "limits") for k in ("cpu", "memory")), res)
    env = {e["name"]: e for e in c.get("env") or []}
    check(tag + ": POD_NAMESPACE from the downward API",
          env.get("POD_NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
          == "metadata.namespace", env.get("POD_NAMESPACE"))
    check(tag + ": priorityClassName system-cluster-critical",
          pod.get("priorityClassName") == "system-cluster-critical", pod.get("priorityClassName"))
    quota = one(docs, "ResourceQuota")
    scope = (quota or {}).get("spec", {}).get("scopeSelector", {}).get("matchExpressions") or []
    check(tag + ": a ResourceQuota admits the priority class in posture-system",
          quota is not None and quota["metadata"]["namespace"] == "posture-system"
          and any(e.get("scopeName") == "PriorityClass" and "system-cluster-critical" in e.get("values", [])
                  for e in scope), quota)
    check(tag + ": no service account token", pod.get("automountServiceAccountToken") is False)

    ports = {p["name"]: p["containerPort"] for p in c.get("ports") or []}
    check(tag + ": container ports https 8443, metrics 9090",
          ports.get("https") == 8443 and ports.get("metrics") == 9090, ports)
    live, ready = c.get("livenessProbe", {}).get("httpGet", {}), c.get("readinessProbe", {}).get("httpGet", {})
    check(tag + ": liveness /healthz and readiness /readyz on the metrics port 9090",
          live.get("path") == "/healthz" and ready.get("path") == "/readyz"
          and port_number(c, live.get("port")) == 9090 and port_number(c, ready.get("port")) == 9090
          and live.get("scheme", "HTTP") == "HTTP" and ready.get("scheme", "HTTP") == "HTTP", (live, ready))

    args = (c.get("command") or []) + (c.get("args") or [])
    check(tag + ": runs posture serve with the mounted policy and certificate",
          "serve" in args and arg_value(args, "--policy") == "/etc/posture/policy/policy.yaml"
          and arg_value(args, "--tls-cert") == "/etc/posture/tls/tls.crt"
          and arg_value(args, "--tls-key") == "/etc/posture/tls/tls.key", args)
    pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command") or []
    sleep = int(pre[1]) if len(pre) == 2 and pre[0] == "/bin/sleep" and pre[1].isdigit() else None
    delay = arg_value(args, "--shutdown-delay")
    delay = int(delay) if delay is not None and delay.isdigit() else 5   # serve's default
    vwc = one(docs, "ValidatingWebhookConfiguration")
    timeout = max([w.get("timeoutSeconds", 10) for w in (vwc or {}).get("webhooks") or []] or [10])
    grace = pod.get("terminationGracePeriodSeconds", 30)
    check(tag + ": preStop sleeps (/bin/sleep N)", sleep is not None and sleep >= 1, pre)
    check(tag + ": grace period %s >= preStop %s + shutdown delay %s + timeout %s + 5 s margin"
          % (grace, sleep, delay, timeout), sleep is not None and grace >= sleep + delay + timeout + 5)

    mounts = {m["name"]: m for m in c.get("volumeMounts") or []}
    vols = {v["name"]: v for v in pod.get("volumes") or []}
    tls = [n for n, v in vols.items() if v.get("secret", {}).get("secretName") == "posture-tls"]
    cm_name = [v["configMap"]["name"] for v in vols.values() if "configMap" in v]
    check(tag + ": Secret posture-tls mounted at /etc/posture/tls",
          len(tls) == 1 and mounts.get(tls[0], {}).get("mountPath") == "/etc/posture/tls", vols)
    cm = one(docs, "ConfigMap", cm_name[0]) if len(cm_name) == 1 else None
    pol_vol = [n for n, v in vols.items() if "configMap" in v]
    check(tag + ": the policy ConfigMap exists and is mounted at /etc/posture/policy",
          cm is not None and mounts.get(pol_vol[0], {}).get("mountPath") == "/etc/posture/policy", cm_name)
    if tag == "base" and cm is not None:
        with open(os.path.join(ROOT, "policies", "default.yaml")) as f:
            check(tag + ": the policy ConfigMap holds policies/default.yaml",
                  cm["data"].get("policy.yaml") == f.read())

    svc = one(docs, "Service", "posture")
    sp = {p["name"]: p for p in (svc or {}).get("spec", {}).get("ports") or []}
    check(tag + ": Service 443 -> https (8443) and 9090 metrics",
          sp.get("https", {}).get("port") == 443 and port_number(c, sp["https"].get("targetPort")) == 8443
          and sp.get("metrics", {}).get("port") == 9090
          and port_number(c, sp["metrics"].get("targetPort")) == 9090, sp)
    check(tag + ": Service selects the pods",
          svc is not None and all(tpl_labels.get(k) == v for k, v in svc["spec"]["selector"].items()))
    if check(tag + ": one ValidatingWebhookConfiguration", vwc is not None):
        svcs = {(w["clientConfig"]["service"].get("namespace"), w["clientConfig"]["service"].get("name"))
                for w in vwc["webhooks"]}
        check(tag + ": every entry calls Service posture in posture-system",
              svcs == {("posture-system", "posture")}, svcs)
    netpol = one(docs, "NetworkPolicy")
    if netpol is not None:
        ing_ports = sorted(p["port"] for r in netpol["spec"].get("ingress", []) for p in r.get("ports", []))
        check(tag + ": NetworkPolicy admits 8443 and 9090 from anywhere",
              ing_ports == [8443, 9090] and all("from" not in r for r in netpol["spec"]["ingress"]), netpol["spec"])


def cert_manager(docs, cm_vwc_json):
    common(docs, "cert-manager")
    base(docs, "cert-manager")
    certs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Certificate"}
    serving = [c for c in certs.values() if c["spec"].get("secretName") == "posture-tls"]
    want = ["posture", "posture.posture-system", "posture.posture-system.svc",
            "posture.posture-system.svc.cluster.local"]
    check("cert-manager: a Certificate for Secret posture-tls with the four DNS names",
          len(serving) == 1 and sorted(serving[0]["spec"].get("dnsNames", [])) == sorted(want),
          serving and serving[0]["spec"])
    issuers = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Issuer"}
    chain_ok = False
    if len(serving) == 1:
        ca_issuer = issuers.get(serving[0]["spec"]["issuerRef"]["name"], {})
        ca_cert = [c for c in certs.values()
                   if c["spec"].get("secretName") == ca_issuer.get("spec", {}).get("ca", {}).get("secretName")]
        chain_ok = (len(ca_cert) == 1 and ca_cert[0]["spec"].get("isCA") is True
                    and "selfSigned" in issuers.get(ca_cert[0]["spec"]["issuerRef"]["name"], {}).get("spec", {}))
    check("cert-manager: self-signed Issuer -> CA Certificate -> CA Issuer -> serving Certificate", chain_ok)
    vwc = one(docs, "ValidatingWebhookConfiguration")
    ann = vwc["metadata"].get("annotations", {}).get("cert-manager.io/inject-ca-from", "")
    check("cert-manager: the CA is injected from the serving Certificate",
          len(serving) == 1 and ann == "posture-system/" + serving[0]["metadata"]["name"], ann)
    with open(cm_vwc_json) as f:
        rendered = json.load(f)
    check("cert-manager: the built entries are posture manifests' for the overlay's policy",
          vwc["webhooks"] == rendered["webhooks"])
    excluded = [w["name"] for w in vwc["webhooks"]
                if any(e["key"] == "kubernetes.io/metadata.name" and e["operator"] == "NotIn"
                       and "cert-manager" in e["values"]
                       for e in (w.get("namespaceSelector") or {}).get("matchExpressions") or [])]
    # every entry but those that judge every namespace (the mesh's policies: the root one's apply
    # mesh-wide): workloads, Services, Namespaces
    everywhere = ("authorizationpolicies.", "peerauthentications.", "destinationrules.")
    workload = [w["name"] for w in vwc["webhooks"] if not w["name"].startswith(everywhere)]
    check("cert-manager: every workload, Service and Namespace entry exempts namespace cert-manager",
          workload and sorted(excluded) == sorted(workload), set(workload) - set(excluded))
    cm = one(docs, "ConfigMap", "posture-policy")
    with open(os.path.join(ROOT, "manifests", "cert-manager", "policy.yaml")) as f:
        check("cert-manager: the mounted policy is the overlay's", cm is not None
              and cm["data"].get("policy.yaml") == f.read())


def cert_manager_policy(default, cm):
    with open(default) as f:
        d = yaml.safe_load(f)
    with open(cm) as f:
        c = yaml.safe_load(f)
    ex = list(c.get("spec", {}).get("exemptNamespaces") or [])
    check("cert-manager policy exempts cert-manager", "cert-manager" in ex, ex)
    if "cert-manager" in ex:
        ex.remove("cert-manager")
    c.setdefault("spec", {})["exemptNamespaces"] = ex
    check("cert-manager policy is policies/default.yaml plus that exemption only", c == d,
          "update manifests/cert-manager/policy.yaml to follow policies/default.yaml")


def monitoring(docs):
    common(docs, "monitoring")
    sm = one(docs, "ServiceMonitor")
    check("monitoring: ServiceMonitor scrapes the metrics port of Service posture",
          sm is not None and sm["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name") == "posture"
          and any(e.get("port") == "metrics" for e in sm["spec"]["endpoints"]), sm)
    pr = one(docs, "PrometheusRule")
    exprs = " ".join(r.get("expr", "") for g in (pr or {}).get("spec", {}).get("groups", []) for r in g["rules"])
    for needle in ("posture_tls_certificate_expiry_timestamp_seconds - time() < 14 * 86400",
                   "posture_http_errors_total",
                   "histogram_quantile(0.99, sum(rate(posture_admission_duration_seconds_bucket[5m])) by (le)) > 0.05",
                   "posture_policy_reloads_total", 'posture_admission_reviews_total{decision="deny"}',
                   'apiserver_admission_webhook_rejection_count{name=~".*posture.dev",error_type="calling_webhook_error"}'):
        check("monitoring: an alert on " + needle, needle in exprs)
    rules = [r for g in (pr or {}).get("spec", {}).get("groups", []) for r in g["rules"]]
    check("monitoring: every alert has a severity and a summary",
          rules and all(r.get("labels", {}).get("severity") and r.get("annotations", {}).get("summary") for r in rules))


def local(docs, certs):
    base(docs, "local", secret_expected=True)
    sec = one(docs, "Secret", "posture-tls")
    ok = sec is not None and sec.get("type") == "kubernetes.io/tls"
    if ok:
        for k in ("tls.crt", "tls.key"):
            with open(os.path.join(certs, k), "rb") as f:
                ok = ok and base64.b64decode(sec["data"][k]) == f.read()
    check("local: Secret posture-tls holds the generated certificate and key", ok)
    check("local: no other Secret (the CA key stays out)", [d["metadata"]["name"] for d in docs if d["kind"] == "Secret"] == ["posture-tls"])
    vwc = one(docs, "ValidatingWebhookConfiguration")
    with open(os.path.join(certs, "ca.crt"), "rb") as f:
        ca = f.read()
    bundles = {w["clientConfig"].get("caBundle") for w in vwc["webhooks"]}
    check("local: every entry's caBundle is the generated CA",
          len(bundles) == 1 and None not in bundles and base64.b64decode(bundles.pop()) == ca)


def main():
    what = sys.argv[1]
    if what == "cert-manager-policy":
        cert_manager_policy(sys.argv[2], sys.argv[3])
        return
    docs = load(sys.argv[2])
    if what == "base":
        base(docs)
    elif what == "cert-manager":
        cert_manager(docs, sys.argv[3])
    elif what == "monitoring":
        monitoring(docs)
    elif what == "local":
        local(docs, sys.argv[3])
    else:
        print("FAIL usage: unknown check " + what)


if __name__ == "__main__":
    try:
        main()
    except Exception as err:
        import traceback
        traceback.print_exc()
        print("FAIL %s crashed: %r" % (sys.argv[1:2], err))
