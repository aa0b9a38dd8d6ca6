#!/usr/bin/env python3
"""Write the hand-made seed inputs of tests/fuzz/corpus/NAME/.

Each seed is named for what it exercises (valid messages from
docs/internals/protocol.md, then edge cases). Inputs the fuzzer found are
added next to them by `-merge=1` under their SHA-1 names; crashes found once
stay as crash-*. Rerunning this script rewrites only the seeds it names.

    python3 tests/fuzz/seeds.py
"""
import base64
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = base64.b64encode(bytes(range(32))).decode()
# jansson refuses nesting deeper than 2048; one seed on each side of that
DEEP = 2049
SHALLOW = 2000


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def js(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def nest(depth, leaf="1"):
    return "[" * depth + leaf + "]" * depth


def nest_obj(depth):
    return '{"a":' * depth + "1" + "}" * depth


# ---- check-in ---------------------------------------------------------------
CHECKIN = {
    "agent_version": "0.1.0",
    "protocol": {"min": 1, "max": 1},
    "components": [{"name": "base", "version": "0.1.0"}],
    "status": [{"type": "agent_started", "text": "...", "time": 1764000000}],
    "uptime": 12345,
    "inventory_hash": "",
}


def checkin(**over):
    d = json.loads(js(CHECKIN))
    for k, v in over.items():
        if v is KeyError:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def seeds_checkin():
    w = lambda n, d: write("checkin", n, d if isinstance(d, (str, bytes)) else js(d))
    w("doc-example", json.dumps(CHECKIN, indent=1))
    w("minimal", {"agent_version": "0.1.0", "protocol": {"min": 1, "max": 1}})
    w("inventory-hash", checkin(inventory_hash="ab" * 32))
    w("inventory-hash-over-cap", checkin(inventory_hash="ab" * 32 + "c"))
    w("components-at-cap", checkin(components=[{"name": "c%d" % i, "version": "1.0.%d" % i}
                                               for i in range(32)]))
    w("components-over-cap", checkin(components=[{"name": "c", "version": "1"}] * 33))
    w("status-at-cap", checkin(status=[{"type": "t%d" % i, "time": i} for i in range(64)]))
    w("status-over-cap", checkin(status=[{"type": "t", "time": 0}] * 65))
    w("status-text-at-cap", checkin(status=[{"type": "t", "text": "x" * 1024, "time": 1}]))
    w("status-text-over-cap", checkin(status=[{"type": "t", "text": "x" * 1025, "time": 1}]))
    w("status-text-control", checkin(status=[{"type": "t", "text": "a\tb\nc\u0001\u007f", "time": 1}]))
    w("status-text-unicode", checkin(status=[{"type": "t", "text": "h\u00e9llo \u2603 \U0001F600", "time": 1}]))
    w("status-text-nul", checkin(status=[{"type": "t", "text": "a\u0000b", "time": 1}]))
    w("status-text-null", checkin(status=[{"type": "t", "text": None, "time": 1}]))
    w("status-time-max", checkin(status=[{"type": "t", "time": 253402300799}]))
    w("status-time-over", checkin(status=[{"type": "t", "time": 253402300800}]))
    w("status-time-real", '{"agent_version":"1","protocol":{"min":1,"max":1},'
                          '"status":[{"type":"t","time":1.5}]}')
    w("status-time-string", checkin(status=[{"type": "t", "time": "1"}]))
    w("status-not-object", checkin(status=["t"]))
    w("status-type-missing", checkin(status=[{"time": 1}]))
    w("components-not-array", checkin(components={"name": "x"}))
    w("components-null", checkin(components=None))
    w("component-name-over-cap", checkin(components=[{"name": "n" * 33, "version": "1"}]))
    w("component-version-at-cap", checkin(components=[{"name": "n" * 32, "version": "v" * 32}]))
    w("agent-version-missing", checkin(agent_version=KeyError))
    w("agent-version-over-cap", checkin(agent_version="1" * 33))
    w("agent-version-unicode", checkin(agent_version="0.1.0\u00e9"))
    w("agent-version-nul", checkin(agent_version="0.1\u00000"))
    w("agent-version-number", checkin(agent_version=1))
    w("protocol-missing", checkin(protocol=KeyError))
    w("protocol-null", checkin(protocol=None))
    w("protocol-max-below-min", checkin(protocol={"min": 3, "max": 2}))
    w("protocol-zero", checkin(protocol={"min": 0, "max": 1}))
    w("protocol-65535", checkin(protocol={"min": 65535, "max": 65535}))
    w("protocol-65536", checkin(protocol={"min": 1, "max": 65536}))
    w("protocol-array", checkin(protocol=[1, 1]))
    w("uptime-max", checkin(uptime=1 << 40))
    w("uptime-over", checkin(uptime=(1 << 40) + 1))
    w("uptime-negative", checkin(uptime=-1))
    w("uptime-int64-max", checkin(uptime=9223372036854775807))
    w("uptime-int64-over", '{"agent_version":"1","protocol":{"min":1,"max":1},'
                           '"uptime":9223372036854775808}')
    w("uptime-int64-min", checkin(uptime=-9223372036854775808))
    w("uptime-huge", '{"agent_version":"1","protocol":{"min":1,"max":1},"uptime":'
                     + "9" * 400 + "}")
    w("uptime-exponent", '{"agent_version":"1","protocol":{"min":1,"max":1},"uptime":1e3}')
    w("uptime-minus-zero", '{"agent_version":"1","protocol":{"min":1,"max":1},"uptime":-0}')
    w("uptime-null", checkin(uptime=None))
    w("duplicate-key", '{"agent_version":"1","agent_version":"2","protocol":{"min":1,"max":1}}')
    w("duplicate-key-nested", '{"agent_version":"1","protocol":{"min":1,"min":1,"max":1}}')
    w("unknown-keys", checkin(extra={"deep": [1, 2, 3]}, more=None))
    w("empty", b"")
    w("empty-object", "{}")
    w("array", "[]")
    w("null", "null")
    w("string", '"x"')
    w("number", "1")
    w("nul-byte", b'{"agent_version":"0.1.0",\x00"protocol":{"min":1,"max":1}}')
    w("nul-after", js(CHECKIN).encode() + b"\x00")
    w("trailing-garbage", js(CHECKIN) + " x")
    w("two-objects", js(CHECKIN) + js(CHECKIN))
    w("bom", b"\xef\xbb\xbf" + js(CHECKIN).encode())
    w("invalid-utf8", b'{"agent_version":"\xff\xfe","protocol":{"min":1,"max":1}}')
    w("overlong-utf8", b'{"agent_version":"\xc0\xaf","protocol":{"min":1,"max":1}}')
    w("lone-surrogate", '{"agent_version":"\\ud800","protocol":{"min":1,"max":1}}')
    w("surrogate-pair", '{"agent_version":"1","protocol":{"min":1,"max":1},'
                        '"status":[{"type":"t","text":"\\ud83d\\ude00","time":1}]}')
    w("escapes", '{"agent_version":"\\u0030.\\u0031","protocol":{"min":1,"max":1},'
                 '"inventory_hash":"\\/\\"\\\\"}')
    w("deep-array", nest(DEEP))
    w("deep-object", nest_obj(DEEP))
    w("deep-in-field", '{"agent_version":"1","protocol":{"min":1,"max":1},"x":'
                       + nest(SHALLOW) + "}")
    w("deep-in-field-over", '{"agent_version":"1","protocol":{"min":1,"max":1},"x":'
                            + nest(DEEP) + "}")
    w("whitespace", "\r\n\t " + json.dumps(CHECKIN, indent="\t") + " \n")
    w("unterminated", js(CHECKIN)[:-1])


# ---- enrollment -------------------------------------------------------------
ENROLL = {
    "token": "ABCD1234",
    "public_key": KEY,
    "hostname": "web01",
    "addresses": ["10.1.2.3", "fe80::1"],
    "os": {"name": "Debian GNU/Linux", "version": "12"},
    "agent_version": "0.1.0",
    "protocol": {"min": 1, "max": 1},
}


def enroll(**over):
    d = json.loads(js(ENROLL))
    for k, v in over.items():
        if v is KeyError:
            d.pop(k, None)
        else:
            d[k] = v
    return d


def seeds_enroll():
    w = lambda n, d: write("enroll", n, d if isinstance(d, (str, bytes)) else js(d))
    w("doc-example", json.dumps(ENROLL, indent=1))
    w("minimal", {k: ENROLL[k] for k in ("token", "public_key", "hostname", "agent_version",
                                          "protocol")})
    w("key-31-bytes", enroll(public_key=base64.b64encode(bytes(31)).decode()))
    w("key-33-bytes", enroll(public_key=base64.b64encode(bytes(33)).decode()))
    w("key-unpadded", enroll(public_key=KEY.rstrip("=")))
    w("key-noncanonical-bits", enroll(public_key=KEY[:-2] + "B="))
    w("key-urlsafe", enroll(public_key=base64.urlsafe_b64encode(b"\xff" * 32).decode()))
    w("key-whitespace", enroll(public_key=KEY[:20] + " " + KEY[20:]))
    w("key-empty", enroll(public_key=""))
    w("key-63-chars", enroll(public_key="A" * 63))
    w("key-64-chars", enroll(public_key="A" * 64))
    w("key-number", enroll(public_key=32))
    w("key-nul", enroll(public_key=KEY[:-1] + "\u0000"))
    w("token-at-cap", enroll(token="t" * 128))
    w("token-over-cap", enroll(token="t" * 129))
    w("token-empty", enroll(token=""))
    w("token-missing", enroll(token=KeyError))
    w("token-control", enroll(token="a\nb"))
    w("hostname-empty", enroll(hostname=""))
    w("hostname-at-cap", enroll(hostname="h" * 253))
    w("hostname-over-cap", enroll(hostname="h" * 254))
    w("hostname-unicode", enroll(hostname="h\u00f6st"))
    w("hostname-null", enroll(hostname=None))
    w("addresses-at-cap", enroll(addresses=["10.0.0.%d" % i for i in range(32)]))
    w("addresses-over-cap", enroll(addresses=["10.0.0.1"] * 33))
    w("addresses-empty", enroll(addresses=[]))
    w("addresses-null", enroll(addresses=None))
    w("addresses-not-array", enroll(addresses="10.0.0.1"))
    w("address-at-cap", enroll(addresses=["a" * 64]))
    w("address-over-cap", enroll(addresses=["a" * 65]))
    w("address-number", enroll(addresses=[10]))
    w("address-control", enroll(addresses=["10.0.0.1\n"]))
    w("address-embedded-nul", enroll(addresses=["10.0.0.1\u0000" + "x" * 80]))
    w("address-unicode", enroll(addresses=["fe80::1%\u00e9th0"]))
    w("os-missing", enroll(os=KeyError))
    w("os-null", enroll(os=None))
    w("os-string", enroll(os="linux"))
    w("os-empty", enroll(os={}))
    w("os-fields-null", enroll(os={"name": None, "version": None}))
    w("os-name-at-cap", enroll(os={"name": "n" * 128, "version": "v" * 128}))
    w("os-name-over-cap", enroll(os={"name": "n" * 129}))
    w("os-version-number", enroll(os={"version": 12}))
    w("agent-version-over-cap", enroll(agent_version="1" * 33))
    w("protocol-max-below-min", enroll(protocol={"min": 2, "max": 1}))
    w("protocol-huge", '{"token":"t","public_key":"%s","hostname":"h","agent_version":"1",'
                       '"protocol":{"min":1,"max":%s}}' % (KEY, "9" * 30))
    w("duplicate-key", '{"token":"a","token":"b","public_key":"%s","hostname":"h",'
                       '"agent_version":"1","protocol":{"min":1,"max":1}}' % KEY)
    w("empty", b"")
    w("empty-object", "{}")
    w("array", "[]")
    w("nul-byte", js(ENROLL).encode()[:10] + b"\x00" + js(ENROLL).encode()[10:])
    w("invalid-utf8", b'{"token":"\xe2\x82","public_key":"' + KEY.encode() + b'"}')
    w("deep-array", nest(DEEP))
    w("deep-object", nest_obj(DEEP))
    w("deep-in-os", js(enroll(os={"name": "x", "extra": json.loads(nest(100))})))


# ---- configuration ----------------------------------------------------------
CONFIG_FULL = """\
# stewardd.conf: every key, with its default where it has one
listen = 0.0.0.0:8420
data_dir = /var/lib/steward
site_code = ABC
site_name = steward site
boundary = 10.1.0.0/16 ABC
boundary = 10.2.0.0/16 DEF
boundary = fd00::/8 XYZ
roles = all
checkin_interval = 23h
checkin_jitter = 1h
enroll_auto_approve = false
clock_skew_max = 5m
session_ttl = 24h
http_max_header_bytes = 8192
http_max_body_bytes = 262144
http_timeout = 30s
http_max_connections = 1024
http_max_per_ip = 256
http_threads = 2
writer_queue_max = 16384
writer_batch_max = 1024
status_retention = 30d
metrics_loopback = true
log_level = info
"""


def seeds_config():
    w = lambda n, d: write("config", n, d)
    w("full", CONFIG_FULL)
    w("minimal", "site_code = ABC\n")
    w("empty", b"")
    w("comments-only", "# nothing\n\n   # indented\n\t\n")
    w("crlf", CONFIG_FULL.replace("\n", "\r\n"))
    w("no-final-newline", "site_code = ABC")
    w("tabs-and-comments", "\tsite_code\t=\tABC\t# the code\nlog_level=debug#x\n")
    w("value-with-equals", "site_code = ABC\nsite_name = a=b=c\n")
    w("empty-value", "site_code = ABC\nsite_name =\n")
    w("missing-equals", "site_code ABC\n")
    w("missing-key", "= ABC\n")
    w("unknown-key", "site_cod = ABC\n")
    w("key-with-space", "site code = ABC\n")
    w("duplicate-string", "site_code = ABC\nsite_code = DEF\nsite_name = a\nsite_name = b\n")
    w("boundaries-at-cap", "site_code = ABC\n" + "".join(
        "boundary = 10.%d.0.0/16 B%02d\n" % (i, i) for i in range(64)))
    w("boundaries-over-cap", "site_code = ABC\n" + "boundary = 10.0.0.0/8 ABC\n" * 65)
    w("boundary-bad", "site_code = ABC\nboundary = 10.0.0.1/8 ABC\n")
    w("boundary-ipv6", "site_code = ABC\nboundary = 2001:db8::/32 V6S\nboundary = ::/0 ALL\n")
    w("line-at-cap", "site_name = " + "n" * (4096 - len("site_name = ")) + "\n")
    w("line-over-cap", "site_name = " + "n" * 4090 + "\n")
    w("nul-byte", b"site_code = A\x00C\n")
    w("nul-after-comment", b"# x\x00y\nsite_code = ABC\n")
    w("non-ascii-value", "site_code = ABC\nsite_name = caf\u00e9\n")
    w("invalid-utf8", b"site_code = ABC\nsite_name = \xff\xfe\n")
    w("control-value", b"site_code = ABC\nsite_name = a\x01b\n")
    w("int-overflow", "http_threads = 9223372036854775808\n")
    w("int-negative", "http_threads = -1\n")
    w("int-hex", "http_threads = 0x10\n")
    w("int-space-inside", "http_threads = 1 0\n")
    w("int-bounds", "site_code = ABC\nhttp_threads = 64\nhttp_max_header_bytes = 1024\n"
                    "http_max_body_bytes = 16777216\nwriter_queue_max = 1048576\n")
    w("int-over-bound", "http_threads = 65\n")
    w("duration-units", "site_code = ABC\ncheckin_interval = 90\ncheckin_jitter = 60s\n"
                        "clock_skew_max = 15m\nsession_ttl = 7d\nstatus_retention = 3650d\n")
    w("duration-overflow", "checkin_interval = 106751991167301d\n")
    w("duration-int64-max", "checkin_interval = 9223372036854775807s\n")
    w("duration-bad", "checkin_interval = 5ss\n")
    w("duration-sign", "checkin_interval = +5m\n")
    w("duration-upper", "checkin_interval = 5M\n")
    w("bool-values", "site_code = ABC\nenroll_auto_approve = YES\nmetrics_loopback = off\n")
    w("bool-bad", "enroll_auto_approve = maybe\n")
    w("listen-ipv6", "site_code = ABC\nlisten = [::1]:8420\n")
    w("listen-ipv6-bare", "site_code = ABC\nlisten = ::1:8420\n")
    w("listen-empty-brackets", "listen = []:1\n")
    w("listen-no-port", "listen = 1.2.3.4:\n")
    w("listen-port-over", "listen = 1.2.3.4:65536\n")
    w("listen-no-colon", "listen = 1.2.3.4\n")
    w("listen-bad-bracket", "listen = [::1]8420\n")
    w("listen-hostname", "listen = localhost:8420\n")
    w("roles-list", "site_code = ABC\nroles = site_server, management_point\n")
    w("roles-separators-only", "roles = , ,,\n")
    w("roles-bad", "roles = site_server,bogus\n")
    w("site-code-lower", "site_code = abc\n")
    w("site-code-long", "site_code = ABCD\n")
    w("log-level-bad", "log_level = loud\n")
    w("finish-jitter-over-interval", "site_code = ABC\ncheckin_interval = 60\n"
                                     "checkin_jitter = 61\n")
    w("finish-per-ip-over-max", "site_code = ABC\nhttp_max_connections = 16\n"
                                "http_max_per_ip = 17\n")
    w("finish-no-site-code", "log_level = warn\n")
    w("data-dir-at-cap", "site_code = ABC\ndata_dir = /" + "d" * 1023 + "\n")
    w("data-dir-over-cap", "data_dir = /" + "d" * 1024 + "\n")


# ---- small parsers ----------------------------------------------------------
def seeds_misc():
    w = lambda n, d: write("misc", n, d)
    for i, s in enumerate(["1-3", "2", "0-1", "3-1", "100000-100000", "100001", "99999999999",
                           "1-", "-1", "1--2", "01-002", " 1-2", "1-2 "]):
        w("range-%02d" % i, s)
    for i, s in enumerate(["0.1.0", "01.2.3", "1.2", "1.2.3.4", "1.2.3-rc1", "100000.0.0",
                           "100001.0.0", "1..3", ".1.2", "1.2.", "9999999999.1.1"]):
        w("semver-%02d" % i, s)
    for i, s in enumerate(["90", "90s", "15m", "23h", "7d", "0", "9223372036854775807",
                           "9223372036854775808", "106751991167300d", "106751991167301d",
                           "1x", "1sx", "", "-5", "+5", " 5", "5 ", "0x10", "1e3"]):
        w("duration-%02d" % i, s)
    for i, s in enumerate(["10.1.0.0/16 ABC", "fe80::/10 XYZ", "10.1.0.1/16 ABC",
                           "0.0.0.0/0 ABC", "::/0 ABC", "10.0.0.0/016 ABC", "10.0.0.0/33 ABC",
                           "::/129 ABC", "10.0.0.0/8", "10.0.0.0/8 AB", "10.0.0.0/8 abc",
                           "10.0.0.0/8 ABC x", "10.0.0.0 ABC", "/8 ABC", "10.0.0.0/ ABC",
                           "10.0.0.0/8x ABC", "1" * 80 + "/8 ABC", "::ffff:10.0.0.0/104 ABC",
                           " \t10.0.0.0/8\tABC \r\n", "10.0.0.0/99999999999999 ABC",
                           "1.2.3.4/32 ZZ9", "2001:db8::1/128 V6A", "::1:2:3:4:5:6:7/112 ABC",
                           "10.0.0/8 ABC", "010.0.0.0/8 ABC", "", "   "]):
        w("boundary-%02d" % i, s)
    for i, s in enumerate(["10.1.2.3", "fe80::1", "fe80::1%eth0", "::ffff:1.2.3.4",
                           "256.1.1.1", "1.2.3", "::", "1:2:3:4:5:6:7:8:9"]):
        w("addr-%02d" % i, s)
    for i, s in enumerate(["debug", "INFO", "Warn", "error", "trace", "info\n"]):
        w("loglevel-%d" % i, s)
    w("client-id", "0123456789abcdef0123456789abcdef")
    w("client-id-upper", "0123456789ABCDEF0123456789ABCDEF")
    w("site-code", "AB9")
    w("nul-inside", b"1-3\x002")
    err = {"error": {"code": "body_too_large",
                     "message": "request body is 70000 bytes; the limit is 65536",
                     "remedy": "..."}}
    w("error-doc-example", json.dumps(err))
    w("error-empty-object", '{"error":{}}')
    w("error-not-object", '{"error":"x"}')
    w("error-array-root", '[{"error":{"code":"x"}}]')
    w("error-code-number", '{"error":{"code":1,"message":null}}')
    w("error-code-empty", '{"error":{"code":""}}')
    w("error-utf8-cut-at-cap", js({"error": {"code": "c" * 46 + "\u00e9\u00e9",
                                             "message": "m" * 254 + "\u2603",
                                             "remedy": "\U0001F600" * 70}}))
    w("error-nul", '{"error":{"code":"a\\u0000b","message":"x"}}')
    w("error-duplicate", '{"error":{"code":"a"},"error":{"code":"b"}}')
    w("error-deep", '{"error":' + nest(DEEP) + "}")
    w("empty", b"")


# ---- console update (GET /update/console) ----------------------------------------
MANIFEST = ("steward-release\t1\nversion\t1.1.0\ncreated\t2026-12-01T00:00:00Z\n"
            "expires\t2027-12-01T00:00:00Z\nkey\t" + "00" * 32 + "\n"
            "component\tstewardctl\tconsole\t1.1.0\t1-1\n"
            "file\tstewardctl\tbin/stewardctl\t755\t" + "ab" * 32 + "\t1234\n"
            "signature\t" + "A" * 86 + "==\n")
CONSOLE_UPDATE = {
    "format": "steward-console-update-1",
    "site": {"code": "T01", "version": "1.0.0", "protocol": "1-1", "api": 1},
    "release": {"version": "1.1.0", "manifest": MANIFEST},
    "console": {"component": "stewardctl", "version": "1.1.0", "protocol": "1-1",
                "path": "bin/stewardctl", "sha256": "ab" * 32, "size": 1234,
                "download": "/update/console/files/" + "ab" * 32},
}


def console_update(path=None, value=KeyError):
    d = json.loads(js(CONSOLE_UPDATE))
    if path:
        o = d
        for k in path[:-1]:
            o = o[k]
        if value is KeyError:
            o.pop(path[-1], None)
        else:
            o[path[-1]] = value
    return js(d)


def seeds_console_update():
    w = lambda n, d: write("console_update", n, d)
    w("valid", console_update())
    w("valid-extra-members", js(dict(json.loads(console_update()), later={"x": 1})))
    w("format-2", console_update(["format"], "steward-console-update-2"))
    w("format-missing", console_update(["format"]))
    w("site-missing", console_update(["site"]))
    w("site-code-lower", console_update(["site", "code"], "t01"))
    w("site-version-bad", console_update(["site", "version"], "1.0"))
    w("site-protocol-bad", console_update(["site", "protocol"], "2-1"))
    w("site-api-zero", console_update(["site", "api"], 0))
    w("site-api-string", console_update(["site", "api"], "1"))
    w("release-manifest-empty", console_update(["release", "manifest"], ""))
    w("release-manifest-nul", console_update(["release", "manifest"], "a\u0000b"))
    w("console-sha256-upper", console_update(["console", "sha256"], "AB" * 32))
    w("console-sha256-short", console_update(["console", "sha256"], "ab" * 31))
    w("console-size-negative", console_update(["console", "size"], -1))
    w("console-size-huge", console_update(["console", "size"], 2 ** 62))
    w("console-size-float", console_update(["console", "size"], 1.5))
    w("console-download-absolute-url", console_update(["console", "download"], "http://evil/x"))
    w("console-download-climbs", console_update(["console", "download"], "/update/../etc/passwd"))
    w("console-download-query", console_update(["console", "download"], "/x?y=1"))
    w("console-path-control", console_update(["console", "path"], "bin/\u0007"))
    w("console-component-over-cap", console_update(["console", "component"], "c" * 33))
    w("console-unicode", console_update(["console", "component"], "st\u00e9wardctl"))
    w("duplicate-format", '{"format":"steward-console-update-1","format":"x"}')
    w("array", "[" + console_update() + "]")
    w("truncated", console_update()[:200])
    w("deep", '{"site":' + nest(DEEP) + "}")
    w("empty", b"")


def full_inventory():
    """A small full inventory document, sealed as lib/proto/inventory.c does."""
    def canon(o):
        return json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    def h(o):
        return hashlib.blake2b(canon(o).encode("ascii"), digest_size=32).hexdigest()
    classes = {
        "hardware": {"cpu": {"model": "Xeon", "sockets": 1, "cores": 2, "threads": 4},
                     "memory": {"total_mb": 2048},
                     "disks": [{"device": "/dev/vda1", "mount": "/", "fs": "ext4",
                                "size_mb": 40960, "free_mb": 100}],
                     "network": [{"name": "eth0", "mac": "52:54:00:12:34:56",
                                  "addresses": ["10.0.0.5"]}],
                     "dmi": {"vendor": "QEMU", "product": "pc", "serial": ""},
                     "virtualization": "kvm"},
        "os": {"id": "debian", "name": "Debian GNU/Linux", "version_id": "12", "version": "12",
               "pretty_name": "Debian GNU/Linux 12", "kernel_release": "6.1.0", "arch": "x86_64",
               "boot_time": 1796569309, "timezone": "UTC"},
        "software": {"packages": [{"name": "nginx", "version": "1.22.1-9", "arch": "amd64",
                                   "source": "dpkg"}],
                     "steward": [{"name": "steward-agent", "version": "0.1.0"}]}}
    hashes = {n: h(classes[n]) for n in ("hardware", "os", "software")}
    full = hashlib.blake2b(b"".join(bytes.fromhex(hashes[n]) for n in ("hardware", "os", "software")),
                           digest_size=32).hexdigest()
    return {"schema": 1, "classes": classes, "hashes": hashes, "full_hash": full}


def batch(messages, **over):
    b = {"format": "steward-link-batch-1", "from": "C01", "to": "CEN", "messages": messages}
    b.update(over)
    return js(b)


def seeds_link_batch():
    status = {"advert": "roll-out", "client": "0" * 31 + "1", "revision": 1, "seq": 7,
              "state": "succeeded", "exit_code": 0, "detail": "", "time": 1796569309}
    write("link_batch", "empty", batch([]))
    write("link_batch", "status", batch([{"seq": 5, "class": 1, "kind": "status", "body": status}]))
    write("link_batch", "classes", batch([
        {"seq": 9, "class": 0, "kind": "settings", "body": {"settings": {"tree:C01": "{}"}}},
        {"seq": 3, "class": 1, "kind": "seen", "body": {"clients": [["0" * 32, 5]]}},
        {"seq": 4, "class": 1, "kind": "clients", "body": {"site": "C02", "clients": []}},
        {"seq": 2, "class": 2, "kind": "hello", "body": {}}]))
    write("link_batch", "seq-not-growing", batch([
        {"seq": 5, "class": 1, "kind": "status", "body": {}},
        {"seq": 5, "class": 1, "kind": "status", "body": {}}]))
    write("link_batch", "bad-class", batch([{"seq": 1, "class": 3, "kind": "x", "body": {}}]))
    write("link_batch", "bad-kind", batch([{"seq": 1, "class": 0, "kind": "Bad-Kind", "body": {}}]))
    write("link_batch", "bad-site", batch([], **{"from": "c1"}))
    write("link_batch", "other-format", batch([], format="steward-link-batch-2"))
    write("link_batch", "epochs", batch([], epoch="0123456789abcdef", to_epoch="fedcba9876543210"))
    write("link_batch", "epoch-unknown", batch([], epoch="0123456789abcdef", to_epoch=""))
    write("link_batch", "epoch-bad", batch([], epoch="0123456789ABCDEF"))
    write("link_batch", "to-epoch-bad", batch([], to_epoch=12))
    # objects from above (server/hierarchy.c decode_down checks their fields)
    down = {"from": "CEN", "to": "C01"}
    write("link_batch", "objects-down", batch([
        {"seq": 10, "class": 1, "kind": "collection", "body": {
            "op": "put", "name": "approved", "kind": "query", "query": 'state = "approved"',
            "comment": "", "created": 1796569309, "created_by": "admin", "origin": "",
            "members": [], "include": ["All Clients"], "exclude": []}},
        {"seq": 11, "class": 1, "kind": "package", "body": {
            "op": "put", "name": "tool", "version": "1.0", "manifest": "a" * 64, "bytes": 30,
            "files": 2, "comment": "", "created": 1796569309, "created_by": "admin",
            "origin": "CEN"}},
        {"seq": 12, "class": 1, "kind": "program", "body": {
            "op": "put", "name": "install", "package": "tool", "version": "1.0",
            "spec": js({"command": "sh install.sh", "workdir": "", "user": "", "timeout": 60,
                        "success_codes": [0], "reboot_codes": [], "env": {}, "run": "once",
                        "min_free_mb": 0, "requirement": "", "comment": ""}),
            "created": 1796569309, "created_by": "admin", "origin": ""}},
        {"seq": 13, "class": 1, "kind": "advert", "body": {
            "op": "put", "name": "roll-out", "program": "install", "collection": "approved",
            "available": 0, "mandatory": 0, "recurring": 0, "expires": 0, "enabled": True,
            "created": 1796569309, "created_by": "admin", "origin": ""}},
        {"seq": 14, "class": 1, "kind": "advert",
         "body": {"op": "delete", "name": "roll-out", "origin": ""}}], **down))
    write("link_batch", "object-bad-hash", batch([
        {"seq": 11, "class": 1, "kind": "package", "body": {
            "op": "put", "name": "tool", "version": "1.0", "manifest": "../" * 21 + "a",
            "bytes": -1, "files": 2, "comment": "", "created": 0, "created_by": "",
            "origin": "cen"}}], **down))
    # inventory up a link: a summary, a full document, and bad ones
    hw = {"cpu": {"model": "Xeon", "sockets": 1, "cores": 2, "threads": 4},
          "memory": {"total_mb": 2048}, "disk_total_mb": 40960,
          "dmi": {"vendor": "QEMU", "product": "pc"}, "virtualization": "kvm"}
    os_ = {"id": "debian", "name": "Debian GNU/Linux", "version_id": "12", "version": "12",
           "pretty_name": "Debian GNU/Linux 12", "kernel_release": "6.1.0", "arch": "x86_64"}
    summary = {"level": "summary", "clients": [{"id": "0" * 31 + "1", "received": 5,
                                                "hardware": hw, "os": os_}]}
    write("link_batch", "inventory-summary", batch(
        [{"seq": 6, "class": 1, "kind": "inventory", "body": dict(summary, site="C02")}],
        inventory="full"))
    write("link_batch", "inventory-full", batch(
        [{"seq": 7, "class": 2, "kind": "inventory",
          "body": {"level": "full", "clients": [{"id": "0" * 31 + "2", "received": 5,
                                                 "inventory": full_inventory()}]}}]))
    bad = json.loads(json.dumps(summary))
    bad["clients"][0]["hardware"]["cpu"]["cores"] = -1
    write("link_batch", "inventory-bad", batch(
        [{"seq": 8, "class": 1, "kind": "inventory", "body": bad}]))
    write("link_batch", "inventory-level-bad", batch([], inventory="most"))
    write("link_batch", "token", "stwsite1." + "0" * 16 + "." + "a" * 32 + "." + "b" * 64)
    write("link_batch", "token-short", "stwsite1." + "0" * 16 + "." + "a" * 31 + "." + "b" * 64)
    # a real zstd frame of a batch, and a frame that declares more than it has
    import subprocess
    frame = subprocess.run(["zstd", "-q", "-c"], input=batch([]).encode(),
                           stdout=subprocess.PIPE, check=True).stdout
    write("link_batch", "zstd-frame", frame)
    write("link_batch", "zstd-cut", frame[:-3])
    write("link_batch", "zstd-trailing", frame + b"x")


if __name__ == "__main__":
    seeds_checkin()
    seeds_enroll()
    seeds_config()
    seeds_misc()
    seeds_console_update()
    seeds_link_batch()
