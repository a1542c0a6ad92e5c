#!/usr/bin/env python3
"""gen-dump.py - write a synthetic cluster dump, as `kubectl get ... -A -o yaml` prints it, for
`posture check` benchmarks: Namespaces first, then a mix of Pods (with managedFields and status, as
the apiserver returns them), Deployments, Services and AuthorizationPolicies.

usage: gen-dump.py [-n DOCS] [--namespaces N] [--namespaces-last] [--format list|stream] [--seed S] > dump.yaml
  list:   one `kind: List` document with `items` before `kind`, as kubectl prints it (default)
  stream: the same objects as separate `---` documents
Deterministic for a given seed."""
import argparse
import json
import random
import sys


def q(s):
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(s)


def metadata(kind, name, ns, uid, labels, annotations=None, managed=None, owner=None, ind="  "):
    out = [f"{ind}metadata:"]
    if annotations:
        out.append(f"{ind}  annotations:")
        for k, v in annotations.items():
            out.append(f"{ind}    {k}: {q(v)}")
    out.append(f"{ind}  creationTimestamp: \"2026-05-0{uid % 9 + 1}T10:{uid % 60:02d}:00Z\"")
    if owner:
        out.append(f"{ind}  generateName: {owner[1]}-")
    out.append(f"{ind}  labels:")
    for k, v in labels.items():
        out.append(f"{ind}    {k}: {q(v)}")
    if managed:
        out.append(f"{ind}  managedFields:")
        out.extend(f"{ind}  {line}" for line in managed)
    out.append(f"{ind}  name: {name}")
    out.append(f"{ind}  namespace: {ns}")
    if owner:
        out.append(f"{ind}  ownerReferences:")
        out.append(f"{ind}  - apiVersion: apps/v1")
        out.append(f"{ind}    blockOwnerDeletion: true")
        out.append(f"{ind}    controller: true")
        out.append(f"{ind}    kind: {owner[0]}")
        out.append(f"{ind}    name: {owner[1]}")
        out.append(f"{ind}    uid: 5f0c{uid:08x}-0000-4000-8000-00000000{uid % 10000:04d}")
    out.append(f"{ind}  resourceVersion: \"{100000 + uid}\"")
    out.append(f"{ind}  uid: 9a1b{uid:08x}-1111-4222-8333-44445555{uid % 10000:04d}")
    return out


def managed_fields(manager, op, fields):
    out = [f"- apiVersion: v1", f"  fieldsType: FieldsV1", f"  fieldsV1:"]
    out.extend(f"    {line}" for line in fields)
    out.append(f"  manager: {manager}")
    out.append(f"  operation: {op}")
    out.append(f"  time: \"2026-05-01T10:00:00Z\"")
    return out


POD_FIELDS = [
    'f:metadata:',
    '  f:generateName: {}',
    '  f:labels:',
    '    .: {}',
    '    f:app: {}',
    '    f:pod-template-hash: {}',
    '  f:ownerReferences:',
    '    .: {}',
    '    k:{"uid":"5f0c0000-0000-4000-8000-000000000000"}: {}',
    'f:spec:',
    '  f:containers:',
    '    k:{"name":"app"}:',
    '      .: {}',
    '      f:image: {}',
    '      f:imagePullPolicy: {}',
    '      f:name: {}',
    '      f:ports:',
    '        .: {}',
    '        k:{"containerPort":8080,"protocol":"TCP"}:',
    '          .: {}',
    '          f:containerPort: {}',
    '          f:protocol: {}',
    '      f:resources:',
    '        .: {}',
    '        f:limits:',
    '          .: {}',
    '          f:cpu: {}',
    '          f:memory: {}',
    '      f:terminationMessagePath: {}',
    '      f:terminationMessagePolicy: {}',
    '  f:dnsPolicy: {}',
    '  f:enableServiceLinks: {}',
    '  f:restartPolicy: {}',
    '  f:schedulerName: {}',
    '  f:securityContext: {}',
    '  f:serviceAccount: {}',
    '  f:serviceAccountName: {}',
    '  f:terminationGracePeriodSeconds: {}',
]
STATUS_FIELDS = [
    'f:status:',
    '  f:conditions:',
    '    k:{"type":"ContainersReady"}:',
    '      .: {}',
    '      f:lastProbeTime: {}',
    '      f:lastTransitionTime: {}',
    '      f:status: {}',
    '      f:type: {}',
    '    k:{"type":"Initialized"}:',
    '      .: {}',
    '      f:lastProbeTime: {}',
    '      f:lastTransitionTime: {}',
    '      f:status: {}',
    '      f:type: {}',
    '    k:{"type":"Ready"}:',
    '      .: {}',
    '      f:lastProbeTime: {}',
    '      f:lastTransitionTime: {}',
    '      f:status: {}',
    '      f:type: {}',
    '  f:containerStatuses: {}',
    '  f:hostIP: {}',
    '  f:phase: {}',
    '  f:podIP: {}',
    '  f:podIPs:',
    '    .: {}',
    '    k:{"ip":"10.0.0.1"}:',
    '      .: {}',
    '      f:ip: {}',
    '  f:startTime: {}',
]


def container(name, image, ind):
    return [
        f"{ind}- image: {image}",
        f"{ind}  imagePullPolicy: IfNotPresent",
        f"{ind}  name: {name}",
        f"{ind}  ports:",
        f"{ind}  - containerPort: 8080",
        f"{ind}    protocol: TCP",
        f"{ind}  resources:",
        f"{ind}    limits:",
        f"{ind}      cpu: 500m",
        f"{ind}      memory: 256Mi",
        f"{ind}    requests:",
        f"{ind}      cpu: 100m",
        f"{ind}      memory: 128Mi",
        f"{ind}  terminationMessagePath: /dev/termination-log",
        f"{ind}  terminationMessagePolicy: File",
    ]


def pod(i, ns, app, sa, rnd):
    name = f"{app}-{rnd.randrange(16**8):08x}-{rnd.randrange(36**5):05d}"
    labels = {"app": app, "pod-template-hash": f"{rnd.randrange(16**8):08x}"}
    ann = {"sidecar.istio.io/status": '{"initContainers":["istio-init"],"containers":["istio-proxy"]}'}
    managed = managed_fields("kube-controller-manager", "Update", POD_FIELDS) + \
        managed_fields("kubelet", "Update", STATUS_FIELDS)
    out = ["- apiVersion: v1", "  kind: Pod"]
    out += metadata("Pod", name, ns, i, labels, ann, managed, ("ReplicaSet", f"{app}-6d4cf56db6"))
    out += ["  spec:", "    containers:"]
    out += container("app", f"registry.example.com/{app}:1.{i % 7}.0", "    ")
    out += container("istio-proxy", "docker.io/istio/proxyv2:1.27.0", "    ")
    out += ["    dnsPolicy: ClusterFirst", "    enableServiceLinks: true", "    nodeName: node-%d" % (i % 40),
            "    restartPolicy: Always", "    schedulerName: default-scheduler", "    securityContext: {}"]
    if sa:
        out += [f"    serviceAccount: {sa}", f"    serviceAccountName: {sa}"]
    else:
        out += ["    serviceAccount: default", "    serviceAccountName: default"]
    out += ["    terminationGracePeriodSeconds: 30", "  status:", "    conditions:"]
    for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled"):
        out += ["    - lastProbeTime: null", "      lastTransitionTime: \"2026-05-01T10:00:00Z\"",
                "      status: \"True\"", f"      type: {t}"]
    out += ["    containerStatuses:"]
    for c in ("app", "istio-proxy"):
        out += [f"    - containerID: containerd://{rnd.randrange(16**16):016x}", "      image: x", "      imageID: y",
                "      lastState: {}", f"      name: {c}", "      ready: true", "      restartCount: 0",
                "      started: true", "      state:", "        running:",
                "          startedAt: \"2026-05-01T10:00:05Z\""]
    out += [f"    hostIP: 10.1.{i % 250}.{i % 200}", "    phase: Running", f"    podIP: 10.2.{i % 250}.{i % 199}",
            "    qosClass: Burstable", "    startTime: \"2026-05-01T10:00:00Z\""]
    return out


def deployment(i, ns, app, sa):
    labels = {"app": app}
    ann = {"deployment.kubernetes.io/revision": "3",
           "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
               {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app, "namespace": ns},
                "spec": {"replicas": 2, "template": {"spec": {"serviceAccountName": sa or ""}}}})}
    out = ["- apiVersion: apps/v1", "  kind: Deployment"]
    out += metadata("Deployment", app, ns, i, labels, ann, managed_fields("kubectl-client-side-apply", "Update", POD_FIELDS[:9]))
    out += ["  spec:", "    progressDeadlineSeconds: 600", "    replicas: 2", "    revisionHistoryLimit: 10",
            "    selector:", "      matchLabels:", f"        app: {app}", "    strategy:", "      rollingUpdate:",
            "        maxSurge: 25%", "        maxUnavailable: 25%", "      type: RollingUpdate",
            "    template:", "      metadata:", "        creationTimestamp: null", "        labels:",
            f"          app: {app}", "      spec:", "        containers:"]
    out += container("app", f"registry.example.com/{app}:1.{i % 7}.0", "        ")
    out += ["        dnsPolicy: ClusterFirst", "        restartPolicy: Always"]
    if sa:
        out += [f"        serviceAccount: {sa}", f"        serviceAccountName: {sa}"]
    out += ["        terminationGracePeriodSeconds: 30", "  status:", "    availableReplicas: 2",
            "    observedGeneration: 3", "    readyReplicas: 2", "    replicas: 2", "    updatedReplicas: 2"]
    return out


def service(i, ns, app):
    out = ["- apiVersion: v1", "  kind: Service"]
    out += metadata("Service", app, ns, i, {"app": app})
    out += ["  spec:", f"    clusterIP: 10.96.{i % 250}.{i % 251}", "    clusterIPs:", f"    - 10.96.{i % 250}.{i % 251}",
            "    internalTrafficPolicy: Cluster", "    ipFamilies:", "    - IPv4", "    ipFamilyPolicy: SingleStack",
            "    ports:", "    - name: http", "      port: 80", "      protocol: TCP", "      targetPort: 8080",
            "    selector:", f"      app: {app}", "    sessionAffinity: None", "    type: ClusterIP",
            "  status:", "    loadBalancer: {}"]
    return out


def authz(i, ns, app, rnd):
    out = ["- apiVersion: security.istio.io/v1", "  kind: AuthorizationPolicy"]
    out += metadata("AuthorizationPolicy", f"{app}-allow", ns, i, {"app": app})
    out += ["  spec:", "    action: ALLOW", "    rules:", "    - from:", "      - source:", "          principals:"]
    if rnd.random() < 0.1:
        out += ['          - "*"']
    else:
        out += [f"          - cluster.local/ns/{ns}/sa/{app}-client"]
    out += ["      to:", "      - operation:", "          methods:", "          - GET", "          - POST",
            "          paths:", f"          - /api/{app}/*", "    selector:", "      matchLabels:", f"        app: {app}"]
    return out


def namespace(i, name, rnd):
    labels = {"kubernetes.io/metadata.name": name}
    if i % 3 == 0:
        labels["istio-injection"] = "enabled"
    elif i % 3 == 1:
        labels["istio.io/dataplane-mode"] = "ambient"
    out = ["- apiVersion: v1", "  kind: Namespace"]
    meta = metadata("Namespace", name, "x", i, labels)
    out += [line for line in meta if not line.startswith("    namespace:")]
    out += ["  spec:", "    finalizers:", "    - kubernetes", "  status:", "    phase: Active"]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10000, help="documents in all (default 10000)")
    ap.add_argument("--namespaces", type=int, default=40)
    ap.add_argument("--format", choices=("list", "stream"), default="list")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--namespaces-last", action="store_true",
                    help="Namespaces after the other objects (objects wait for their enrolment)")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    nss = [f"team-{k:03d}" for k in range(a.namespaces)]
    ns_objs = [namespace(k, n, rnd) for k, n in enumerate(nss)]
    objs = [] if a.namespaces_last else ns_objs
    kinds = ["Pod"] * 30 + ["Deployment"] * 25 + ["Service"] * 25 + ["AuthorizationPolicy"] * 20
    for i in range(a.n - len(ns_objs)):
        ns = nss[rnd.randrange(len(nss))]
        app = f"svc-{i:05d}"
        sa = app if rnd.random() < 0.8 else None
        k = kinds[rnd.randrange(len(kinds))]
        if k == "Pod":
            objs.append(pod(i, ns, app, sa, rnd))
        elif k == "Deployment":
            objs.append(deployment(i, ns, app, sa))
        elif k == "Service":
            objs.append(service(i, ns, app))
        else:
            objs.append(authz(i, ns, app, rnd))
    if a.namespaces_last:
        objs += ns_objs
    w = sys.stdout.write
    if a.format == "list":
        w("apiVersion: v1\nitems:\n")
        for o in objs:
            w("\n".join(o) + "\n")
        w("kind: List\nmetadata:\n  resourceVersion: \"\"\n")
    else:
        for o in objs:
            w("---\n")
            # un-indent the list item into a document
            for line in o:
                w((line[2:] if line.startswith(("- ", "  ")) else line) + "\n")


if __name__ == "__main__":
    main()
