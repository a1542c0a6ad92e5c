#!/usr/bin/env python3
"""make-corpus.py - write the raw seed inputs of the review and json fuzz targets from the test
fixtures, into a directory per target (default build-fuzz/seeds/<target>/). The committed corpora
(tests/fuzz/corpus/<target>/) are these seeds minimised by libFuzzer's -merge=1, which keeps one
input per coverage feature:

    python3 tests/fuzz/make-corpus.py build-fuzz/seeds
    build-fuzz/fuzz_review -merge=1 tests/fuzz/corpus/review build-fuzz/seeds/review
    build-fuzz/fuzz_json -merge=1 tests/fuzz/corpus/json build-fuzz/seeds/json

Sources: every case of tests/fixtures/rules/*.json (as the AdmissionReview test_rules.c builds
from it, or its raw "body"), tests/corpus/admission-reviews/*.json, tests/fixtures/e2e/*.json, and
for json a list of edge cases of the grammar (numbers, escapes, UTF-8, nesting).
"""
import glob
import hashlib
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def review_of(case):
    """The AdmissionReview test_rules.c's case_review builds (or the raw body), as bytes."""
    if "body" in case:
        return case["body"].encode("utf-8", "surrogatepass")
    if "review" in case:
        return json.dumps(case["review"]).encode()
    req = json.loads(json.dumps(case.get("request", {})))
    req.setdefault("uid", "0b7e5c1e-case")
    req.setdefault("operation", "CREATE")
    req.setdefault("userInfo", {"username": "alice"})
    obj = req.get("object")
    if "kind" not in req and isinstance(obj, dict):
        api = obj.get("apiVersion") if isinstance(obj.get("apiVersion"), str) else None
        group, version = "", "v1"
        if api:
            group, _, version = api.rpartition("/")
        kind = obj.get("kind") if isinstance(obj.get("kind"), str) else ""
        req["kind"] = {"group": group, "version": version, "kind": kind}
    return json.dumps({"apiVersion": case.get("apiVersion", "admission.k8s.io/v1"),
                       "kind": "AdmissionReview", "request": req}).encode()


JSON_EDGES = [
    b"0", b"-0", b"1.5e+10", b"-1.0E-2", b"123456789012345678901234567890", b"1e400", b"1e-400",
    b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808", b"0.1e1", b"[-0.0]",
    b"true", b"false", b"null", b'""', b'"\\u0000"', b'"a\\u0000b"', b'"\\ud83d\\ude00"',
    b'"\\u00e9\\u20ac"', b'"\\"\\\\\\/\\b\\f\\n\\r\\t"', "\"é€😀\"".encode(), b"[]", b"{}",
    b'{"a":1,"b":[true,false,null],"c":{"d":"e"}}', b'{"\\u0000":1}', b'{"a":1,"a":2}',
    b'{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k1":0}',
    b" \t\r\n[ 1 , 2 ] \n", b"[" * 600 + b"]" * 600, b"[" * 2100 + b"]" * 2100,
    b'{"a":' * 300 + b"1" + b"}" * 300, b"[1\x00]", b"112\x00", b'"\xc3\x28"', b'"\xed\xa0\x80"',
    b'"\xf4\x90\x80\x80"', b'"\xe0\x80\xaf"', b'"\\ud800"', b'"\\udc00\\ud800"',
    b'[1,2,3,]', b"[01]", b"[1.]", b"[.5]", b"[+1]", b"[1e]", b"\xef\xbb\xbf{}", b"{'a':1}",
    b'{"a" 1}', b"[nul]", b"[True]", b'"\x1f"',
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build-fuzz", "seeds")
    seeds = {"review": [], "json": []}
    for f in sorted(glob.glob(os.path.join(ROOT, "tests/fixtures/rules/*.json"))):
        for case in json.load(open(f)):
            seeds["review"].append(review_of(case))
    for pattern in ("tests/corpus/admission-reviews/*.json", "tests/fixtures/e2e/*.json"):
        for f in sorted(glob.glob(os.path.join(ROOT, pattern))):
            with open(f, "rb") as fh:
                seeds["review"].append(fh.read())
    seeds["json"] = seeds["review"] + JSON_EDGES
    for target, items in seeds.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for data in items:
            with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as fh:
                fh.write(data)
        print("%s: %d seeds in %s" % (target, len(set(items)), d))


if __name__ == "__main__":
    main()
