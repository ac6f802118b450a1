#!/usr/bin/env python3
"""Prints a campaign from the fusion query API (JSON on stdin) for people:
counts, attribution, why each submission is in it, its observables."""
import json
import sys

d = json.load(sys.stdin)
c = d["campaign"]
print(f'{c["submission_count"]} submissions from {c["member_count"]} members, '
      f'sectors {", ".join(c["sectors"])}, TLP {c["tlp"]}')
a = c.get("attribution")
if a:
    print(f'attribution: {a["actor_name"]} ({a["actor_id"]}), confidence {a["confidence"]:.2f}: '
          + "; ".join(a["evidence"]))
else:
    print("attribution: none (not enough technique or malware overlap with a known actor)")
print("why these submissions are one campaign:")
for h in d["evidence"]:
    ev = " + ".join(f"{k} {v}" for k, v in h["evidence"])
    print(f'  {h["from"]["member"]}/{h["from"]["id"]} --[{ev}]-- {h["to"]["member"]}/{h["to"]["id"]}')
print("observables:")
for o in d["observables"]:
    flag = ""
    if o["warnlist"]:
        flag = f'  [warn-list {o["warnlist"]}: likely false positive, links nothing]'
    elif o["common_infrastructure"]:
        flag = "  [common infrastructure: links nothing]"
    print(f'  {o["kind"]:<7} {o["value"]:<48} score {o["score"]:.2f}, {o["reporters"]} reporter(s){flag}')
