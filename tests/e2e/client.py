#!/usr/bin/env python3
"""client.py - TLS clients for the end-to-end suite (tests/suites/e2e_server.sh), stdlib only.

  loop      keep-alive reviews in a loop until told to stop or the server refuses connections;
            prints one JSON line of counts (ok, failed, connection-close answers, serials seen)
  slowloris open a TLS connection and send a request one byte at a time; prints when (and
            whether) the server closed it
  idle      open N TLS connections, send nothing on them, then time one review on a new one
  linger    one review on a keep-alive connection, then wait for the server to close it; prints
            after how long

A request counts as failed only once it was written: a connection refused (or reset during the
TLS handshake) before anything was sent is the end of the server, not a failed request.
"""
import argparse
import http.client
import json
import os
import socket
import ssl
import sys
import time


def context(args):
    ctx = ssl.create_default_context(cafile=args.cacert)
    if getattr(args, "cert", None):
        ctx.load_cert_chain(args.cert, args.key)
    return ctx


def cmd_loop(args):
    ctx = context(args)
    with open(args.body, "rb") as f:
        body = f.read()
    headers = {"Content-Type": "application/json"}
    stats = {"ok": 0, "failed": 0, "close": 0, "connections": 0, "serials": [], "end": "",
             "errors": [], "allowed": {"true": 0, "false": 0}}
    deadline = time.monotonic() + args.duration
    conn = None
    per_conn = 0
    while time.monotonic() < deadline:
        if args.stop_file and os.path.exists(args.stop_file):
            stats["end"] = "stop-file"
            break
        if conn is None or conn.sock is None or (args.reconnect and per_conn >= args.reconnect):
            if conn is not None:
                conn.close()
            conn = http.client.HTTPSConnection(args.host, args.port, context=ctx, timeout=10)
            try:
                conn.connect()
            except (ConnectionRefusedError, ConnectionResetError, ssl.SSLError, OSError) as e:
                conn = None
                if args.until_refused:
                    stats["end"] = "refused: %s" % type(e).__name__
                    break
                stats["failed"] += 1
                stats["errors"].append("connect: %r" % e)
                time.sleep(0.05)
                continue
            stats["connections"] += 1
            per_conn = 0
            serial = conn.sock.getpeercert().get("serialNumber", "")
            if serial and serial not in stats["serials"]:
                stats["serials"].append(serial)
        try:
            conn.request("POST", args.path + "?timeout=10s", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            per_conn += 1
            if resp.status != 200:
                stats["failed"] += 1
                stats["errors"].append("status %d: %s" % (resp.status, data[:200]))
            else:
                doc = json.loads(data)
                allowed = doc["response"]["allowed"]
                stats["allowed"]["true" if allowed else "false"] += 1
                stats["ok"] += 1
            if (resp.getheader("Connection") or "").lower() == "close":
                stats["close"] += 1
                conn.close()
        except Exception as e:  # written, then no usable answer: a failed request
            stats["failed"] += 1
            stats["errors"].append("request: %r" % e)
            conn.close()
            conn = None
        if args.pause:
            time.sleep(args.pause)
    else:
        stats["end"] = "duration"
    if conn is not None:
        conn.close()
    stats["errors"] = stats["errors"][:5]
    print(json.dumps(stats), flush=True)
    return 0


def cmd_slowloris(args):
    raw = socket.create_connection((args.host, args.port), timeout=args.max + 5)
    s = raw if args.plain else context(args).wrap_socket(raw, server_hostname=args.host)
    req = (b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: 100000\r\n\r\n" + b"{" * 100000)
    if args.body_only:
        head, rest = req.split(b"\r\n\r\n", 1)
        s.sendall(head + b"\r\n\r\n")
        req = rest
    start = time.monotonic()
    sent = 0
    closed = None
    s.settimeout(args.interval)
    while time.monotonic() - start < args.max:
        try:
            s.sendall(req[sent:sent + 1])
            sent += 1
        except OSError:
            closed = time.monotonic() - start
            break
        try:
            if s.recv(1) == b"":
                closed = time.monotonic() - start
                break
        except socket.timeout:
            pass
        except (OSError, ssl.SSLError):
            closed = time.monotonic() - start
            break
    s.close()
    print(json.dumps({"closed_after": closed, "bytes_sent": sent}), flush=True)
    return 0



def close_counting_open(socks):
    """Close the sockets; returns how many the server still held open (no EOF, no error)."""
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            alive += 1 if s.recv(1) != b"" else 0
        except (BlockingIOError, ssl.SSLWantReadError):
            alive += 1
        except OSError:
            pass
        s.close()
    return alive

def cmd_idle(args):
    ctx = context(args)
    socks = []
    for _ in range(args.count):
        raw = socket.create_connection((args.host, args.port), timeout=10)
        socks.append(ctx.wrap_socket(raw, server_hostname=args.host))
    with open(args.body, "rb") as f:
        body = f.read()
    conn = http.client.HTTPSConnection(args.host, args.port, context=ctx, timeout=10)
    conn.connect()
    t0 = time.monotonic()
    conn.request("POST", "/validate", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    ms = (time.monotonic() - t0) * 1000
    alive = close_counting_open(socks)
    conn.close()
    print(json.dumps({"status": resp.status, "ms": round(ms, 2), "idle_open": alive}), flush=True)
    return 0


def cmd_linger(args):
    ctx = context(args)
    with open(args.body, "rb") as f:
        body = f.read()
    conn = http.client.HTTPSConnection(args.host, args.port, context=ctx, timeout=args.max + 5)
    conn.request("POST", "/validate", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    start = time.monotonic()
    closed = None
    conn.sock.settimeout(args.max)
    try:
        if conn.sock.recv(1) == b"":
            closed = time.monotonic() - start
    except socket.timeout:
        pass
    except (OSError, ssl.SSLError):
        closed = time.monotonic() - start
    conn.close()
    print(json.dumps({"status": resp.status, "closed_after": closed}), flush=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("loop", "slowloris", "idle", "linger"):
        sp = sub.add_parser(name)
        sp.add_argument("--host", default="127.0.0.1")
        sp.add_argument("--port", type=int, required=True)
        sp.add_argument("--cacert")
        sp.add_argument("--cert")
        sp.add_argument("--key")
        if name == "loop":
            sp.add_argument("--body", required=True)
            sp.add_argument("--path", default="/validate")
            sp.add_argument("--duration", type=float, default=60)
            sp.add_argument("--stop-file")
            sp.add_argument("--until-refused", action="store_true")
            sp.add_argument("--reconnect", type=int, default=0,
                            help="open a new connection every N requests")
            sp.add_argument("--pause", type=float, default=0)
        elif name == "slowloris":
            sp.add_argument("--interval", type=float, default=0.5)
            sp.add_argument("--max", type=float, default=30)
            sp.add_argument("--body-only", action="store_true",
                            help="send the headers at once, then drip the body")
            sp.add_argument("--plain", action="store_true", help="plain HTTP (metrics listener)")
        elif name == "idle":
            sp.add_argument("--count", type=int, default=100)
            sp.add_argument("--body", required=True)
        else:
            sp.add_argument("--max", type=float, default=30)
            sp.add_argument("--body", required=True)
    args = p.parse_args()
    cmds = {"loop": cmd_loop, "slowloris": cmd_slowloris, "idle": cmd_idle, "linger": cmd_linger}
    return cmds[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
