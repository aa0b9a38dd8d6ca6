#!/usr/bin/env python3
"""steward-mitm: a man in the middle between an agent and a site, for the
TLS and enrollment tests (tests/system/test_tls.sh).

It accepts HTTPS with the certificate and key it is given, forwards each
request to the site over HTTPS (checking nothing: it is the attacker) and
sends the answer back, changed as --mode says:

  pass     forward as it is (with its own certificate: the certificate swap)
  reply    change the enrollment reply's client_id, keep its MAC
  sitekey  put --fake-key in the enrollment reply as the site key and compute
           a fresh MAC with the token secret it read in the request (what an
           attacker holding the site's TLS key could do)

One request per connection (it answers with Connection: close). It prints
"steward-mitm listen=127.0.0.1:PORT" once it listens, counts the requests
it saw in --count-file, and exits by itself after --max-seconds.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import socket
import ssl
import sys
import threading
import time

HEAD_MAX = 64 * 1024
BODY_MAX = 1024 * 1024


def read_message(sock, limit_body=BODY_MAX):
    """One HTTP message (head, body) from sock; body by Content-Length or to EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > HEAD_MAX + limit_body:
            raise ValueError("message too large")
    head, _, body = data.partition(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
            if len(body) > limit_body:
                raise ValueError("body too large")
    else:
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return head, body


def header(head, name):
    for line in head.split(b"\r\n")[1:]:
        n, _, v = line.partition(b":")
        if n.strip().lower() == name.lower():
            return v.strip()
    return None


def set_headers(head, changes):
    lines = head.split(b"\r\n")
    out = [lines[0]]
    for line in lines[1:]:
        n = line.partition(b":")[0].strip().lower()
        if n in changes:
            continue
        out.append(line)
    for n, v in changes.items():
        if v is not None:
            out.append(n.title() + b": " + v)
    return b"\r\n".join(out)


def enroll_mac(secret, seq, pk, body):
    key = hashlib.blake2b(secret.encode(), digest_size=32).digest()
    msg = b"steward-enroll-reply-1\n" + str(seq).encode() + b"\n" + pk + body
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest())


def tamper(mode, fake_key, req_head, req_body, resp_head, resp_body):
    path = req_head.split(b"\r\n")[0].split(b" ")[1]
    if mode == "pass" or not path.startswith(b"/api/v1/enroll"):
        return resp_head, resp_body
    try:
        reply = json.loads(resp_body)
        req = json.loads(req_body)
    except ValueError:
        return resp_head, resp_body
    changes = {}
    if mode == "reply" and "client_id" in reply:
        reply["client_id"] = "f" * 32
    elif mode == "sitekey" and "site_key" in reply:
        reply["site_key"] = fake_key
    body = json.dumps(reply, separators=(",", ":")).encode()
    if mode == "sitekey":
        seq = int(header(req_head, b"steward-seq") or b"0")
        pk = base64.b64decode(req.get("public_key", ""))
        changes[b"steward-enroll-mac"] = enroll_mac(req.get("token", ""), seq, pk, body)
    changes[b"content-length"] = str(len(body)).encode()
    return set_headers(resp_head, changes), body


def serve(conn, args, upstream_ctx, count):
    try:
        req_head, req_body = read_message(conn)
        if not req_head:
            return
        count()
        req_head = set_headers(req_head, {b"connection": b"close"})
        host, port = args.to.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with upstream_ctx.wrap_socket(raw, server_hostname=host) as up:
                up.sendall(req_head + b"\r\n\r\n" + req_body)
                resp_head, resp_body = read_message(up, 16 * BODY_MAX)
        resp_head, resp_body = tamper(args.mode, args.fake_key, req_head, req_body, resp_head,
                                      resp_body)
        resp_head = set_headers(resp_head, {b"connection": b"close"})
        conn.sendall(resp_head + b"\r\n\r\n" + resp_body)
    except (OSError, ValueError, ssl.SSLError) as e:
        print("steward-mitm: %s" % e, file=sys.stderr, flush=True)
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--to", required=True, help="HOST:PORT of the site")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--mode", choices=["pass", "reply", "sitekey"], default="pass")
    p.add_argument("--fake-key", default="ab" * 32)
    p.add_argument("--count-file", default="")
    p.add_argument("--max-seconds", type=int, default=300)
    args = p.parse_args()

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(args.cert, args.key)
    upstream_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    upstream_ctx.check_hostname = False
    upstream_ctx.verify_mode = ssl.CERT_NONE

    lock = threading.Lock()
    seen = [0]

    def count():
        with lock:
            seen[0] += 1
            if args.count_file:
                with open(args.count_file + ".tmp", "w") as f:
                    f.write("%d\n" % seen[0])
                os.replace(args.count_file + ".tmp", args.count_file)

    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    ls.settimeout(1.0)
    print("steward-mitm listen=127.0.0.1:%d" % ls.getsockname()[1], flush=True)
    deadline = time.monotonic() + args.max_seconds
    while time.monotonic() < deadline:
        try:
            raw, _ = ls.accept()
        except socket.timeout:
            continue
        raw.settimeout(10)
        try:
            conn = server_ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError) as e:
            # the client refused our certificate in the handshake
            print("steward-mitm: handshake: %s" % e, file=sys.stderr, flush=True)
            raw.close()
            continue
        threading.Thread(target=serve, args=(conn, args, upstream_ctx, count),
                         daemon=True).start()


if __name__ == "__main__":
    main()
