#!/usr/bin/env python3
"""check.py - assertions for the end-to-end suite (tests/suites/e2e_server.sh), stdlib only.
Each command exits 0 when the assertion holds, else 1 with the reason on stderr.

  verdict REQUEST RESPONSE --allowed true|false [--rules a,b] [--absent c] [--warns a]
        the response answers the request: same apiVersion, kind AdmissionReview, uid echoed,
        allowed as expected; a denial is a 403 whose message names each --rules id as "[id]"
        and no --absent id; --warns ids appear in response.warnings
  error FILE CODE   an error body {"code": CODE, "error": "<non-empty reason>"}
  metric FILE NAME  print the value of the sample NAME (exact, with labels) or 0
  logs FILE         every line is a JSON object with time, level, msg; review lines carry the
                    review fields
  json FILE EXPR    the Python expression EXPR over d (the parsed file) is true
"""
import json
import sys


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def load(path):
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except Exception as e:  # an unparsable answer is a failed assertion
        fail("%s: not JSON: %s" % (path, e))


def cmd_verdict(argv):
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("request")
    p.add_argument("response")
    p.add_argument("--allowed", required=True, choices=["true", "false"])
    p.add_argument("--rules", default="")
    p.add_argument("--absent", default="")
    p.add_argument("--warns", default="")
    a = p.parse_args(argv)
    req, resp = load(a.request), load(a.response)
    if resp.get("apiVersion") != req.get("apiVersion"):
        fail("apiVersion %r, request had %r" % (resp.get("apiVersion"), req.get("apiVersion")))
    if resp.get("kind") != "AdmissionReview":
        fail("kind %r" % resp.get("kind"))
    r = resp.get("response") or {}
    if r.get("uid") != req["request"]["uid"]:
        fail("uid %r, request had %r" % (r.get("uid"), req["request"]["uid"]))
    want = a.allowed == "true"
    if r.get("allowed") is not want:
        fail("allowed %r, want %r: %s" % (r.get("allowed"), want, json.dumps(r)[:400]))
    msg = (r.get("status") or {}).get("message", "")
    if not want:
        st = r.get("status") or {}
        if st.get("code") != 403:
            fail("status.code %r, want 403" % st.get("code"))
    for rule in filter(None, a.rules.split(",")):
        if "[%s]" % rule not in msg:
            fail("message does not name [%s]: %r" % (rule, msg[:400]))
    for rule in filter(None, a.absent.split(",")):
        if "[%s]" % rule in msg:
            fail("message names [%s]: %r" % (rule, msg[:400]))
    warnings = " ".join(r.get("warnings") or [])
    for rule in filter(None, a.warns.split(",")):
        if rule not in warnings:
            fail("warnings do not name %s: %r" % (rule, warnings[:400]))


def cmd_error(argv):
    d = load(argv[0])
    code = int(argv[1])
    if d.get("code") != code or not isinstance(d.get("error"), str) or not d["error"]:
        fail("error body %r, want code %d and a reason" % (d, code))


def cmd_metric(argv):
    path, name = argv
    value = "0"
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            parts = line.rsplit(" ", 1)
            if len(parts) == 2 and parts[0] == name:
                value = parts[1].strip()
    print(value)


REVIEW_FIELDS = ("uid", "kind", "namespace", "name", "operation", "dryRun", "decision", "rules",
                 "latency_us")


def cmd_logs(argv):
    n = reviews = 0
    with open(argv[0], encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            try:
                d = json.loads(line)
            except Exception as e:
                fail("line %d is not JSON (%s): %r" % (i, e, line[:200]))
            for k in ("time", "level", "msg"):
                if k not in d:
                    fail("line %d has no %s: %r" % (i, k, line[:200]))
            if not (len(d["time"]) == 24 and d["time"].endswith("Z") and d["time"][10] == "T"):
                fail("line %d: time %r is not RFC 3339 UTC with milliseconds" % (i, d["time"]))
            if d["msg"] == "review":
                reviews += 1
                missing = [k for k in REVIEW_FIELDS if k not in d]
                if missing:
                    fail("review line %d lacks %s" % (i, missing))
            n += 1
    if n == 0 or reviews == 0:
        fail("%d lines, %d review lines" % (n, reviews))


def cmd_json(argv):
    d = load(argv[0])
    if not eval(argv[1], {"d": d}):
        fail("false: %s over %s" % (argv[1], json.dumps(d)[:400]))


def main():
    cmds = {"verdict": cmd_verdict, "error": cmd_error, "metric": cmd_metric, "logs": cmd_logs,
            "json": cmd_json}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        fail(__doc__)
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
