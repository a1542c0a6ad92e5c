#!/usr/bin/env python3
"""corpus_check.py - `posture check` over the real manifests in tests/corpus/{istio-authz,
kyverno-istio,workloads} against tests/corpus/expected-verdicts.tsv (tests/corpus/README.md).

Each source file is checked alone (they are unrelated projects' manifests) with
tests/check/corpus-policy.yaml (every rule denies, no exempt namespace: the coredump DaemonSet in
istio-system is expected deny) and --namespace-mode sidecar, as JSON. Per TSV row (file + 0-based
document index, which is ydoc_index: empty documents count):
  - verdict: deny when the object has a deny finding of default-service-account or
    authorization-policy-wildcard (the rules the verdict column is about), allow when it has none,
    skip (an empty document) when nothing at all refers to that document; no document is broken;
  - mesh_injection column (templates of workload kinds): "opts out (...)" must give a mesh-injection
    inject-false finding in a sidecar namespace; "neither"/"opts in" must not;
  - per file: the summary's documents equal the TSV's rows; every object of a kind the TSV judges
    (workloads, AuthorizationPolicy) is judged, and nothing is skipped but kinds no rule judges.
Rows in tests/check/corpus-overrides.tsv expect posture's own answer (with the reason there).
usage: corpus_check.py POSTURE   (from the repository root); prints "ok ..."/"FAIL ..." lines and a
last line "corpus: P passed, F failed"."""
import collections
import csv
import json
import subprocess
import sys

JUDGED = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
          "ReplicationController", "AuthorizationPolicy"}
VERDICT_RULES = {"default-service-account", "authorization-policy-wildcard"}


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def main():
    posture = sys.argv[1]
    rows = read_tsv("tests/corpus/expected-verdicts.tsv")
    overrides = {(r["folder"], r["file"], int(r["doc"])): r for r in read_tsv("tests/check/corpus-overrides.tsv")}
    by_file = collections.OrderedDict()
    for r in rows:
        by_file.setdefault((r["folder"], r["file"]), []).append(r)
    passed = failed = 0

    def check(cond, what):
        nonlocal passed, failed
        if cond:
            passed += 1
        else:
            failed += 1
            print("FAIL " + what)

    used_overrides = set()
    for (folder, file), frows in by_file.items():
        path = f"tests/corpus/{folder}/{file}"
        p = subprocess.run([posture, "check", "--policy", "tests/check/corpus-policy.yaml",
                            "--namespace-mode", "sidecar", "-o", "json", path],
                           capture_output=True, text=True, timeout=60)
        try:
            out = json.loads(p.stdout)
        except ValueError:
            check(False, f"{path}: output is not JSON (exit {p.returncode}): {p.stderr.strip()[:200]}")
            continue
        findings = collections.defaultdict(list)
        for f in out["findings"]:
            # a cross-object finding about a namespace known only from flags has no document
            if "doc" in f:
                findings[f["doc"]].append(f)
        errors = {e["doc"]: e for e in out["errors"] if "doc" in e}
        want_docs = want_judged = 0
        for r in frows:
            doc = int(r["doc"])
            where = f"{folder}/{file} doc {doc} {r['kind']}/{r['name']}"
            ov = overrides.get((folder, file, doc))
            if ov:
                used_overrides.add((folder, file, doc))
                check(r["verdict"] == ov["expected"], f"{where}: override expects TSV verdict {ov['expected']}, TSV says {r['verdict']}")
                if ov["posture"] == "broken":
                    check(doc in errors, f"{where}: expected broken (override), got no error")
                    want_docs += 1
                    continue
                r = dict(r, verdict=ov["posture"])
            if r["verdict"] == "skip":
                check(doc not in findings and doc not in errors, f"{where}: empty document, yet reported")
                continue
            want_docs += 1
            want_judged += r["kind"] in JUDGED
            check(doc not in errors, f"{where}: broken: {errors.get(doc, {}).get('message')}")
            deny = [f for f in findings[doc] if f["action"] == "deny" and f["rule"] in VERDICT_RULES]
            got = "deny" if deny else "allow"
            check(got == r["verdict"], f"{where}: expected {r['verdict']}, got {got} "
                  f"({'; '.join(f['rule'] + ': ' + f['message'] for f in deny) or 'no deny finding'})")
            note = r["mesh_injection"]
            if r["kind"] in JUDGED - {"Pod", "AuthorizationPolicy"} and note:
                opt_out = any(f["rule"] == "mesh-injection" and f["cause"] == "inject-false" for f in findings[doc])
                if note.startswith("opts out"):
                    check(opt_out, f"{where}: mesh_injection '{note}', yet no inject-false finding")
                elif note.startswith(("neither", "opts in")):
                    check(not opt_out, f"{where}: mesh_injection '{note}', yet an inject-false finding")
        s = out["summary"]
        check(s["documents"] == want_docs, f"{path}: {s['documents']} documents read, TSV has {want_docs}")
        # the TSV's judged kinds must all be judged (posture may judge more kinds: Namespace, ...)
        check(s["judged"] >= want_judged and s.get("skippedReasons", {}).keys() <= {"kind not judged"},
              f"{path}: {s['judged']} judged, TSV has {want_judged} of judged kinds; skipped {s.get('skippedReasons')}")
        want_rc = 2 if s["broken"] else (1 if s["deny"] else 0)
        check(p.returncode == want_rc, f"{path}: exit {p.returncode}, expected {want_rc}")
    for k in overrides:
        check(k in used_overrides, f"override {k} matches no TSV row")
    print(f"corpus: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
