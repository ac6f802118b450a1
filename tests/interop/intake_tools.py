#!/usr/bin/env python3
"""Intake interop with tools no one on this project wrote.

  intake_tools.py fixtures DIR    write a STIX bundle (OASIS `stix2`), a MISP
                                  event (CIRCL `pymisp`) and two e-mails
                                  (Python's `email` package) into DIR, with
                                  DIR/expect.json: what each producer put in
  intake_tools.py validate FILE   check a STIX 2.1 bundle with the OASIS
                                  `stix2-validator`; exit 1 if invalid
  intake_tools.py suricata FILE   parse Suricata rules with `suricataparser`;
                                  print [{sid, rev, msg}]; exit 1 if a rule
                                  line does not parse
  intake_tools.py misp-feed DIR   load DIR/manifest.json and every event it
                                  names (DIR/<uuid>.json) with CIRCL's
                                  `pymisp`; print {events, values}
  intake_tools.py taxii URL KEY COLLECTION_ALERTS
                                  read an alerts collection with the OASIS
                                  `taxii2-client`, page by added_after,
                                  validate every page; print a JSON summary

The fixtures are produced by these libraries at test time rather than
copied from their repositories, so their shape is the tools' own and no
third-party file lives in this one.
"""
import json
import os
import sys
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone


def stix_fixture(path, expect):
    import stix2

    ind = stix2.Indicator(
        name="Payroll phishing landing page",
        pattern="[url:value = 'https://payroll-update.example/login'] OR "
        "[domain-name:value = 'payroll-update.example'] OR "
        "[file:hashes.'SHA-256' = '4bf5cc4d3c61fe5d8a84f0f8c7a3e1c7b0b5a0e6b7e3b9f1a8c2d3e4f5a6b7c8']",
        pattern_type="stix",
        valid_from="2026-07-01T00:00:00Z",
        object_marking_refs=[stix2.TLP_AMBER],
    )
    ipv4 = stix2.IPv4Address(value="198.51.100.23")
    observed = stix2.ObservedData(
        first_observed="2026-07-01T08:00:00Z",
        last_observed="2026-07-01T09:00:00Z",
        number_observed=3,
        object_refs=[ipv4.id],
    )
    actor = stix2.IntrusionSet(name="FIN-Payroll")
    malware = stix2.Malware(name="PayStealer", is_family=True)
    technique = stix2.AttackPattern(
        name="Spearphishing Link",
        external_references=[{"source_name": "mitre-attack", "external_id": "T1566.002"}],
    )
    campaign = stix2.Campaign(name="Summer payroll wave")
    rels = [
        stix2.Relationship(ind, "indicates", campaign),
        stix2.Relationship(campaign, "attributed-to", actor),
        stix2.Relationship(campaign, "uses", technique),
        stix2.Relationship(campaign, "uses", malware),
    ]
    bundle = stix2.Bundle(ind, ipv4, observed, actor, malware, technique, campaign, *rels)
    with open(path, "w") as f:
        f.write(bundle.serialize(pretty=True))
    expect["stix"] = {
        "observables": [
            "https://payroll-update.example/login",
            "payroll-update.example",
            "4bf5cc4d3c61fe5d8a84f0f8c7a3e1c7b0b5a0e6b7e3b9f1a8c2d3e4f5a6b7c8",
            "198.51.100.23",
        ],
        "actor_claims": ["FIN-Payroll"],
        "malware": ["PayStealer"],
        "ttps": ["T1566.002"],
        "tlp": "AMBER",
        "title": "Summer payroll wave",
    }


def misp_fixture(path, expect):
    from pymisp import MISPEvent, MISPObject

    ev = MISPEvent()
    ev.info = "Invoice malware wave"
    ev.distribution = 1
    ev.threat_level_id = 2
    ev.analysis = 1
    ev.set_date("2026-07-02")
    ev.add_tag("tlp:green")
    ev.add_tag('misp-galaxy:threat-actor="FIN-Payroll"')
    ev.add_tag('misp-galaxy:mitre-attack-pattern="Malicious File - T1204.002"')
    ev.add_attribute("ip-dst", "203.0.113.66", category="Network activity", to_ids=True)
    ev.add_attribute("domain", "invoice-portal.example", category="Network activity", to_ids=True)
    ev.add_attribute("url", "hxxp://invoice-portal[.]example/get.php", category="Payload delivery", to_ids=True)
    ev.add_attribute("comment", "seen by our SOC", category="Other", to_ids=False)
    ev.add_attribute("email-src", "billing@invoice-portal.example", category="Payload delivery", to_ids=True)
    f = MISPObject("file", standalone=False)
    f.add_attribute("filename", value="invoice_0702.xlsm", to_ids=True)
    f.add_attribute("md5", value="0f343b0931126a20f133d67c2b018a3b", to_ids=True)
    ev.add_object(f)
    with open(path, "w") as out:
        out.write(ev.to_json(indent=2))
    expect["misp"] = {
        "observables": [
            "203.0.113.66",
            "invoice-portal.example",
            "http://invoice-portal.example/get.php",
            "billing@invoice-portal.example",
            "invoice_0702.xlsm",
            "0f343b0931126a20f133d67c2b018a3b",
        ],
        "actor_claims": ["FIN-Payroll"],
        "ttps": ["T1204.002"],
        "tlp": "GREEN",
        "title": "Invoice malware wave",
    }


def phish(url, sender, subject, attachment):
    m = EmailMessage()
    m["Return-Path"] = "<bounce@mailer.payroll-update.example>"
    m["Received"] = (
        "from mailer.payroll-update.example (mailer.payroll-update.example [198.51.100.77])"
        " by mx1.northbank.example (Postfix) with ESMTPS id 4Q; Tue, 01 Jul 2026 08:59:10 +0000"
    )
    m["Received"] = "from mx1.northbank.example (10.20.0.5) by exch.northbank.example; Tue, 01 Jul 2026 08:59:11 +0000"
    m["Authentication-Results"] = (
        "mx1.northbank.example; spf=softfail smtp.mailfrom=payroll-update.example;"
        " dkim=none; dmarc=fail header.from=payroll-update.example"
    )
    m["From"] = f"Payroll Team <{sender}>"
    m["Reply-To"] = "payroll-desk@freemail.example"
    m["To"] = "alice.victim@northbank.example"
    m["Subject"] = subject
    m["Date"] = format_datetime(datetime(2026, 7, 1, 8, 59, 0, tzinfo=timezone.utc))
    m.set_content("Dear Alice,\n\nPlease confirm your salary details today.\n")
    obfuscated = url.replace("h", "&#104;", 1)
    m.add_alternative(
        f'<html><body><p>Dear Alice,</p><p><a href="{obfuscated}">https://intranet.northbank.example/hr</a></p></body></html>',
        subtype="html",
    )
    m.add_attachment(attachment, maintype="application", subtype="vnd.ms-excel.sheet.macroEnabled.12", filename="salary_2026.xlsm")
    return m


def eml_fixtures(dirname, expect):
    import hashlib

    url = "https://payroll-update.example/login"
    attachment = b"PK\x03\x04" + bytes(range(256)) * 8
    direct = phish(url, "payroll@payroll-update.example", "Action required: salary update", attachment)
    with open(os.path.join(dirname, "phish.eml"), "wb") as f:
        f.write(bytes(direct))
    # How a member forwards a suspect message: attached as message/rfc822.
    fwd = EmailMessage()
    fwd["From"] = "soc@northbank.example"
    fwd["To"] = "report@cisp.example"
    fwd["Subject"] = "Fwd: suspicious payroll mail"
    fwd.set_content("Reported by a colleague, see attached.")
    fwd.add_attachment(direct)
    with open(os.path.join(dirname, "forwarded.eml"), "wb") as f:
        f.write(bytes(fwd))
    expect["eml"] = {
        "observables": [
            "payroll@payroll-update.example",
            "payroll-desk@freemail.example",
            "bounce@mailer.payroll-update.example",
            "198.51.100.77",
            url,
            "salary_2026.xlsm",
            hashlib.sha256(attachment).hexdigest(),
            hashlib.sha1(attachment).hexdigest(),
            hashlib.md5(attachment).hexdigest(),
        ],
        "never": ["alice.victim@northbank.example", "10.20.0.5", "Dear Alice", "intranet.northbank.example"],
        "verdicts": "SPF=softfail, DKIM=none, DMARC=fail",
        "title": "Phishing e-mail: Action required: salary update",
    }


def fixtures(dirname):
    os.makedirs(dirname, exist_ok=True)
    expect = {}
    stix_fixture(os.path.join(dirname, "bundle.json"), expect)
    misp_fixture(os.path.join(dirname, "misp-event.json"), expect)
    eml_fixtures(dirname, expect)
    with open(os.path.join(dirname, "expect.json"), "w") as f:
        json.dump(expect, f, indent=2)


def validate_text(text):
    from stix2validator import validate_string, ValidationOptions

    results = validate_string(text, ValidationOptions(version="2.1", strict=False))
    problems = []
    # A bundle validates as one object; a file of several, as a list.
    for obj in getattr(results, "object_results", [results]):
        for e in obj.errors or []:
            problems.append(f"{obj.object_id}: {e}")
        for w in obj.warnings or []:
            print(f"warning: {obj.object_id}: {w}", file=sys.stderr)
    return results.is_valid, problems


def validate(path):
    with open(path) as f:
        ok, problems = validate_text(f.read())
    for p in problems:
        print(p, file=sys.stderr)
    print("valid" if ok else "INVALID")
    return 0 if ok else 1


def taxii(url, key, alerts_collection, member):
    from taxii2client.v21 import Server, Collection, as_pages
    import requests

    out = {}
    server = Server(url, user=member, password=key)
    out["title"] = server.title
    root = server.api_roots[0]
    out["collections"] = sorted(c.title for c in root.collections)
    coll = Collection(f"{root.url}collections/{alerts_collection}/", user=member, password=key)
    out["can_read"] = coll.can_read
    pages, objects, invalid = 0, 0, []
    reports = 0
    for envelope in as_pages(coll.get_objects, per_request=2):
        pages += 1
        objs = envelope.get("objects", [])
        objects += len(objs)
        reports += sum(1 for o in objs if o.get("type") == "report")
        if objs:
            ok, problems = validate_text(json.dumps({"type": "bundle", "id": "bundle--6a2d1c1e-0c1b-4f5e-9a3b-1c2d3e4f5a6b", "objects": objs}))
            if not ok:
                invalid.extend(problems)
        if pages > 50:
            break
    out.update(pages=pages, objects=objects, reports=reports, invalid=invalid)
    # added_after beyond the newest alert: nothing more.
    later = coll.get_objects(added_after="2100-01-01T00:00:00.000Z")
    out["after_2100"] = len(later.get("objects", []))
    # A collection id that is not this member's: refused.
    r = requests.get(f"{root.url}collections/00000000-0000-4000-8000-000000000000/objects/", auth=(member, key))
    out["foreign_collection_status"] = r.status_code
    r = requests.get(f"{root.url}collections/", auth=(member, "cisp_not_a_key"))
    out["bad_key_status"] = r.status_code
    print(json.dumps(out))
    return 0


def suricata(path):
    from suricataparser import parse_rule

    out, bad = [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            r = parse_rule(line)
            if r is None:
                bad.append(line)
            else:
                out.append({"sid": r.sid, "rev": r.rev, "msg": r.msg})
    for b in bad:
        print(f"not a rule: {b}", file=sys.stderr)
    print(json.dumps(out))
    return 1 if bad else 0


def misp_feed(dirname):
    from pymisp import MISPEvent

    with open(os.path.join(dirname, "manifest.json")) as f:
        manifest = json.load(f)
    values = []
    for uuid, summary in manifest.items():
        ev = MISPEvent()
        with open(os.path.join(dirname, f"{uuid}.json")) as f:
            ev.load(json.load(f))
        assert ev.uuid == uuid, (ev.uuid, uuid)
        assert ev.info == summary["info"]
        values.extend(a.value for a in ev.attributes)
    print(json.dumps({"events": len(manifest), "values": sorted(values)}))
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "fixtures":
        fixtures(argv[2])
        return 0
    if len(argv) >= 3 and argv[1] == "validate":
        return validate(argv[2])
    if len(argv) >= 3 and argv[1] == "suricata":
        return suricata(argv[2])
    if len(argv) >= 3 and argv[1] == "misp-feed":
        return misp_feed(argv[2])
    if len(argv) >= 6 and argv[1] == "taxii":
        return taxii(argv[2], argv[3], argv[4], argv[5])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
