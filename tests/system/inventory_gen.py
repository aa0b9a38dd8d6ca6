#!/usr/bin/env python3
"""Build a full inventory document from an agent's real one, altered, and
sealed the way lib/proto/inventory.c does (docs/internals/inventory.md):

  class hash = BLAKE2b-256 of the class written compact, keys sorted, ASCII
               (packages sorted by name, arch, version, source; steward by
               name, version, bytewise, before hashing the software class)
  full_hash  = BLAKE2b-256 of the three class hashes as raw bytes, in the
               order hardware, os, software

usage: inventory_gen.py IN OUT [--mem MB] [--os-name NAME]
           [--add-package NAME=VERSION]... [--remove-package NAME]...
           [--extra-packages N] [--extra-seed S]
Standard library only.
"""
import argparse
import hashlib
import json
import random
import sys

CLASSES = ["hardware", "os", "software"]


def canon(o):
    return json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def class_hash(o):
    return hashlib.blake2b(canon(o).encode("ascii"), digest_size=32).hexdigest()


def sort_software(sw):
    sw["packages"].sort(key=lambda p: (p["name"].encode(), p["arch"].encode(),
                                       p["version"].encode(), p["source"].encode()))
    sw["steward"].sort(key=lambda s: (s["name"].encode(), s["version"].encode()))


def seal(doc):
    cl = doc["classes"]
    sort_software(cl["software"])
    doc["schema"] = 1
    doc.pop("base", None)
    doc["hashes"] = {n: class_hash(cl[n]) for n in CLASSES}
    doc["full_hash"] = hashlib.blake2b(
        b"".join(bytes.fromhex(doc["hashes"][n]) for n in CLASSES),
        digest_size=32).hexdigest()
    return doc


def self_test():
    # the vectors of docs/internals/inventory.md
    assert class_hash({}).startswith("c09da522") and class_hash({}).endswith("786098")
    sw = {"packages": [{"arch": "amd64", "name": "a", "source": "dpkg", "version": "1"}],
          "steward": []}
    h = class_hash(sw)
    assert h.startswith("3a206866") and h.endswith("ec8809"), h
    e = class_hash({})
    full = hashlib.blake2b(bytes.fromhex(e) * 2 + bytes.fromhex(h), digest_size=32).hexdigest()
    assert full.startswith("530f1fbf") and full.endswith("218469"), full


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--mem", type=int)
    ap.add_argument("--os-name")
    ap.add_argument("--add-package", action="append", default=[])
    ap.add_argument("--remove-package", action="append", default=[])
    ap.add_argument("--extra-packages", type=int, default=0)
    ap.add_argument("--extra-seed", default="x")
    a = ap.parse_args()
    self_test()

    doc = json.load(open(a.inp))
    doc = {"classes": doc["classes"]}
    cl = doc["classes"]
    if a.mem is not None:
        cl["hardware"]["memory"]["total_mb"] = a.mem
    if a.os_name is not None:
        cl["os"]["name"] = a.os_name
        cl["os"]["pretty_name"] = a.os_name
    pk = cl["software"]["packages"]
    gone = set(a.remove_package)
    for spec in a.add_package:
        gone.add(spec.split("=", 1)[0])
    pk[:] = [p for p in pk if p["name"] not in gone]
    for spec in a.add_package:
        name, ver = spec.split("=", 1)
        pk.append({"name": name, "version": ver, "arch": "amd64", "source": "dpkg"})
    if a.extra_packages:
        rnd = random.Random(a.extra_seed)
        letters = "bcdfghjklmnpqrstuvwxyz0123456789-"  # few vowels: 'a' and 'e' rare
        have = {p["name"] for p in pk}
        n = 0
        while n < a.extra_packages:
            name = "x" + "".join(rnd.choice(letters) for _ in range(rnd.randint(8, 24)))
            name = name.rstrip("-")
            if name in have:
                continue
            have.add(name)
            pk.append({"name": name, "version": "%d.%d-%d" % (rnd.randint(0, 9),
                                                              rnd.randint(0, 99),
                                                              rnd.randint(1, 9)),
                       "arch": "amd64", "source": "dpkg"})
            n += 1
    seal(doc)
    with open(a.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
