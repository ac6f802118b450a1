#!/usr/bin/env python3
"""Builds data/attack/groups.tsv, the compact actor reference the engine
seeds its actor profiles from, out of a checkout of MITRE's ATT&CK STIX data
(https://github.com/mitre/cti, folder enterprise-attack/).

    python3 scripts/data/extract-attack.py /path/to/cti data/attack

One line per intrusion set that is neither revoked nor deprecated:
    group_id <TAB> name <TAB> aliases (;) <TAB> technique ids (;) <TAB> software (;)
Techniques are ATT&CK ids (T1566, T1566.001); software is lower-cased
malware and tool names. A second file, software-aliases.tsv, maps each
other name of a piece of software to the name used in groups.tsv
(x-agent -> chopstick). Licence: see data/attack/LICENSE-ATTACK.txt.
"""
import glob
import json
import os
import sys


def objects(root, kind):
    for path in sorted(glob.glob(os.path.join(root, "enterprise-attack", kind, "*.json"))):
        with open(path, encoding="utf-8") as f:
            for o in json.load(f).get("objects", []):
                yield o


def live(o):
    return not o.get("revoked") and not o.get("x_mitre_deprecated")


def attack_id(o):
    for ref in o.get("external_references", []):
        if ref.get("source_name") == "mitre-attack":
            return ref.get("external_id")
    return None


def clean(s):
    return " ".join(s.replace("\t", " ").replace(";", ",").split())


def main(root, out_dir):
    groups = {o["id"]: o for o in objects(root, "intrusion-set") if live(o)}
    techniques = {o["id"]: attack_id(o) for o in objects(root, "attack-pattern") if live(o)}
    software = {}
    aliases = {}
    for kind in ("malware", "tool"):
        for o in objects(root, kind):
            if live(o):
                name = clean(o["name"]).lower()
                software[o["id"]] = name
                for a in o.get("x_mitre_aliases", []):
                    a = clean(a).lower()
                    if a != name:
                        aliases.setdefault(a, name)
    uses = {g: (set(), set()) for g in groups}
    for r in objects(root, "relationship"):
        if r.get("relationship_type") != "uses" or not live(r):
            continue
        src, dst = r.get("source_ref"), r.get("target_ref")
        if src not in groups:
            continue
        if dst in techniques and techniques[dst]:
            uses[src][0].add(techniques[dst])
        elif dst in software:
            uses[src][1].add(software[dst])
    rows = []
    for gid, g in groups.items():
        names = sorted({clean(a) for a in g.get("aliases", []) if clean(a) != clean(g["name"])})
        t, s = uses[gid]
        rows.append((attack_id(g), clean(g["name"]), ";".join(names), ";".join(sorted(t)), ";".join(sorted(s))))
    with open(os.path.join(out_dir, "groups.tsv"), "w", encoding="utf-8") as f:
        f.write("# group_id\tname\taliases\ttechniques\tsoftware\n")
        for row in sorted(rows):
            f.write("\t".join(x or "" for x in row) + "\n")
    with open(os.path.join(out_dir, "software-aliases.tsv"), "w", encoding="utf-8") as f:
        f.write("# alias\tsoftware name in groups.tsv\n")
        for a in sorted(aliases):
            f.write(f"{a}\t{aliases[a]}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
