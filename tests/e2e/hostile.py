#!/usr/bin/env python3
"""hostile.py - hostile input for `posture serve` over the wire, and for the YAML CLIs; the driver of
tests/suites/hostile.sh. Standard library only (ssl, socket, threading, subprocess).

Against a running server (--port; --slow-port: one with a 2 s request deadline) it sends malformed
input class by class, each of which must get a clear 4xx (our JSON error body with a reason where
the answer is ours), or a clean refusal or connection close at the transport level, while a good
client on its own keep-alive connections keeps getting correct verdicts the whole time (zero
failures allowed). Every broken review carries a planted secret in its object (--secret), which
the shell script then looks for in the server's log. Then the YAML inputs go through `posture
check` and `posture policy check` (--bin), each run measured (wall time, peak RSS by /usr/bin/time).

Prints one line per check on stderr ("ok   ..." / "FAIL ...") and, last on stdout, one JSON line
{"passed": P, "failed": F, ...figures}.
"""
import argparse
import http.client
import json
import os
import random
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from client import close_counting_open  # tests/e2e/client.py, next to this file

ARGS = None
CTX = None
SLOW = 1.0
RESULTS = {"passed": 0, "failed": 0}
FIGURES = {}
LOCK = threading.Lock()
T0 = time.monotonic()


def report(ok, name, detail=""):
    with LOCK:
        RESULTS["passed" if ok else "failed"] += 1
        stamp = "%6.2fs" % (time.monotonic() - T0)
        print("%s %s %s%s" % ("ok  " if ok else "FAIL", stamp, name, (": " + detail) if detail else ""),
              file=sys.stderr, flush=True)


def check(name, fn):
    """Run fn() -> (ok, detail); an exception is a failure."""
    try:
        ok, detail = fn()
    except Exception as e:  # a check that blows up has failed
        ok, detail = False, "exception: %r" % (e,)
    report(ok, name, detail)
    return ok


# ---- wire helpers ----

def tls_socket(port, timeout=10.0):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return CTX.wrap_socket(raw, server_hostname="localhost")


def parse_responses(buf):
    """HTTP/1.1 responses at the start of buf: ([(status, headers, body)], complete)."""
    out = []
    while buf:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return out, False
        head = buf[:end].decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            return out, False
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        rest = buf[end + 4:]
        n = int(headers.get("content-length", "0") or 0)
        if len(rest) < n:
            return out, False
        out.append((int(parts[1]), headers, rest[:n]))
        buf = rest[n:]
    return out, True


class Exchange:
    def __init__(self):
        self.data = b""
        self.responses = []
        self.closed = False
        self.send_error = None
        self.elapsed = 0.0

    @property
    def first(self):
        return self.responses[0] if self.responses else None

    def describe(self):
        if self.responses:
            st, _, body = self.responses[0]
            return "HTTP %d %s%s (%.2fs)" % (st, body[:160].decode("utf-8", "replace").strip(),
                                            ", then closed" if self.closed else "", self.elapsed)
        return "no answer, %s after %.2fs%s%s" % (
            "closed" if self.closed else "still open", self.elapsed,
            "; send: %s" % self.send_error if self.send_error else "",
            "; got %r" % self.data[:40] if self.data else "")


def exchange(port, pieces, wait=10.0, want=1, tls=True, pause=0.0):
    """Send pieces (bytes, or a list of bytes sent pause seconds apart) on a new connection and read
    until want responses are parsed, the server closes, or wait seconds pass."""
    ex = Exchange()
    t0 = time.monotonic()
    raw = socket.create_connection(("127.0.0.1", port), timeout=wait)
    s = CTX.wrap_socket(raw, server_hostname="localhost") if tls else raw
    if isinstance(pieces, bytes):
        pieces = [pieces]
    try:
        for i, p in enumerate(pieces):
            if i and pause:
                time.sleep(pause)
            s.sendall(p)
    except (OSError, ssl.SSLError) as e:
        ex.send_error = type(e).__name__
    deadline = t0 + wait
    try:
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                b = s.recv(1 << 16)
            except socket.timeout:
                break
            if not b:
                ex.closed = True
                break
            ex.data += b
            ex.responses, _ = parse_responses(ex.data)
            if len(ex.responses) >= want:
                break
    except (OSError, ssl.SSLError):
        ex.closed = True
    ex.responses, _ = parse_responses(ex.data)
    ex.elapsed = time.monotonic() - t0
    s.close()
    return ex


def http_post(path, body, headers=None, ctype=b"application/json", length=True):
    h = b"POST " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
    if ctype is not None:
        h += b"Content-Type: " + ctype + b"\r\n"
    if length:
        h += b"Content-Length: %d\r\n" % len(body)
    for k, v in (headers or []):
        h += k + b": " + v + b"\r\n"
    return h + b"\r\n" + body


def chunked(body, size=65536):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


# ---- expectations ----

def our_error(resp, code, contains=None):
    """Our JSON error body: {"code": code, "error": "<reason>"} (with contains in the reason)."""
    st, headers, body = resp
    if st != code:
        return False, "HTTP %d, want %d: %s" % (st, code, body[:200])
    try:
        d = json.loads(body)
    except ValueError:
        return False, "HTTP %d with a body that is not JSON: %r" % (st, body[:120])
    if d.get("code") != code or not isinstance(d.get("error"), str) or not d["error"]:
        return False, "error body without a reason: %r" % body[:200]
    if contains and contains not in d["error"]:
        return False, "reason %r does not contain %r" % (d["error"][:200], contains)
    return True, "HTTP %d: %s" % (st, d["error"][:110])


def expect_error(port, req, code, contains=None, wait=20.0):
    def fn():
        ex = exchange(port, req, wait=wait * SLOW)
        if not ex.first:
            return False, ex.describe()
        ok, detail = our_error(ex.first, code, contains)
        return ok, "%s (%.2fs)" % (detail, ex.elapsed)
    return fn


def expect_refused(port, req, statuses=(400, 413, 414, 431), closed_within=None, tls=True,
                   pieces_pause=0.0, wait=10.0):
    """A transport-level refusal: a 4xx (statuses) from libmicrohttpd, or the connection closed
    without any HTTP answer; never a 2xx. closed_within: the close must come that fast."""
    def fn():
        ex = exchange(port, req, wait=wait * SLOW, tls=tls, pause=pieces_pause)
        if ex.first:
            st = ex.first[0]
            if st in statuses:
                return True, ex.describe()
            return False, "unexpected " + ex.describe()
        if ex.data.startswith(b"HTTP/"):
            return False, "a partial HTTP answer: %r" % ex.data[:80]
        if not ex.closed:
            return False, ex.describe()
        if closed_within is not None and ex.elapsed > closed_within * SLOW:
            return False, "closed only after %.2fs (want <= %.1fs)" % (ex.elapsed, closed_within * SLOW)
        return True, ex.describe()
    return fn


def verdict_of(resp, uid, allowed):
    st, headers, body = resp
    if st != 200:
        return False, "HTTP %d: %s" % (st, body[:200])
    d = json.loads(body)
    r = d.get("response") or {}
    if r.get("uid") != uid:
        return False, "uid %r, want %r" % (r.get("uid"), uid)
    if allowed is not None and r.get("allowed") is not allowed:
        return False, "allowed %r, want %r" % (r.get("allowed"), allowed)
    return True, "HTTP 200, allowed %s" % json.dumps(r.get("allowed"))


def expect_verdict(port, req, uid, allowed, path_note="", max_s=None):
    def fn():
        ex = exchange(port, req, wait=30 * SLOW)
        if not ex.first:
            return False, ex.describe()
        ok, detail = verdict_of(ex.first, uid, allowed)
        if ok and max_s is not None and ex.elapsed > max_s * SLOW:
            return False, "answered in %.2fs (want <= %.1fs)" % (ex.elapsed, max_s * SLOW)
        return ok, "%s%s (%.2fs)" % (detail, path_note, ex.elapsed)
    return fn


# ---- the good client ----

class GoodClient(threading.Thread):
    """Keep-alive reviews with known verdicts, all along; any wrong or missing answer is a failure."""

    def __init__(self, port, fixtures):
        super().__init__(daemon=True)
        self.port = port
        self.cases = []
        for path, fx, allowed in fixtures:
            with open(fx, "rb") as f:
                body = f.read()
            self.cases.append((path, body, json.loads(body)["request"]["uid"], allowed))
        self.stop = threading.Event()
        self.ok = 0
        self.failed = 0
        self.errors = []
        self.latencies = []

    def run(self):
        conn = None
        n = 0
        while not self.stop.is_set():
            path, body, uid, allowed = self.cases[n % len(self.cases)]
            n += 1
            try:
                if conn is None or n % 200 == 0:
                    if conn is not None:
                        conn.close()
                    conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=CTX, timeout=20)
                t = time.monotonic()
                conn.request("POST", path + "?timeout=10s", body=body,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                self.latencies.append(time.monotonic() - t)
                ok, detail = verdict_of((resp.status, {}, data), uid, allowed)
                if ok:
                    self.ok += 1
                else:
                    self.failed += 1
                    self.errors.append(detail)
            except Exception as e:  # any failure of a good request counts
                self.failed += 1
                self.errors.append("%s: %r" % (path, e))
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(0.005)
        if conn is not None:
            conn.close()


# ---- review bodies ----

def pod_review(secret):
    return {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "hostile-pod", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE", "namespace": "shop", "name": "web",
            "userInfo": {"username": "alice"}, "dryRun": False,
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": "web", "namespace": "shop", "labels": {"app": "web"},
                    "annotations": {"note": secret, "sidecar.istio.io/status": "{}"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                         "name": "web-1", "uid": "1", "controller": True}],
                },
                "spec": {
                    "serviceAccountName": "web",
                    "containers": [{"name": "app", "image": "registry.example/" + secret,
                                    "env": [{"name": "PASSWORD", "value": secret}]}],
                    "initContainers": [{"name": "init", "image": "busybox", "restartPolicy": "Always"}],
                },
            },
        },
    }


def workload_review(kind, group, spec, secret):
    r = pod_review(secret)
    pod = r["request"]["object"]
    r["request"]["kind"] = {"group": group, "version": "v1", "kind": kind}
    r["request"]["object"] = {"apiVersion": (group + "/v1") if group else "v1", "kind": kind,
                              "metadata": {"name": "web", "annotations": {"note": secret}},
                              "spec": spec(pod)}
    return r


def authz_review(secret):
    r = pod_review(secret)
    r["request"]["kind"] = {"group": "security.istio.io", "version": "v1", "kind": "AuthorizationPolicy"}
    r["request"]["object"] = {
        "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
        "metadata": {"name": "ap", "annotations": {"note": secret}},
        "spec": {"action": "ALLOW", "rules": [{
            "from": [{"source": {"principals": ["cluster.local/ns/shop/sa/web"]}}],
            "to": [{"operation": {"paths": ["/api"], "methods": ["GET"]}}],
            "when": [{"key": "request.headers[x]", "values": [secret]}]}]},
    }
    return r


def set_path(d, path, value, delete=False):
    """path: list of keys / indexes."""
    for k in path[:-1]:
        d = d[k]
    if delete:
        del d[path[-1]]
    else:
        d[path[-1]] = value


def dumps(d):
    return json.dumps(d, separators=(",", ":")).encode()


# ---- the classes ----

def json_classes(port, secret):
    base = pod_review(secret)
    path = "/validate"

    def body_of(d):
        return http_post(path, dumps(d))

    # a valid baseline first, so that each 400 below is about its one change
    check("baseline: the unbroken hostile-pod review is judged (200)",
          expect_verdict(port, body_of(base), "hostile-pod", None))

    full = dumps(base)
    check("truncated JSON (cut in the middle): 400", expect_error(port, http_post(path, full[:len(full) // 2]), 400, "invalid JSON"))
    check("truncated JSON (cut inside a string): 400", expect_error(port, http_post(path, full[:full.index(b"shop") + 2]), 400, "unterminated string"))
    check("deeply nested arrays (100k levels): 400",
          expect_error(port, http_post(path, b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":' + b"[" * 100000 + b"]" * 100000 + b"}"), 400, "nesting too deep"))
    check("deeply nested objects inside the object (100k levels): 400",
          expect_error(port, http_post(path, full.replace(b'"labels":', b'"x":' + b'{"a":' * 100000 + b"1" + b"}" * 100000 + b',"labels":', 1)), 400, "nesting too deep"))
    big = b'"' + b"x" * (8 * 1024 * 1024) + b'"'
    check("huge string (one 8 MiB string, over the body limit): 413 from Content-Length",
          expect_error(port, http_post(path, big), 413, "over the limit"))
    check("huge string unterminated (6 MiB): 400",
          expect_error(port, http_post(path, full[:full.index(b'"note":"') + 8] + b"y" * (6 << 20)), 400, "unterminated string"))
    d = pod_review(secret)
    d["request"]["uid"] = "u" * (2 << 20)
    check("huge string as the uid (2 MiB, echoed in an answer): 400",
          expect_error(port, body_of(d), 400, "request.uid: longer than"))
    d = pod_review(secret)
    d["request"]["object"]["metadata"]["annotations"]["big"] = "v" * (6 << 20)
    check("huge string as an annotation value (6 MiB, valid): judged within 2 s",
          expect_verdict(port, body_of(d), "hostile-pod", None, max_s=2))
    check("huge array (4.19M numbers in 8 MiB): 400, too many values",
          expect_error(port, http_post(path, b"[" + b"0," * 4190000 + b"0]"), 400, "too many values"))
    d = pod_review(secret)
    d["request"]["object"]["spec"]["containers"] = [{"name": "c%d" % i} for i in range(200000)]
    check("huge array of containers (200k, valid): judged within 3 s",
          expect_verdict(port, body_of(d), "hostile-pod", None, max_s=3))
    d = pod_review(secret)
    d["request"]["object"]["metadata"]["labels"] = {"k%d" % i: "v" for i in range(200000)}
    check("huge object (200k labels, valid): judged within 3 s",
          expect_verdict(port, body_of(d), "hostile-pod", None, max_s=3))
    check("raw NUL byte inside a string: 400",
          expect_error(port, http_post(path, full.replace(b'"web"', b'"w\x00eb"', 1)), 400, "control character"))
    check("raw NUL byte between tokens: 400",
          expect_error(port, http_post(path, full.replace(b",", b",\x00", 1)), 400, "invalid JSON"))
    check("NUL escape (\\u0000) in the uid: judged, uid echoed byte for byte",
          expect_verdict(port, http_post(path, full.replace(b'"hostile-pod"', b'"hostile\\u0000pod"', 1)), "hostile\x00pod", None))
    check("invalid UTF-8 in a string (lone continuation byte): 400",
          expect_error(port, http_post(path, full.replace(b'"web"', b'"w\x80b"', 1)), 400, "invalid UTF-8"))
    check("invalid UTF-8 (overlong encoding of '/'): 400",
          expect_error(port, http_post(path, full.replace(b'"web"', b'"w\xc0\xafb"', 1)), 400, "invalid UTF-8"))
    check("invalid UTF-8 (a surrogate encoded in UTF-8): 400",
          expect_error(port, http_post(path, full.replace(b'"web"', b'"w\xed\xa0\x80b"', 1)), 400, "invalid UTF-8"))
    check("invalid UTF-8 in a key: 400",
          expect_error(port, http_post(path, full.replace(b'"note"', b'"n\xffte"', 1)), 400, "invalid UTF-8"))
    check("lone surrogate escape: 400",
          expect_error(port, http_post(path, full.replace(b'"web"', b'"w\\ud800b"', 1)), 400, "surrogate"))
    check("duplicate key at the top: 400",
          expect_error(port, http_post(path, full.replace(b'{"apiVersion"', b'{"kind":"AdmissionReview","apiVersion"', 1)), 400, "duplicate key"))
    check("duplicate uid: 400",
          expect_error(port, http_post(path, full.replace(b'"uid":"hostile-pod"', b'"uid":"hostile-pod","uid":"other"', 1)), 400, "duplicate key"))
    check("duplicate serviceAccountName inside the object (smuggling): 400",
          expect_error(port, http_post(path, full.replace(b'"serviceAccountName":"web"', b'"serviceAccountName":"web","serviceAccountName":"default"', 1)), 400, "duplicate key"))

    # every field of the review with the wrong JSON type: a 400 that names the field
    R = ["request"]
    O = R + ["object"]
    wrong = [
        (["apiVersion"], 7, "apiVersion"),
        (["kind"], ["AdmissionReview"], "kind"),
        (R, "request", "request"),
        (R + ["uid"], 7, "request.uid"),
        (R + ["kind"], "Pod", "request.kind"),
        (R + ["kind", "kind"], 7, "request.kind.kind"),
        (R + ["kind", "group"], True, "request.kind.group"),
        (R + ["operation"], False, "request.operation"),
        (R + ["namespace"], {}, "request.namespace"),
        (R + ["name"], [], "request.name"),
        (R + ["userInfo"], "alice", "request.userInfo"),
        (R + ["userInfo", "username"], 7, "request.userInfo.username"),
        (R + ["dryRun"], "false", "request.dryRun"),
        (O, [], "request.object"),
        (O + ["metadata"], "web", "request.object.metadata"),
        (O + ["metadata", "name"], 7, "request.object.metadata.name"),
        (O + ["metadata", "labels"], ["app"], "request.object.metadata.labels"),
        (O + ["metadata", "labels", "app"], 1, 'request.object.metadata.labels["app"]'),
        (O + ["metadata", "annotations"], "x", "request.object.metadata.annotations"),
        (O + ["metadata", "annotations", "sidecar.istio.io/status"], None, "sidecar.istio.io/status"),
        (O + ["metadata", "ownerReferences"], {}, "request.object.metadata.ownerReferences"),
        (O + ["metadata", "ownerReferences", 0, "controller"], "true", "ownerReferences[0].controller"),
        (O + ["spec"], [], "request.object.spec"),
        (O + ["spec", "serviceAccountName"], 7, "request.object.spec.serviceAccountName"),
        (O + ["spec", "hostNetwork"], "true", "request.object.spec.hostNetwork"),
        (O + ["spec", "containers"], {}, "request.object.spec.containers"),
        (O + ["spec", "containers", 0], "app", "request.object.spec.containers[0]"),
        (O + ["spec", "containers", 0, "name"], 7, "request.object.spec.containers[0].name"),
        (O + ["spec", "initContainers", 0, "restartPolicy"], True, "initContainers[0].restartPolicy"),
    ]
    for p, v, field in wrong:
        d = pod_review(secret)
        set_path(d, p, v)
        check("wrong type: %s = %s: 400 naming it" % (".".join(map(str, p)), json.dumps(v)),
              expect_error(port, body_of(d), 400, field))
    d = pod_review(secret)
    d["request"]["operation"] = "UPDATE"
    d["request"]["oldObject"] = "web"
    check("wrong type: request.oldObject = \"web\" (UPDATE): 400 naming it", expect_error(port, body_of(d), 400, "request.oldObject"))
    d = workload_review("Deployment", "apps", lambda pod: {"template": "web"}, secret)
    check("wrong type: Deployment spec.template = \"web\": 400 naming it", expect_error(port, body_of(d), 400, "request.object.spec.template"))
    d = workload_review("CronJob", "batch", lambda pod: {"jobTemplate": {"spec": {"template": {"spec": {"hostNetwork": "yes"}}}}}, secret)
    check("wrong type: CronJob jobTemplate...hostNetwork = \"yes\": 400 naming it", expect_error(port, body_of(d), 400, "spec.jobTemplate.spec.template.spec.hostNetwork"))
    authz_wrong = [
        (["spec", "action"], 5, "request.object.spec.action"),
        (["spec", "rules"], {}, "request.object.spec.rules"),
        (["spec", "rules", 0, "from"], "everyone", "request.object.spec.rules[0].from"),
        (["spec", "rules", 0, "from", 0, "source", "principals"], 7, "source.principals"),
        (["spec", "rules", 0, "to", 0, "operation", "paths", 0], 1, "operation.paths[0]"),
        (["spec", "rules", 0, "when", 0, "key"], 1, "when[0].key"),
    ]
    for p, v, field in authz_wrong:
        d = authz_review(secret)
        set_path(d["request"]["object"], p, v)
        check("wrong type: AuthorizationPolicy %s = %s: 400 naming it" % (".".join(map(str, p)), json.dumps(v)),
              expect_error(port, body_of(d), 400, field))
    check("AuthorizationPolicy baseline (pinned) is judged: allowed",
          expect_verdict(port, body_of(authz_review(secret)), "hostile-pod", True))

    for p, field in [(["request"], "request: missing"), (R + ["uid"], "request.uid: missing"),
                     (O, "request.object: missing"), (R + ["kind"], "request.kind: missing"),
                     (R + ["operation"], "request.operation: missing"), (["apiVersion"], "apiVersion: missing")]:
        d = pod_review(secret)
        set_path(d, p, None, delete=True)
        check("missing %s: 400" % ".".join(p), expect_error(port, body_of(d), 400, field))
    d = pod_review(secret)
    d["apiVersion"] = "admission.k8s.io/v2"
    check("unknown apiVersion admission.k8s.io/v2: 400", expect_error(port, body_of(d), 400, "apiVersion: expected"))
    check("body is a JSON array: 400", expect_error(port, http_post(path, b"[" + full + b"]"), 400, "expected an AdmissionReview object"))
    check("empty body: 400", expect_error(port, http_post(path, b""), 400, "empty input"))


def http_classes(port, slow_port, secret):
    with open(ARGS.meshed, "rb") as f:
        meshed = f.read()
    meshed_uid = json.loads(meshed)["request"]["uid"]
    sidecar = "/validate/namespace/sidecar"
    head = (b"POST " + sidecar.encode() + b" HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n")
    check("chunked body (valid review): judged",
          expect_verdict(port, head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(meshed, 97), meshed_uid, True))
    over = b"[" + b" " * (9 << 20) + b"]"
    check("chunked body over the 8 MiB limit: 413",
          expect_error(port, head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(over, 1 << 20), 413, "over the limit"))
    check("POST with neither Content-Length nor chunking: 400 (no body)",
          expect_error(port, http_post(sidecar, meshed, length=False), 400, "empty input"))

    def cl_and_te():
        req = head + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(meshed)
        ex = exchange(port, req, wait=10 * SLOW)
        if not ex.first:
            return False, ex.describe()
        st = ex.first[0]
        if st == 200:   # RFC 9112: Transfer-Encoding overrides Content-Length
            return verdict_of(ex.first, meshed_uid, True)
        return (400 <= st < 500), ex.describe()
    check("both Content-Length and Transfer-Encoding (smuggling shape): chunked wins or 4xx", cl_and_te)
    check("Content-Length not a number: 400 from libmicrohttpd",
          expect_refused(port, head + b"Content-Length: abc\r\n\r\n" + meshed, statuses=(400,)))
    check("Content-Length negative: 400 from libmicrohttpd",
          expect_refused(port, head + b"Content-Length: -5\r\n\r\n" + meshed, statuses=(400,)))
    check("invalid chunk size: 400 from libmicrohttpd",
          expect_refused(port, head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", statuses=(400,)))

    def larger_than_announced():
        # 64 bytes announced, the whole review sent: the first 64 bytes are judged (a truncated
        # review: 400); the rest is not a request: refused or the connection closed
        req = head + b"Content-Length: 64\r\n\r\n" + meshed
        ex = exchange(port, req, wait=10 * SLOW, want=2)
        if not ex.first:
            return False, ex.describe()
        ok, detail = our_error(ex.first, 400, "invalid JSON")
        if not ok:
            return False, detail
        rest = ex.responses[1:]
        if any(r[0] < 400 for r in rest):
            return False, "the excess bytes got a %d" % rest[0][0]
        return True, "%s; excess bytes: %s" % (detail, ("HTTP %d" % rest[0][0]) if rest else
                                              ("closed" if ex.closed else "ignored"))
    check("body larger than announced: the announced bytes judged (400), the rest refused", larger_than_announced)
    check("body shorter than announced: no answer, closed by the 2 s request deadline",
          expect_refused(slow_port, head + b"Content-Length: %d\r\n\r\n" % (len(meshed) + 100) + meshed,
                         statuses=(), closed_within=5, wait=12))

    def pipelined():
        bodies = []
        for i in range(3):
            d = json.loads(meshed)
            d["request"]["uid"] = "pipelined-%d" % i
            bodies.append(http_post(sidecar, dumps(d)))
        ex = exchange(port, b"".join(bodies), wait=15 * SLOW, want=3)
        if len(ex.responses) != 3:
            return False, "%d answers: %s" % (len(ex.responses), ex.describe())
        for i, r in enumerate(ex.responses):
            ok, detail = verdict_of(r, "pipelined-%d" % i, True)
            if not ok:
                return False, "answer %d: %s" % (i, detail)
        return True, "3 reviews in one write, 3 answers in order (%.2fs)" % ex.elapsed
    check("pipelined requests (three reviews in one write): answered in order", pipelined)
    many = b"".join(b"X-Flood-%d: %s\r\n" % (i, b"v" * 20) for i in range(10000))
    check("header flood (10,000 headers): 431 or closed",
          expect_refused(port, head + many + b"Content-Length: %d\r\n\r\n" % len(meshed) + meshed, statuses=(431, 413, 400)))
    check("one huge header (1 MiB): 431 or closed",
          expect_refused(port, head + b"X-Big: " + b"a" * (1 << 20) + b"\r\nContent-Length: %d\r\n\r\n" % len(meshed) + meshed,
                         statuses=(431, 413, 400)))
    check("huge URL (100 KiB): 414 or closed",
          expect_refused(port, b"POST /validate/" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", statuses=(414, 431, 400)))
    check("garbage request line: refused",
          expect_refused(port, b"GARBAGE \x01\x02 NONSENSE\r\n\r\n", statuses=(400,), closed_within=5))
    check("HTTP/2 preface over TLS (no ALPN): 505 or closed",
          expect_refused(port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", statuses=(505, 400)))
    check("Content-Type text/plain: 415", expect_error(port, http_post(sidecar, meshed, ctype=b"text/plain"), 415))
    req = head + b"Content-Length: %d\r\n\r\n" % len(meshed) + meshed
    check("slowloris (headers one byte every 0.2 s): closed by the 2 s request deadline",
          expect_refused(slow_port, [req[i:i + 1] for i in range(200)], statuses=(), closed_within=5,
                         pieces_pause=0.2, wait=15))

    # ---- TLS level ----
    plain = b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    check("plaintext HTTP on the TLS port: no HTTP answer, closed",
          expect_refused(port, plain, statuses=(), tls=False, closed_within=5))
    rnd = random.Random(7)
    junk = bytes(rnd.randrange(256) for _ in range(4096))
    check("garbage instead of a TLS ClientHello (not a record type): closed at once",
          expect_refused(port, b"\x00" + junk, statuses=(), tls=False, closed_within=2))
    # random bytes may look like the length of an SSLv2-style hello still to come: the deadline
    check("random bytes instead of a TLS ClientHello: closed by the 2 s deadline at the latest",
          expect_refused(slow_port, b"\x80" + junk, statuses=(), tls=False, closed_within=5, wait=12))
    check("a ClientHello record header, then nothing: closed by the 2 s deadline",
          expect_refused(slow_port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", statuses=(), tls=False,
                         closed_within=5, wait=12))
    check("TLS record claiming 16 MiB: closed",
          expect_refused(port, b"\x16\x03\x03\xff\xff" + b"\x00" * 1000, statuses=(), tls=False, closed_within=5))


def idle_connections(port, count):
    """count keep-alive connections idle (after one /healthz each), then time reviews."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, count + 256)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    socks = []
    errors = []

    def open_one(_):
        try:
            s = tls_socket(port, timeout=30)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"\r\n\r\nok\n" not in data:
                b = s.recv(4096)
                if not b:
                    raise OSError("closed")
                data += b
            return s
        except Exception as e:  # counted below
            errors.append(repr(e))
            return None

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for s in pool.map(open_one, range(count)):
            if s is not None:
                socks.append(s)
    opened_s = time.monotonic() - t0
    with open(ARGS.meshed, "rb") as f:
        body = f.read()
    uid = json.loads(body)["request"]["uid"]
    # a review on a fresh connection (handshake included), then 50 on one keep-alive connection
    t = time.monotonic()
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=CTX, timeout=20)
    conn.request("POST", "/validate/namespace/sidecar", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    first = r.read()
    fresh_ms = (time.monotonic() - t) * 1000
    lat = []
    bad = 0 if verdict_of((r.status, {}, first), uid, True)[0] else 1
    for _ in range(50):
        t = time.monotonic()
        conn.request("POST", "/validate/namespace/sidecar", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        lat.append((time.monotonic() - t) * 1000)
        bad += 0 if verdict_of((r.status, {}, data), uid, True)[0] else 1
    conn.close()
    alive = close_counting_open(socks)
    med = statistics.median(lat)
    p95 = sorted(lat)[int(len(lat) * 0.95) - 1]
    FIGURES["idle"] = {"connections": len(socks), "opened_s": round(opened_s, 2), "still_open": alive,
                       "fresh_ms": round(fresh_ms, 2), "median_ms": round(med, 2), "p95_ms": round(p95, 2),
                       "max_ms": round(max(lat), 2)}
    limit = 10 * SLOW
    detail = ("%d idle connections (opened in %.1fs, %d still open after): review on a fresh connection "
              "%.1f ms, on a warm one median %.2f ms, p95 %.2f ms, max %.2f ms (limit: median %.0f ms)"
              % (len(socks), opened_s, alive, fresh_ms, med, p95, max(lat), limit))
    ok = len(socks) == count and alive >= count - 5 and bad == 0 and med <= limit
    if errors:
        detail += "; open errors: %s" % errors[:3]
    report(ok, "%d idle connections: a review still completes within a few ms" % count, detail)


# ---- YAML through the CLIs ----

def run_cli(argv, timeout):
    """Run argv under /usr/bin/time; returns (rc, output, seconds, peak RSS in MiB). (wait4's
    ru_maxrss would count this Python process too: a child's high-water mark survives exec.)"""
    with tempfile.NamedTemporaryFile(prefix="posture-hostile-rss.") as rss:
        t0 = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss.name] + argv,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        secs = time.monotonic() - t0
        text = open(rss.name).read().strip().splitlines()
        kib = int(text[-1]) if text and text[-1].isdigit() else -1
    return p.returncode, out.decode("utf-8", "replace"), secs, kib / 1024.0


def yaml_classes(tmp):
    """Each input through `posture check` and `posture policy check`: a clear error (exit 2, the
    message, FILE:LINE:COL), bounded time and peak RSS."""
    bin_ = ARGS.bin
    max_s = 10 * SLOW
    max_mib = 100 if SLOW == 1 else 600
    laughs = "a: &a [" + ",".join(['"lol"'] * 9) + "]\n"
    for i, c in enumerate("bcdefghi"):
        prev = "abcdefgh"[i]
        laughs += "%s: &%s [%s]\n" % (c, c, ",".join(["*" + prev] * 9))
    pods = "".join("---\napiVersion: v1\nkind: Pod\nmetadata: {name: p%d, namespace: shop}\n"
                   "spec: {serviceAccountName: web, containers: [{name: app}]}\n" % i for i in range(20000))
    # (name, text, check's expected text, policy check's expected text, check's exit status)
    cases = [
        ("alias bomb (billion laughs, 9 levels)", laughs, "alias bomb", "alias bomb", 2),
        ("deep nesting (100k flow levels)", "a: " + "[" * 100000 + "]" * 100000 + "\n", "nesting deeper", "nesting deeper", 2),
        ("deep nesting (900 block levels)", "".join("  " * i + "k:\n" for i in range(900)) + "  " * 900 + "v\n",
         "nesting deeper", "nesting deeper", 2),
        ("tabs as indentation", "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: web\n", "tab character", "tab character", 2),
        ("invalid indentation", "apiVersion: v1\nkind: Pod\nmetadata:\n    name: web\n  namespace: shop\n",
         "indentation", "indentation", 2),
        ("huge document (a 5 MiB scalar)", "apiVersion: v1\nkind: ConfigMap\ndata:\n  k: " + "x" * (5 << 20) + "\n",
         "scalar is longer than", "larger than", 2),
        ("huge stream (20,000 documents)", pods, "20000 documents", "larger than", 1),
    ]
    for n, (name, text, want_check, want_policy, check_rc) in enumerate(cases):
        f = os.path.join(tmp, "hostile-%d.yaml" % n)
        with open(f, "w") as fh:
            fh.write(text)
        for argv, cli, want, want_rc in (([bin_, "check", f], "posture check", want_check, check_rc),
                                         ([bin_, "policy", "check", f], "posture policy check", want_policy, 2)):
            rc, out, secs, mib = run_cli(argv, 60 * SLOW)
            lines = out.strip().splitlines()
            first = lines[0] if lines else "(no output)"
            # errors name the place: FILE:LINE:COL (FILE: for a file refused whole)
            placed = want_rc != 2 or first.startswith(f + ":")
            ok = rc == want_rc and want in out and placed and secs <= max_s and 0 < mib <= max_mib
            shown = first if want_rc == 2 else (lines[-1] if lines else "")
            report(ok, "%s: %s: %s, bounded" % (cli, name, "a clear error" if want_rc == 2 else "streamed"),
                   "exit %d in %.2fs, peak RSS %.1f MiB (limits %.0fs, %d MiB): %s"
                   % (rc, secs, mib, max_s, max_mib, shown.replace(tmp + "/", "")[:140]))
            FIGURES.setdefault("yaml", {})["%s: %s" % (cli, name)] = {"rc": rc, "s": round(secs, 2),
                                                                     "rss_mib": round(mib, 1)}


def main():
    global ARGS, CTX, SLOW
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--slow-port", type=int, required=True)
    p.add_argument("--cacert", required=True)
    p.add_argument("--bin", required=True)
    p.add_argument("--meshed", required=True, help="a review allowed on /validate/namespace/sidecar")
    p.add_argument("--denied", required=True, help="a review denied on /validate")
    p.add_argument("--secret", required=True)
    p.add_argument("--idle", type=int, default=1000)
    ARGS = p.parse_args()
    SLOW = 3.0 if os.environ.get("POSTURE_PASS") == "asan" else 1.0
    CTX = ssl.create_default_context(cafile=ARGS.cacert)
    good = GoodClient(ARGS.port, [("/validate/namespace/sidecar", ARGS.meshed, True),
                                  ("/validate", ARGS.denied, False)])
    good.start()
    time.sleep(0.3)
    try:
        json_classes(ARGS.port, ARGS.secret)
        http_classes(ARGS.port, ARGS.slow_port, ARGS.secret)
        idle_connections(ARGS.port, ARGS.idle)
    finally:
        good.stop.set()
        good.join(30)
    lat = sorted(good.latencies) or [0]
    FIGURES["good_client"] = {"ok": good.ok, "failed": good.failed, "p50_ms": round(lat[len(lat) // 2] * 1000, 2),
                              "max_ms": round(lat[-1] * 1000, 2), "errors": good.errors[:5]}
    report(good.failed == 0 and good.ok > 50, "the good client meanwhile: every review answered correctly",
           "%d ok, %d failed, p50 %.1f ms, max %.1f ms%s" % (good.ok, good.failed, lat[len(lat) // 2] * 1000,
                                                            lat[-1] * 1000, "; " + "; ".join(good.errors[:3]) if good.errors else ""))
    with tempfile.TemporaryDirectory(prefix="posture-hostile-yaml.") as tmp:
        yaml_classes(tmp)
    out = dict(RESULTS)
    out["figures"] = FIGURES
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
