#!/usr/bin/env python3
"""pyyaml-baseline.py - the yardstick for `posture check`'s speed: the same parse with PyYAML's C
loader (libyaml; Debian python3-yaml) and the default-service-account check, over the same input.

usage: pyyaml-baseline.py FILE...   prints "<documents> documents, <deny> deny, <seconds> s, <docs/s> docs/s"
A `kind: List` counts its items, as posture check does."""
import sys
import time

import yaml

WORKLOADS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
             "ReplicationController"}


def pod_spec(obj):
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
    return ((spec.get("template") or {}).get("spec") or {})


def objects(doc):
    if isinstance(doc, dict) and isinstance(doc.get("items"), list) and str(doc.get("kind", "")).endswith("List"):
        yield from doc["items"]
    elif doc is not None:
        yield doc


def main():
    t0 = time.perf_counter()
    docs = deny = 0
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            for doc in yaml.load_all(f, Loader=yaml.CSafeLoader):
                for obj in objects(doc):
                    docs += 1
                    if not isinstance(obj, dict) or obj.get("kind") not in WORKLOADS:
                        continue
                    spec = pod_spec(obj)
                    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or ""
                    if sa in ("", "default"):
                        deny += 1
    dt = time.perf_counter() - t0
    print(f"{docs} documents, {deny} deny, {dt:.3f} s, {docs / dt:.0f} docs/s")


if __name__ == "__main__":
    main()
