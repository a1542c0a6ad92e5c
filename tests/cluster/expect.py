#!/usr/bin/env python3
"""expect.py - what `kubectl apply -f FIXTURE` must print on stderr when posture judges it: the
AdmissionReview the apiserver would send is judged by the local `posture review`, and its verdict
is spelled the way kubectl prints it.

usage: expect.py POSTURE POLICY MODE ENTRY FIXTURE [OLD_FIXTURE]
  MODE          the namespace's enrolment as the entry's path says it (sidecar, none/ambient, ...)
  ENTRY         the webhook entry's name (kubectl quotes it in a denial)
  OLD_FIXTURE   for an UPDATE: the object as it was
Prints the expected stderr exactly: for a denial
  Error from server (Forbidden): error when creating "FIXTURE": admission webhook "ENTRY" denied the request: MESSAGE
preceded by one "Warning: TEXT" line per warning (the only lines when it is allowed; nothing
when there are none).
"""
import json
import os
import subprocess
import sys

import yaml

RESOURCES = {("apps", "Deployment"): "deployments", ("", "Pod"): "pods",
             ("security.istio.io", "AuthorizationPolicy"): "authorizationpolicies"}


def main():
    posture, policy, mode, entry, fixture = sys.argv[1:6]
    old = sys.argv[6] if len(sys.argv) > 6 else None
    with open(fixture) as f:
        obj = yaml.safe_load(f)
    group, _, version = obj["apiVersion"].rpartition("/")
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "posture-e2e",
            "kind": {"group": group, "version": version, "kind": obj["kind"]},
            "resource": {"group": group, "version": version, "resource": RESOURCES[(group, obj["kind"])]},
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"].get("namespace", ""),
            "operation": "UPDATE" if old else "CREATE",
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
            "object": obj,
            "oldObject": None,
            "dryRun": False,
        },
    }
    if old:
        with open(old) as f:
            review["request"]["oldObject"] = yaml.safe_load(f)
    env = dict(os.environ, POD_NAMESPACE="posture-system")
    res = subprocess.run([posture, "review", "--namespace-mode", mode, "--policy", policy, "-"],
                         input=json.dumps(review).encode(), capture_output=True, env=env, timeout=30)
    if res.returncode not in (0, 1):
        sys.exit("expect.py: posture review failed: " + res.stderr.decode(errors="replace"))
    resp = json.loads(res.stdout)["response"]
    # the apiserver passes warnings on even with a denial; kubectl prints them as the response
    # arrives, before the error
    for w in resp.get("warnings") or []:
        print("Warning: " + w)
    if not resp["allowed"]:
        print('Error from server (Forbidden): error when creating "%s": admission webhook "%s" '
              "denied the request: %s" % (fixture, entry, resp["status"]["message"]))


if __name__ == "__main__":
    main()
