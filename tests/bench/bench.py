#!/usr/bin/env python3
"""bench.py - the driver behind `make bench` (tests/bench/run.sh builds, then runs this).

Starts three HTTPS servers on 127.0.0.1 with the same ECDSA P-256 certificate - nginx answering a
fixed AdmissionReview response (what HTTPS alone costs here), mhd_ceiling (libmicrohttpd + GnuTLS
with posture's options, reading the body and answering the same fixed response: the ceiling of
our own stack) and posture serve - and measures them side by side in one run:
  - wrk (closed loop, keep-alive, 2 threads): every (body x connections) point on every server,
    interleaved, with server CPU from /proc/PID/stat and peak RSS from VmHWM (reset per point);
  - openloop (ours, GnuTLS): 1,000 req/s on a fixed schedule, latency from the scheduled time; and a
    200 KB review at a low rate for its end-to-end latency;
  - a self-check of openloop: SIGSTOP the MHD ceiling for 200 ms mid-run and compare the measured
    percentiles with what an honest (coordinated-omission-free) client must see;
  - engine_bench: review_handle alone, posture's JSON parser alone, jansson's json_loadb.
Writes OUT/results.json (everything raw) and OUT/results.md (the tables), and prints the tables.
Benchmarks measure; nothing here fails on a time. The exit status is non-zero only when the
harness itself could not run (a server did not start, a tool is missing).

Environment: BENCH_SECONDS (per wrk point, default 10), BENCH_QUICK=1 (a ~1 minute smoke run),
BENCH_CONNS ("1,16,32,64,128"), BENCH_BODIES (names without .json), BENCH_SERVERS
("nginx,mhd,posture"), BENCH_OPENLOOP_SECONDS (default 10), BENCH_RATE (default 1000).
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import pwd
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ROUTE = "/validate/namespace/sidecar"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NPROC = os.cpu_count() or 1
ALL_BODIES = ["pod", "deployment", "authz-policy", "pod-200k"]
ALL_SERVERS = ["nginx", "mhd", "posture"]


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- /proc ----

def proc_children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(d))
    return kids


def cpu_ticks(pids):
    """utime+stime of each process (all its threads, live and exited), summed."""
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        fields = st[st.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def reset_hwm(pids):
    for pid in pids:
        try:
            with open("/proc/%d/clear_refs" % pid, "w") as f:
                f.write("5")
        except OSError:
            pass


def machine_busy():
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]) - idle, sum(v[:8])


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ---- servers ----

class Server:
    def __init__(self, name, label, port, argv, popen_kw=None):
        self.name, self.label, self.port = name, label, port
        self.argv, self.popen_kw = argv, popen_kw or {}
        self.proc = None
        self.pids = []
        self.idle_rss_kb = 0
        self.log_head = b""
        self.log_bytes = 0
        self.checks = {}

    def start(self, pidfile):
        log("starting %s on 127.0.0.1:%d" % (self.label, self.port))
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, **self.popen_kw)
        with open(pidfile, "a") as f:
            f.write("%d\n" % self.proc.pid)
        # drain its output like a container runtime would: keep the head, count the rest
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        while True:
            chunk = self.proc.stdout.read1(65536) if hasattr(self.proc.stdout, "read1") \
                else self.proc.stdout.read(65536)
            if not chunk:
                return
            if len(self.log_head) < 65536:
                self.log_head += chunk[:65536 - len(self.log_head)]
            self.log_bytes += len(chunk)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def https_request(port, cafile, method, path, body=None, timeout=10):
    ctx = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data, conn.sock.version(), conn.sock.cipher()[0]
    finally:
        conn.close()


def wait_ready(server, cafile, deadline_s=20):
    end = time.time() + deadline_s
    last = None
    while time.time() < end:
        if not server.alive():
            raise RuntimeError("%s exited (status %s) during start-up:\n%s" % (
                server.label, server.proc.returncode, server.log_head.decode(errors="replace")[-3000:]))
        try:
            st, _, _, _ = https_request(server.port, cafile, "GET", "/healthz", timeout=2)
            if server.name != "posture" or st == 200:
                return
            last = "GET /healthz: %d" % st
        except (OSError, ssl.SSLError, http.client.HTTPException) as e:
            last = str(e)
        time.sleep(0.1)
    raise RuntimeError("%s not ready after %d s (%s)" % (server.label, deadline_s, last))


def tls_priorities(path):
    """The TLS_PRIORITIES macro of a C file, joined, or None."""
    try:
        text = open(path).read()
    except OSError:
        return None
    i = text.find("#define TLS_PRIORITIES")
    if i < 0:
        return None
    macro = []
    for line in text[i:].splitlines():
        macro.append(line.rstrip("\\").strip())
        if not line.rstrip().endswith("\\"):
            break
    return "".join(part.strip('"') for part in " ".join(macro).split() if part.startswith('"'))


def nginx_conf(prefix, port, cert, key, response):
    resp = response.decode("utf-8")
    assert "'" not in resp and "$" not in resp and "\\" not in resp
    return """# generated by tests/bench/bench.py: a fixed-answer HTTPS ceiling
worker_processes 2;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    default_type application/json;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    client_max_body_size 8m;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    server {{
        listen 127.0.0.1:{port} ssl;
        location / {{
            return 200 '{resp}';
        }}
    }}
}}
""".format(p=prefix, port=port, cert=cert, key=key, resp=resp)


def make_nginx(tmp, cert, key, response):
    prefix = os.path.join(tmp, "nginx")
    for d in ("tmp", "logs"):
        os.makedirs(os.path.join(prefix, d), exist_ok=True)
    shutil.copy(cert, os.path.join(prefix, "tls.crt"))
    shutil.copy(key, os.path.join(prefix, "tls.key"))
    port = free_port()
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(prefix, port, os.path.join(prefix, "tls.crt"),
                           os.path.join(prefix, "tls.key"), response))
    argv = [shutil.which("nginx") or "/usr/sbin/nginx", "-p", prefix, "-c", conf, "-e",
            os.path.join(prefix, "error.log"), "-g", "daemon off;"]
    kw = {}
    label = "nginx"
    if os.geteuid() == 0:
        # run it unprivileged: as nobody, owning only its temp dir
        try:
            pw = pwd.getpwnam("nobody")
        except KeyError:
            pw = None
        if pw:
            os.chmod(tmp, 0o755)
            for dirpath, dirnames, filenames in os.walk(prefix):
                os.chown(dirpath, pw.pw_uid, pw.pw_gid)
                for fn in filenames:
                    os.chown(os.path.join(dirpath, fn), pw.pw_uid, pw.pw_gid)
            kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            label = "nginx (as nobody)"
    return Server("nginx", label, port, argv, kw)


# ---- load generators ----

def run_wrk(wrk, port, body, conns, seconds, post_lua):
    threads = min(2, conns)
    argv = [wrk, "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency", "--timeout", "5s",
            "-s", post_lua, "https://127.0.0.1:%d%s" % (port, ROUTE), "--", body]
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=seconds + 60).stdout.decode(errors="replace")
    res = None
    non2xx = 0
    for line in out.splitlines():
        if line.startswith("BENCH_RESULT "):
            res = json.loads(line[len("BENCH_RESULT "):])
        elif "Non-2xx or 3xx responses:" in line:
            non2xx = int(line.split(":")[1])
    if res is None:
        raise RuntimeError("wrk gave no result:\n" + out[-2000:])
    res["non2xx"] = non2xx
    return res


def measure(server, fn):
    """Run fn() (a load generator) and attach the server's CPU, peak RSS and machine load."""
    reset_hwm(server.pids)
    c0 = cpu_ticks(server.pids)
    k0 = children_cpu()
    b0, t0m = machine_busy()
    w0 = time.monotonic()
    res = fn()
    wall = time.monotonic() - w0
    c1 = cpu_ticks(server.pids)
    k1 = children_cpu()
    b1, t1m = machine_busy()
    cpu_s = (c1 - c0) / CLK_TCK
    client_s = k1 - k0
    busy_s = (b1 - b0) / CLK_TCK
    res["wall_s"] = round(wall, 3)
    res["server_cpu_s"] = round(cpu_s, 3)
    res["server_cpu_pct"] = round(100.0 * cpu_s / wall, 1)
    res["client_cpu_pct"] = round(100.0 * client_s / wall, 1)
    # everything else the machine did meanwhile (other users, this script): noise to report
    res["other_cpu_pct"] = round(max(0.0, 100.0 * (busy_s - cpu_s - client_s) / wall), 1)
    res["peak_rss_kb"] = sum(status_kb(p, "VmHWM") for p in server.pids)
    res["rss_kb"] = sum(status_kb(p, "VmRSS") for p in server.pids)
    return res


def run_openloop(openloop, port, cafile, body, rate, seconds, warmup, over_us=None, conns=4,
                 during=None):
    argv = [openloop, "--port", str(port), "--body", body, "--rate", str(rate), "--duration",
            str(seconds), "--warmup", str(warmup), "--conns", str(conns), "--cafile", cafile,
            "--path", ROUTE]
    if over_us:
        argv += ["--over-us", str(over_us)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if during:
        during()
    try:
        out, err = p.communicate(timeout=seconds + warmup + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    for line in out.decode().splitlines():
        if line.startswith("OPENLOOP_RESULT "):
            return json.loads(line[len("OPENLOOP_RESULT "):])
    raise RuntimeError("openloop gave no result (exit %s):\n%s" % (p.returncode, err.decode()[-2000:]))


# ---- report ----

def fmt_us(v):
    if v is None:
        return "-"
    if v >= 10000:
        return "%.1f ms" % (v / 1000)
    if v >= 1000:
        return "%.2f ms" % (v / 1000)
    return "%.0f us" % v


def fmt_mb(kb):
    return "%.1f MB" % (kb / 1024.0) if kb else "-"


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(out)


def report(R):
    lines = []
    cfg = R["config"]
    lines.append("# posture benchmark (%s)" % R["started"])
    lines.append("")
    lines.append("Machine: %s, %d cores, %s. posture %s; nginx %s; wrk %s; libmicrohttpd %s; GnuTLS %s. "
                 "Route %s, TLS %s, keep-alive. wrk: %d s per point, 2 threads (1 for 1 connection). "
                 "Certificate: ECDSA P-256 (%s)." % (
                     R["machine"]["cpu"], NPROC, R["machine"]["kernel"], R["versions"]["posture"],
                     R["versions"]["nginx"], R["versions"]["wrk"], R["versions"]["libmicrohttpd"],
                     R["versions"]["gnutls"], ROUTE, ", ".join(sorted(set(
                         "%s %s" % (s["tls"], s["cipher"]) for s in R["servers"].values() if s.get("tls")))),
                     cfg["seconds"], R["cert_source"]))
    if cfg["quick"]:
        lines.append("")
        lines.append("**BENCH_QUICK=1: a smoke run; short points, numbers are indicative only.**")
    lines.append("")
    lines.append("Bodies: " + ", ".join("%s (%d B%s)" % (
        b, R["bodies"][b]["bytes"], ", posture review: " + R["bodies"][b]["verdict"]
        if R["bodies"][b].get("verdict") else "") for b in cfg["bodies"]))
    lines.append("")
    for name, s in R["servers"].items():
        lines.append("- %s: idle RSS %s%s" % (s["label"], fmt_mb(s["idle_rss_kb"]),
                                              "; " + s["note"] if s.get("note") else ""))
    lines.append("")

    # closed loop
    lines.append("## Throughput and latency (wrk, closed loop)")
    lines.append("")
    rows = []
    by = {(p["server"], p["body"], p["conns"]): p for p in R["wrk"]}
    for p in R["wrk"]:
        ratio_n = ratio_m = ""
        if p["server"] == "posture":
            for ref, key in (("nginx", "n"), ("mhd", "m")):
                q = by.get((ref, p["body"], p["conns"]))
                r = "%.2f" % (p["rps"] / q["rps"]) if q and q["rps"] else "-"
                if key == "n":
                    ratio_n = r
                else:
                    ratio_m = r
        errs = p["errors_total"]
        rows.append([R["servers"][p["server"]]["short"], p["body"], p["conns"], "%.0f" % p["rps"],
                     fmt_us(p["p50_us"]), fmt_us(p["p99_us"]), fmt_us(p["p999_us"]),
                     errs if errs else "0",
                     "%.0f%%" % p["server_cpu_pct"],
                     "%.1f" % p["cpu_us_per_req"] if p["requests"] else "-",
                     fmt_mb(p["peak_rss_kb"]), ratio_n or "", ratio_m or "",
                     "%.0f%%" % p["other_cpu_pct"]])
    lines.append(md_table(["server", "body", "conns", "req/s", "p50", "p99", "p99.9", "errors",
                           "server CPU", "CPU-us/req", "peak RSS", "posture/nginx", "posture/mhd",
                           "other CPU"], rows))
    lines.append("")
    lines.append("server CPU: % of one core (utime+stime of the server's processes). CPU-us/req: "
                 "server CPU time per request. peak RSS: VmHWM during the point (reset before it; "
                 "nginx: master + workers). errors: wrk's socket errors + non-2xx responses. "
                 "other CPU: the rest of the machine (neither the server nor wrk) during the point, "
                 "in % of one core - high values mean another process disturbed the point. "
                 "wrk measures closed-loop latency (from its own send), not the latency at a "
                 "fixed rate: see the open-loop table for that.")
    lines.append("")

    # CPU per request: unlike req/s, barely moved by other processes taking turns on the cores
    if any(p["server"] == "posture" for p in R["wrk"]):
        lines.append("## Server CPU per request (less sensitive than req/s to a busy machine)")
        lines.append("")
        rows = []
        for p in R["wrk"]:
            if p["server"] != "posture" or not p["requests"]:
                continue
            cells = [p["body"], p["conns"]]
            ratios = []
            for ref in ("nginx", "mhd"):
                q = by.get((ref, p["body"], p["conns"]))
                cells.append("%.1f" % q["cpu_us_per_req"] if q and q["requests"] else "-")
                ratios.append("%.2f" % (q["cpu_us_per_req"] / p["cpu_us_per_req"])
                              if q and q["requests"] and p["cpu_us_per_req"] else "-")
            cells.append("%.1f" % p["cpu_us_per_req"])
            rows.append(cells + ratios)
        lines.append(md_table(["body", "conns", "nginx CPU-us/req", "mhd CPU-us/req",
                               "posture CPU-us/req", "nginx/posture", "mhd/posture"], rows))
        lines.append("")
        lines.append("A ceiling's CPU per request divided by posture's: the throughput ratio a "
                     "CPU-bound server would reach on otherwise idle cores (the load generator "
                     "shares the same 2 cores in every row).")
        lines.append("")

    # open loop
    lines.append("## Latency at a fixed rate (openloop: from the scheduled send, no coordinated omission)")
    lines.append("")
    rows = []
    for p in R["openloop"]:
        rows.append([R["servers"][p["server"]]["short"], p["body"], "%.0f/s" % p["rate"],
                     "%.0f/s" % p["achieved_rps"], fmt_us(p["p50_us"]), fmt_us(p["p90_us"]),
                     fmt_us(p["p99_us"]), fmt_us(p["p999_us"]), fmt_us(p["max_us"]),
                     p["errors"], p["late_sends"], "%.0f%%" % p["server_cpu_pct"],
                     "%.0f%%" % p["other_cpu_pct"]])
    lines.append(md_table(["server", "body", "rate", "answered", "p50", "p90", "p99", "p99.9", "max",
                           "errors", "late sends", "server CPU", "other CPU"], rows))
    lines.append("")
    lines.append("%d keep-alive connections, %s s per run after a 1 s warm-up. late sends: requests "
                 "sent more than 1 ms after their scheduled time, because every connection was "
                 "busy or the client itself woke late (on a busy machine); either way the delay "
                 "counts in their latency." % (
                     cfg["openloop_conns"], cfg["openloop_seconds"]))
    lines.append("")

    ag = R.get("agree_check")
    if ag:
        w = ag["wrk"]
        lines.append("## Harness self-check: openloop and wrk agree (nginx, pod, 1 connection)")
        lines.append("")
        rows = [["wrk (closed loop)", "%.0f req/s, back to back" % w["rps"], fmt_us(w["p50_us"]),
                 fmt_us(w["p90_us"]), fmt_us(w["p99_us"]), fmt_us(w["max_us"])]]
        for o in (ag["openloop"], ag["openloop_low"]):
            rows.append(["openloop, from schedule", "%.0f req/s on a schedule" % o["rate"],
                         fmt_us(o["p50_us"]), fmt_us(o["p90_us"]), fmt_us(o["p99_us"]),
                         fmt_us(o["max_us"])])
            rows.append(["openloop, from send", "", fmt_us(o["svc_p50_us"]), fmt_us(o["svc_p90_us"]),
                         fmt_us(o["svc_p99_us"]), fmt_us(o["svc_max_us"])])
        lines.append(md_table(["client", "load", "p50", "p90", "p99", "max"], rows))
        lines.append("")
        lines.append("Both clients measure one HTTPS round trip on one connection (wrk's TLS is "
                     "OpenSSL, openloop's GnuTLS). At a quarter of wrk's rate everything stays warm "
                     "and openloop's round trip (from send) should match wrk's median within tens of "
                     "microseconds; from the schedule it also counts the queueing of a single "
                     "connection. At 200 req/s the server and the client sleep between requests, "
                     "and each answer also pays their wake-ups (on this VM, around 100 us).")
        lines.append("")

    st = R.get("stall_check")
    if st:
        lines.append("## Harness self-check: a 200 ms server stall at %d req/s" % st["rate"])
        lines.append("")
        lines.append(md_table(
            ["", "p50", "p90", "p99", "p99.9", "max", "requests > 100 ms"],
            [["expected (honest client)", "unchanged", "unchanged", fmt_us(st["expected_p99_us"]),
              fmt_us(st["expected_p999_us"]), "~200 ms", "~%d" % st["expected_over"]],
             ["openloop, from schedule", fmt_us(st["p50_us"]), fmt_us(st["p90_us"]),
              fmt_us(st["p99_us"]), fmt_us(st["p999_us"]), fmt_us(st["max_us"]), st["over"]],
             ["same run, from actual send (what a closed-loop tool sees)", fmt_us(st["svc_p50_us"]),
              fmt_us(st["svc_p90_us"]), fmt_us(st["svc_p99_us"]), fmt_us(st["svc_p999_us"]),
              fmt_us(st["svc_max_us"]), st["svc_over"]]]))
        lines.append("")
        lines.append("The MHD ceiling was sent SIGSTOP for %d ms in the middle of a %s s run. About "
                     "%d requests fall due during the stall; an honest client sees their latency fall "
                     "linearly from 200 ms to 0, so p99 ~ %s and p99.9 ~ %s. Verdict: %s." % (
                         st["stall_ms"], st["seconds"], st["expected_due"],
                         fmt_us(st["expected_p99_us"]), fmt_us(st["expected_p999_us"]), st["verdict"]))
        lines.append("")

    # engine
    if R.get("engine"):
        lines.append("## Engine alone (engine_bench: no TLS, no HTTP; thread CPU time, median of %d runs)"
                     % R["engine"][0]["runs"])
        lines.append("")
        rows = []
        for e in R["engine"]:
            rows.append([e["body"], e["bytes"], "%.1f us" % e["review_us"], e["review_allocs"],
                         e["review_alloc_bytes"], "%.1f us" % e["parse_us"],
                         "%.1f us" % e["jansson_us"], e["jansson_allocs"], e["jansson_alloc_bytes"],
                         "%.2f us" % e["copy_us"]])
        lines.append(md_table(["body", "bytes", "review_handle", "allocs/review", "bytes/review",
                               "posture JSON parse", "jansson json_loadb", "jansson allocs",
                               "jansson bytes", "memcpy of body"], rows))
        lines.append("")
        lines.append("review_handle = decode (posture's parser + views) + judge + encode, per review, "
                     "the body copy subtracted. Allocations counted through util.h's hooks "
                     "(bytes asked for; a realloc counts its new size).")
        lines.append("")

    # targets
    t = R.get("targets")
    if t:
        lines.append("## Issue 8 targets, as measured in this run (informational; nothing asserts)")
        lines.append("")
        lines.append(md_table(["target", "measured"], [[k, v] for k, v in t]))
        lines.append("")
    for w in R["warnings"]:
        lines.append("**warning:** " + w)
        lines.append("")
    return "\n".join(lines)


def targets(R):
    out = []
    by = {(p["server"], p["body"], p["conns"]): p for p in R["wrk"]}
    for c in (32, 64):
        p = by.get(("posture", "pod", c))
        if p:
            parts = []
            for ref in ("nginx", "mhd"):
                q = by.get((ref, "pod", c))
                if q and q["rps"]:
                    parts.append("%.0f%% of %s" % (100 * p["rps"] / q["rps"], ref))
            out.append(("throughput >= 50%% of the ceilings, pod, %d conns" % c,
                        "%.0f req/s = %s" % (p["rps"], ", ".join(parts))))
            parts = []
            for ref in ("nginx", "mhd"):
                q = by.get((ref, "pod", c))
                if q and q["requests"] and p["cpu_us_per_req"]:
                    parts.append("%.0f%% of %s's" % (100 * q["cpu_us_per_req"] / p["cpu_us_per_req"], ref))
            out.append(("(same, by server CPU per request), pod, %d conns" % c,
                        "%.1f CPU-us/req: efficiency %s" % (p["cpu_us_per_req"], ", ".join(parts))))
    for p in R["openloop"]:
        if p["server"] == "posture" and p["body"] == "pod":
            out.append(("p99 < 1 ms at %.0f req/s" % p["rate"], "p99 %s (p99.9 %s)" % (
                fmt_us(p["p99_us"]), fmt_us(p["p999_us"]))))
        if p["server"] == "posture" and p["body"] == "pod-200k":
            out.append(("a 200 KB review < 2 ms end to end", "p50 %s, p99 %s at %.0f req/s" % (
                fmt_us(p["p50_us"]), fmt_us(p["p99_us"]), p["rate"])))
    s = R["servers"].get("posture")
    if s:
        out.append(("RSS < 10 MB idle", fmt_mb(s["idle_rss_kb"])))
        peaks = [p["peak_rss_kb"] for p in R["wrk"] if p["server"] == "posture" and p["conns"] == 128]
        if peaks:
            out.append(("RSS < 40 MB at 128 connections", "peak %s (max over bodies)" % fmt_mb(max(peaks))))
    for e in R.get("engine", []):
        out.append(("engine cost, %s" % e["body"], "%.1f us, %d allocations, %d bytes per review" % (
            e["review_us"], e["review_allocs"], e["review_alloc_bytes"])))
    return out


# ---- main ----

def tool_version(argv, pick=lambda s: s.strip().splitlines()[0] if s.strip() else "?"):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        return pick(p.stdout.decode(errors="replace"))
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def main():
    ap = argparse.ArgumentParser(description="posture benchmark driver (see run.sh)")
    ap.add_argument("--report", metavar="RESULTS_JSON",
                    help="only print the tables of an earlier run's results.json")
    ap.add_argument("--posture")
    ap.add_argument("--bin", help="directory of mhd_ceiling, openloop, engine_bench")
    ap.add_argument("--out")
    ap.add_argument("--tmp")
    ap.add_argument("--pidfile")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--ca")
    ap.add_argument("--cert-source", default="")
    args = ap.parse_args()
    if args.report:
        with open(args.report) as f:
            print(report(json.load(f)))
        return 0
    missing = [a for a in ("posture", "bin", "out", "tmp", "pidfile", "cert", "key", "ca")
               if not getattr(args, a)]
    if missing:
        ap.error("missing --" + ", --".join(missing))

    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    seconds = int(os.environ.get("BENCH_SECONDS", "2" if quick else "10"))
    conns = [int(x) for x in os.environ.get("BENCH_CONNS", "32" if quick else "1,16,32,64,128").split(",")]
    bodies = os.environ.get("BENCH_BODIES", ",".join(ALL_BODIES)).split(",")
    servers_wanted = os.environ.get("BENCH_SERVERS", ",".join(ALL_SERVERS)).split(",")
    ol_seconds = float(os.environ.get("BENCH_OPENLOOP_SECONDS", "2" if quick else "10"))
    rate = float(os.environ.get("BENCH_RATE", "1000"))
    ol_conns = 4
    bodies_dir = os.path.join(HERE, "bodies")
    body_path = {b: os.path.join(bodies_dir, b + ".json") for b in bodies}
    for b, pth in body_path.items():
        if not os.path.exists(pth):
            log("no body %s" % pth)
            return 2
    response = open(os.path.join(bodies_dir, "response.json"), "rb").read()
    wrk = shutil.which("wrk")
    if not wrk or not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        log("wrk and nginx are needed: run `make deps` (Debian packages wrk, nginx)")
        return 2
    post_lua = os.path.join(HERE, "post.lua")
    mhd_bin = os.path.join(args.bin, "mhd_ceiling")
    openloop = os.path.join(args.bin, "openloop")
    engine_bench = os.path.join(args.bin, "engine_bench")
    policy = os.path.join(ROOT, "policies", "default.yaml")
    policy = policy if os.path.exists(policy) else None

    R = {
        "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "config": {"quick": quick, "seconds": seconds, "conns": conns, "bodies": bodies,
                   "servers": servers_wanted, "openloop_seconds": ol_seconds, "rate": rate,
                   "openloop_conns": ol_conns, "route": ROUTE, "policy": policy},
        "machine": {"cpu": "?", "nproc": NPROC, "kernel": platform.release(),
                    "loadavg_start": open("/proc/loadavg").read().split()[:3]},
        "versions": {
            "posture": tool_version([args.posture, "version"], lambda s: s.strip().split()[-1] if s.strip() else "?"),
            "nginx": tool_version(["nginx", "-v"], lambda s: s.strip().split("/")[-1]),
            "wrk": tool_version([wrk, "-v"], lambda s: s.split()[1] if len(s.split()) > 1 else "?"),
            "libmicrohttpd": tool_version(["pkg-config", "--modversion", "libmicrohttpd"]),
            "gnutls": tool_version(["pkg-config", "--modversion", "gnutls"]),
        },
        "cert_source": args.cert_source,
        "bodies": {}, "servers": {}, "wrk": [], "openloop": [], "engine": [], "warnings": [],
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    R["machine"]["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    # the MHD ceiling must run with posture's TLS settings
    ours = tls_priorities(os.path.join(HERE, "mhd_ceiling.c"))
    theirs = tls_priorities(os.path.join(ROOT, "webhook", "server.c"))
    R["tls_priorities"] = {"mhd_ceiling": ours, "server.c": theirs}
    if ours != theirs:
        R["warnings"].append("mhd_ceiling.c's TLS_PRIORITIES differ from webhook/server.c's (%r vs %r): "
                             "update the ceiling" % (ours, theirs))

    # the verdicts posture's CLI gives each body
    for b in bodies:
        argv = [args.posture, "review", body_path[b], "--namespace-mode", "sidecar"]
        if policy:
            argv += ["--policy", policy]
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        verdict = {0: "allowed", 1: "denied"}.get(p.returncode, "error %d: %s" % (
            p.returncode, p.stderr.decode(errors="replace").strip()[:200]))
        R["bodies"][b] = {"bytes": os.path.getsize(body_path[b]), "verdict": verdict,
                          "review_exit": p.returncode}
        if p.returncode != 0:
            R["warnings"].append("posture review %s: %s - the bodies are meant to be allowed, so "
                                 "the bench measures the common path; fix the body or the rule" % (b, verdict))

    # servers
    servers = {}
    if "nginx" in servers_wanted:
        servers["nginx"] = make_nginx(args.tmp, args.cert, args.key, response)
    if "mhd" in servers_wanted:
        port = free_port()
        servers["mhd"] = Server("mhd", "mhd_ceiling (libmicrohttpd + GnuTLS, fixed answer)", port,
                                [mhd_bin, "--port", str(port), "--cert", args.cert, "--key", args.key,
                                 "--response", os.path.join(bodies_dir, "response.json"),
                                 "--threads", str(NPROC)])
    if "posture" in servers_wanted:
        port = free_port()
        argv = [args.posture, "serve", "--listen", "127.0.0.1:%d" % port, "--tls-cert", args.cert,
                "--tls-key", args.key, "--metrics-listen", "127.0.0.1:%d" % free_port(),
                "--shutdown-delay", "0"]
        if policy:
            argv += ["--policy", policy]
        servers["posture"] = Server("posture", "posture serve" + (" --policy policies/default.yaml" if policy else ""),
                                    port, argv)
    short = {"nginx": "nginx", "mhd": "mhd ceiling", "posture": "**posture**"}
    try:
        for s in servers.values():
            s.start(args.pidfile)
        for s in servers.values():
            wait_ready(s, args.ca)
            s.pids = [s.proc.pid] + proc_children(s.proc.pid)
            info = {"label": s.label, "short": short[s.name], "port": s.port, "pids": s.pids}
            # one request per body: status, answer, TLS parameters
            for b in bodies:
                st, data, tlsv, cipher = https_request(s.port, args.ca, "POST", ROUTE,
                                                       open(body_path[b], "rb").read())
                info["tls"], info["cipher"] = tlsv, cipher
                entry = {"status": st, "response_bytes": len(data)}
                try:
                    entry["allowed"] = json.loads(data)["response"]["allowed"]
                except (ValueError, KeyError, TypeError):
                    entry["allowed"] = None
                info.setdefault("answers", {})[b] = entry
                if st != 200:
                    R["warnings"].append("%s answered %d to %s" % (s.label, st, b))
            time.sleep(0.5)
            s.idle_rss_kb = sum(status_kb(p, "VmRSS") for p in s.pids)
            info["idle_rss_kb"] = s.idle_rss_kb
            if s.name == "nginx":
                info["note"] = "master + %d workers" % (len(s.pids) - 1)
            R["servers"][s.name] = info
        posture_answers = R["servers"].get("posture", {}).get("answers", {})
        for b, a in posture_answers.items():
            R["bodies"][b]["serve_allowed"] = a.get("allowed")

        # warm-up (not measured): handshakes, page faults, caches
        for s in servers.values():
            run_wrk(wrk, s.port, body_path[bodies[0]], 16, 1, post_lua)

        # closed loop: interleave servers at each point so drift hits all alike
        total = len(bodies) * len(conns) * len(servers)
        n = 0
        for b in bodies:
            for c in conns:
                for s in servers.values():
                    n += 1
                    if not s.alive():
                        raise RuntimeError("%s died:\n%s" % (s.label, s.log_head.decode(errors="replace")[-2000:]))
                    log("[%d/%d] wrk %s %s %d conns, %d s" % (n, total, s.name, b, c, seconds))
                    res = measure(s, lambda: run_wrk(wrk, s.port, body_path[b], c, seconds, post_lua))
                    e = res["errors"]
                    res["errors_total"] = e["connect"] + e["read"] + e["write"] + e["timeout"] + res["non2xx"]
                    res["cpu_us_per_req"] = 1e6 * res["server_cpu_s"] / res["requests"] if res["requests"] else 0
                    res.update(server=s.name, body=b, conns=c)
                    R["wrk"].append(res)
                    if res["errors_total"]:
                        R["warnings"].append("%s, %s, %d conns: %d errors (%s, non-2xx %d)" % (
                            s.label, b, c, res["errors_total"], json.dumps(e), res["non2xx"]))

        # open loop at a fixed rate, and the 200 KB review end to end
        ol_points = [("pod", rate)] if "pod" in bodies else []
        if "pod-200k" in bodies:
            ol_points.append(("pod-200k", 50.0))
        for b, r in ol_points:
            for s in servers.values():
                log("openloop %s %s %.0f/s, %.0f s" % (s.name, b, r, ol_seconds))
                res = measure(s, lambda: run_openloop(openloop, s.port, args.ca, body_path[b], r,
                                                      ol_seconds, 1, conns=ol_conns))
                res.update(server=s.name, body=b)
                R["openloop"].append(res)
                if res["errors"]:
                    R["warnings"].append("openloop %s %s: %d errors" % (s.label, b, res["errors"]))

        # self-check: at low load, openloop and wrk must agree on nginx's latency
        if "nginx" in servers and "pod" in bodies:
            s = servers["nginx"]
            log("self-check: openloop vs wrk on nginx at low load, 1 connection")
            w = run_wrk(wrk, s.port, body_path["pod"], 1, 3, post_lua)
            # at a quarter of wrk's back-to-back rate both ends stay warm: the round trips must
            # match; at a low rate both ends sleep between requests and each answer pays wake-ups
            hot = max(100, int(w["rps"] / 4))
            o_hot = run_openloop(openloop, s.port, args.ca, body_path["pod"], hot, 3, 0.5, conns=1)
            o_low = run_openloop(openloop, s.port, args.ca, body_path["pod"], 200, 3, 0.5, conns=1)
            R["agree_check"] = {"wrk": w, "openloop": o_hot, "openloop_low": o_low}

        # self-check: a server stall must show in the percentiles
        if "mhd" in servers and "pod" in bodies:
            s = servers["mhd"]
            st_seconds, stall = 4.0, 0.2

            def stall_mid_run():
                time.sleep(1.0 + st_seconds / 2)
                os.kill(s.proc.pid, signal.SIGSTOP)
                time.sleep(stall)
                os.kill(s.proc.pid, signal.SIGCONT)
            log("self-check: openloop against the MHD ceiling with a %d ms SIGSTOP" % (stall * 1000))
            res = run_openloop(openloop, s.port, args.ca, body_path["pod"], rate, st_seconds, 1,
                               over_us=100000, conns=ol_conns, during=stall_mid_run)
            n_req = rate * st_seconds
            due = rate * stall
            # latencies of the requests due in the stall fall linearly from `stall` to 0
            q99 = n_req * 0.01
            q999 = n_req * 0.001
            res.update(rate=rate, seconds=st_seconds, stall_ms=int(stall * 1000),
                       expected_due=int(due), expected_over=int(rate * (stall - 0.1)),
                       expected_p99_us=max(0.0, stall * (1 - q99 / due)) * 1e6,
                       expected_p999_us=max(0.0, stall * (1 - q999 / due)) * 1e6)
            ok = (res["p99_us"] >= 0.8 * res["expected_p99_us"] and
                  res["p999_us"] >= 0.8 * res["expected_p999_us"] and
                  abs(res["over"] - res["expected_over"]) <= 0.3 * res["expected_over"] + 5)
            res["verdict"] = ("the stall shows in full (no coordinated omission)" if ok else
                              "UNEXPECTED: the percentiles do not reflect the stall - check the client")
            if not ok:
                R["warnings"].append("openloop self-check: " + res["verdict"])
            R["stall_check"] = res
    finally:
        for s in servers.values():
            s.stop()
        for s in servers.values():
            if s.name in R["servers"]:
                R["servers"][s.name]["log_bytes"] = s.log_bytes
                R["servers"][s.name]["exit"] = s.proc.returncode if s.proc else None

    # engine alone
    if os.path.exists(engine_bench):
        log("engine_bench")
        argv = [engine_bench, "--mode", "sidecar", "--runs", "3" if quick else "7",
                "--min-ms", "30" if quick else "200"]
        if policy:
            argv += ["--policy", policy]
        p = subprocess.run(argv + [body_path[b] for b in bodies], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=600)
        for line in p.stdout.decode().splitlines():
            if line.startswith("ENGINE_RESULT "):
                R["engine"].append(json.loads(line[len("ENGINE_RESULT "):]))
        if p.returncode:
            R["warnings"].append("engine_bench exit %d: %s" % (p.returncode, p.stderr.decode()[-500:]))

    R["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    noisy = [p for p in R["wrk"] if p["other_cpu_pct"] > 15]
    if noisy:
        R["warnings"].append("%d of %d wrk points ran while other processes used more than 15%% of a "
                             "core (column 'other CPU'): the machine was not quiet; compare ratios "
                             "within a row group, not absolute numbers." % (len(noisy), len(R["wrk"])))
    R["targets"] = targets(R)
    md = report(R)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(R, f, indent=1)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:
        log(str(e))
        sys.exit(1)
