#!/usr/bin/env python3
"""Real-world intake corpus: files as the producers members use write them.

  realworld.py corpus DIR   write the corpus into DIR, and DIR/corpus.json:
                            per file, its format, the upload arguments, and
                            what intake must take, must never publish, and
                            must report

Every file is made at test time by the producer's own library — MISP's
STIX exporter (`misp-stix`), CIRCL's `pymisp`, OASIS `stix2`, Python's
`email` package and `csv` module — so the shapes are theirs, not our
guess of them, and no third-party file lives in this repository.
"""
import csv
import io
import json
import os
import sys
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime

DATE = format_datetime(datetime(2026, 7, 1, 8, 59, 0, tzinfo=timezone.utc))
SHA = "ab" * 32


def entry(name, fmt, **kw):
    e = {"file": name, "format": fmt, "args": [], "taken": [], "never": [],
         "notes": [], "roles": {}, "refused": None, "submissions": 1}
    e.update(kw)
    return e


# ---------------------------------------------------------------- STIX


def misp_event_for_stix():
    from pymisp import MISPEvent

    ev = MISPEvent()
    ev.info = "Payroll phishing infrastructure (exported by MISP)"
    ev.add_tag("tlp:amber")
    add = ev.add_attribute
    add("domain|ip", "login-update.example|203.0.113.7", category="Network activity", to_ids=True)
    add("ip-dst|port", "198.51.100.9|8443", category="Network activity", to_ids=True)
    add("filename|sha256", f"invoice.exe|{SHA}", category="Payload delivery", to_ids=True)
    add("hostname|port", "c2.payroll-update.example|443", category="Network activity", to_ids=True)
    add("email-src", "billing@payroll-update.example", category="Payload delivery", to_ids=True)
    add("url", "https://payroll-update.example/login", category="Network activity", to_ids=True)
    add("domain|ip", "cdn.payroll-update.example|192.0.2.44", category="Network activity", to_ids=True)
    return ev


def stix_from_misp(d, out):
    from misp_stix_converter import MISPtoSTIX21Parser

    parser = MISPtoSTIX21Parser()
    parser.parse_misp_event(json.loads(misp_event_for_stix().to_json()))
    with open(os.path.join(d, "stix-from-misp.json"), "w") as f:
        f.write(parser.bundle.serialize(pretty=True))
    out.append(entry(
        "stix-from-misp.json", "stix",
        taken=["login-update.example", "203.0.113.7", "198.51.100.9", "invoice.exe", SHA,
               "c2.payroll-update.example", "billing@payroll-update.example",
               "https://payroll-update.example/login", "cdn.payroll-update.example", "192.0.2.44"],
        tlp="TLP:AMBER"))


def stix_attack(d, out):
    import stix2

    def technique(name, tid, **kw):
        return stix2.AttackPattern(
            name=name, allow_custom=True,
            external_references=[{"source_name": "mitre-attack", "external_id": tid}], **kw)

    current = technique("Phishing", "T1566")
    deprecated = technique("Scripting", "T1064", x_mitre_deprecated=True)
    replacement = technique("PowerShell", "T1059.001")
    revoked = technique("PowerShell (old)", "T1086", revoked=True)
    revoked_by = stix2.Relationship(revoked, "revoked-by", replacement)
    tools = [stix2.Tool(name="Mimikatz"), stix2.Tool(name="PsExec")]
    actor = stix2.IntrusionSet(name="FIN-Payroll")
    # More malware families than one submission may name (50).
    families = [stix2.Malware(name=f"loader-{i:02d}", is_family=True) for i in range(55)]
    ind = stix2.Indicator(pattern="[domain-name:value = 'payroll-update.example']",
                          pattern_type="stix", valid_from="2026-07-01T00:00:00Z")
    objs = [current, deprecated, replacement, revoked, revoked_by, *tools, actor, *families, ind]
    bundle = json.loads(stix2.Bundle(*objs, allow_custom=True).serialize())
    # A pattern our reader cannot take costs that indicator, not the bundle.
    bundle["objects"].append({
        "type": "indicator", "spec_version": "2.1",
        "id": "indicator--1f6c2f5e-0d7e-4c4e-9e55-6f2b8a7e3c11",
        "created": "2026-07-01T00:00:00.000Z", "modified": "2026-07-01T00:00:00.000Z",
        "pattern": "[file:name = 'a.exe'] REPEATS", "pattern_type": "stix",
        "valid_from": "2026-07-01T00:00:00Z"})
    with open(os.path.join(d, "stix-attack.json"), "w") as f:
        json.dump(bundle, f, indent=1)
    out.append(entry(
        "stix-attack.json", "stix", args=["--tlp", "green"],
        taken=["payroll-update.example"],
        malware=["Mimikatz", "PsExec"], ttps=["T1566", "T1059.001"], no_ttps=["T1064", "T1086"],
        notes=["deprecated in ATT&CK", "is revoked: its replacement", "over the limit of 50",
               "pattern", "not read"],
        tlp="TLP:GREEN"))


def stix_clear(d, out):
    import stix2

    ind = stix2.Indicator(pattern="[ipv4-addr:value = '203.0.113.99']", pattern_type="stix",
                          valid_from="2026-07-01T00:00:00Z",
                          object_marking_refs=[stix2.TLP_WHITE])
    with open(os.path.join(d, "stix-tlp-clear.json"), "w") as f:
        f.write(stix2.Bundle(ind).serialize())
    # Uploaded without --tlp: the default (AMBER to the sector) holds.
    out.append(entry("stix-tlp-clear.json", "stix", taken=["203.0.113.99"],
                     tlp="TLP:AMBER", scope="sector", notes=["default TLP:AMBER applies"]))


# ---------------------------------------------------------------- MISP


def misp_events(d, out):
    from pymisp import MISPEvent, MISPObject

    # A phishing and DGA list under "Network activity": not C2.
    ev = MISPEvent()
    ev.info = "Phishing landing pages and DGA domains"
    ev.add_tag("tlp:green")
    ev.add_attribute("domain", "secure-login-update.example", category="Network activity",
                     to_ids=True, comment="phishing landing page")
    ev.add_attribute("domain", "qxzvbkw.example", category="Network activity", to_ids=True,
                     comment="DGA")
    ev.add_attribute("ip-dst", "198.51.100.200", category="Network activity", to_ids=True,
                     comment="C2 server")
    ev.add_attribute("ip-src", "203.0.113.250", category="Network activity", to_ids=True,
                     comment="scanner")
    o = MISPObject("domain-ip", standalone=False)
    o.add_attribute("domain", value="beacon.example", to_ids=True)
    o.comment = "Cobalt Strike C2"
    ev.add_object(o)
    with open(os.path.join(d, "misp-network-activity.json"), "w") as f:
        f.write(ev.to_json(indent=1))
    out.append(entry(
        "misp-network-activity.json", "misp", args=["--tlp", "green"],
        taken=["secure-login-update.example", "qxzvbkw.example", "198.51.100.200",
               "203.0.113.250", "beacon.example"],
        roles={"secure-login-update.example": "PAYLOAD_DELIVERY", "qxzvbkw.example": None,
               "198.51.100.200": "C2", "203.0.113.250": "SCANNER", "beacon.example": "C2"}))

    # MISP's search API output: {"response": [{"Event": …}, …]}.
    evs = []
    for i, (dom, ip) in enumerate([("wave-one.example", "198.51.100.31"),
                                   ("wave-two.example", "198.51.100.32")]):
        e = MISPEvent()
        e.info = f"Search result event {i + 1}"
        e.add_tag("tlp:green")
        e.add_attribute("domain", dom, category="Network activity", to_ids=True)
        e.add_attribute("ip-dst", ip, category="Network activity", to_ids=True)
        evs.append(json.loads(e.to_json()))
    with open(os.path.join(d, "misp-search.json"), "w") as f:
        json.dump({"response": evs}, f, indent=1)
    out.append(entry("misp-search.json", "misp", args=["--tlp", "green"], submissions=2,
                     taken=["wave-one.example", "198.51.100.31", "wave-two.example",
                            "198.51.100.32"]))

    # An event larger than one submission: published in parts, never cut.
    big = MISPEvent()
    big.info = "Scanner feed, one week"
    big.add_tag("tlp:green")
    for i in range(4244):
        big.add_attribute("ip-src", f"203.{i // 256 % 256}.{i % 256}.{7 + i // 65536}",
                          category="Network activity", to_ids=True)
    with open(os.path.join(d, "misp-large.json"), "w") as f:
        f.write(big.to_json())
    out.append(entry("misp-large.json", "misp", args=["--tlp", "green"], submissions=5,
                     observables=4244, taken=["203.0.0.7", "203.16.147.7"],
                     notes=["published as 5 parts"]))

    # Tagged tlp:clear, uploaded without --tlp.
    clear = MISPEvent()
    clear.info = "Public blocklist"
    clear.distribution = 3
    clear.add_tag("tlp:clear")
    clear.add_attribute("domain", "public-block.example", category="Network activity", to_ids=True)
    with open(os.path.join(d, "misp-tlp-clear.json"), "w") as f:
        f.write(clear.to_json())
    out.append(entry("misp-tlp-clear.json", "misp", taken=["public-block.example"],
                     tlp="TLP:AMBER", scope="sector", notes=["default TLP:AMBER applies"]))


# ---------------------------------------------------------------- CSV


def vendor_csv(d, out):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["type", "indicator", "classification", "detected_date", "vendor_score"])
    w.writerow(["ip", "198.51.100.71", "c2", "2026-07-01", "90"])
    w.writerow(["hostname", "update-check.example", "phishing", "2026-07-01T10:00:00Z", "75"])
    w.writerow(["md5", "0f343b0931126a20f133d67c2b018a3b", "malware", "2026-07-02", "60"])
    w.writerow(["ipv4-addr", "203.0.113.72", "scanner", "2026-07-02", "40"])
    w.writerow(["url", "hxxps://update-check[.]example/a.php", "phishing", "2026-07-02", "80"])
    with open(os.path.join(d, "vendor.csv"), "w", newline="") as f:
        f.write(buf.getvalue())
    out.append(entry(
        "vendor.csv", "csv", args=["--tlp", "green"],
        taken=["198.51.100.71", "update-check.example", "0f343b0931126a20f133d67c2b018a3b",
               "203.0.113.72", "https://update-check.example/a.php"],
        roles={"198.51.100.71": "C2", "update-check.example": "PAYLOAD_DELIVERY",
               "203.0.113.72": "SCANNER"},
        notes=["vendor_score"]))


# ---------------------------------------------------------------- e-mail


def base_phish(body_html=None, text=None, **headers):
    m = EmailMessage()
    m["Return-Path"] = headers.pop("return_path", "<bounce@mailer.payroll-update.example>")
    m["Received"] = headers.pop(
        "received",
        "from mailer.payroll-update.example (mailer.payroll-update.example [198.51.100.77])"
        " by mx1.northbank.example (Postfix) with ESMTPS id 4Q; Tue, 01 Jul 2026 08:59:10 +0000")
    m["From"] = headers.pop("sender", "Payroll Team <payroll@payroll-update.example>")
    if "reply_to" in headers:
        m["Reply-To"] = headers.pop("reply_to")
    m["To"] = headers.pop("to", "alice.victim@northbank.example")
    m["Subject"] = headers.pop("subject", "Action required: salary update")
    m["Date"] = DATE
    m.set_content(text or "Please confirm your salary details: https://payroll-update.example/login\n")
    if body_html:
        m.add_alternative(body_html, subtype="html")
    return m


def emails(d, out):
    def write(name, msg_bytes, **kw):
        with open(os.path.join(d, name), "wb") as f:
            f.write(msg_bytes)
        out.append(entry(name, "eml", **kw))

    # Multipart without its closing boundary (mail clients and gateways cut
    # them): the quoted-printable HTML is still decoded, not hashed.
    html = ('<html><body><p>Dear customer,</p><p><a href="https://payroll-update.example/'
            'verify?id=7&amp;s=1">Verify</a> Brand\u00ae</p></body></html>')
    m = base_phish(body_html=html)
    raw = m.as_bytes(policy=policy.SMTP)
    boundary = m.get_boundary().encode()
    cut = raw.replace(b"--" + boundary + b"--", b"")
    assert cut != raw
    write("eml-no-closing-boundary.eml", cut,
          taken=["payroll@payroll-update.example", "https://payroll-update.example/verify?id=7&s=1",
                 "https://payroll-update.example/login"],
          never_substr=["=3D", "=C2", "%3D"], no_kinds=["sha256", "md5", "sha1"])

    # Reply-To is the victim's own address.
    m = base_phish(reply_to="alice.victim@northbank.example")
    write("eml-reply-to-victim.eml", m.as_bytes(policy=policy.SMTP),
          taken=["payroll@payroll-update.example"], never=["alice.victim@northbank.example"])

    # Sextortion: From and To are the victim.
    m = base_phish(sender="alice.victim@northbank.example",
                   subject="I know your password",
                   text="Pay 0.1 BTC. Details: https://pay-now.example/btc\n")
    write("eml-sextortion.eml", m.as_bytes(policy=policy.SMTP),
          taken=["https://pay-now.example/btc", "198.51.100.77"],
          never=["alice.victim@northbank.example"])

    # Fwd: Fwd: — the phish, forwarded (attached) by Alice to Bob, who
    # forwarded that (attached) to the SOC, who uploads it.
    phish = base_phish()
    fwd1 = MIMEMultipart()
    fwd1["From"] = "Alice Victim <alice.victim@northbank.example>"
    fwd1["To"] = "bob.colleague@northbank.example"
    fwd1["Subject"] = "Fwd: Action required: salary update"
    fwd1["Date"] = DATE
    fwd1.attach(MIMEText("Is this real?"))
    fwd1.attach(MIMEMessage(phish))
    fwd2 = MIMEMultipart()
    fwd2["From"] = "Bob Colleague <bob.colleague@northbank.example>"
    fwd2["Reply-To"] = "bob.private@freemail.example"
    fwd2["To"] = "soc@northbank.example"
    fwd2["Subject"] = "Fwd: Fwd: Action required: salary update"
    fwd2["Date"] = DATE
    fwd2.attach(MIMEText("Forwarding, see attached."))
    fwd2.attach(MIMEMessage(fwd1))
    write("eml-fwd-fwd.eml", fwd2.as_bytes(),
          taken=["payroll@payroll-update.example", "https://payroll-update.example/login"],
          never=["alice.victim@northbank.example", "bob.colleague@northbank.example",
                 "bob.private@freemail.example"])

    # Forwarded inline (no attachment) by a colleague: her address is the
    # member's own domain (registry `domains`), never a sender.
    m = EmailMessage()
    m["From"] = "Carol Staff <carol.staff@northbank.example>"
    m["To"] = "soc@northbank.example"
    m["Subject"] = "Fwd: Action required: salary update"
    m["Date"] = DATE
    m.set_content("FYI\n\n---------- Forwarded message ---------\n"
                  "From: Payroll Team <payroll@payroll-update.example>\n"
                  "Subject: Action required: salary update\n\n"
                  "Confirm at https://payroll-update.example/inline\n")
    write("eml-inline-forward.eml", m.as_bytes(policy=policy.SMTP),
          taken=["https://payroll-update.example/inline", "payroll@payroll-update.example"],
          never=["carol.staff@northbank.example", "soc@northbank.example"],
          notes=["own domains"])

    # Space-defanged link in the text.
    m = base_phish(text="Login at hxxps://www .payroll-update .example/sso now.\n")
    write("eml-space-defanged.eml", m.as_bytes(policy=policy.SMTP),
          taken=["https://www.payroll-update.example/sso"], never=["https://www/"])

    # A multicast address in a Received header, and the member's own
    # MAILER-DAEMON as Return-Path (a bounce the member's own system made).
    m = base_phish(
        return_path="<MAILER-DAEMON@mx1.northbank.example>",
        received="from mailer.payroll-update.example ([224.0.0.251]) by mx1.northbank.example;"
                 " Tue, 01 Jul 2026 08:59:10 +0000")
    write("eml-multicast-mailerdaemon.eml", m.as_bytes(policy=policy.SMTP),
          taken=["payroll@payroll-update.example"],
          never=["224.0.0.251", "mailer-daemon@mx1.northbank.example",
                 "MAILER-DAEMON@mx1.northbank.example"])

    # A body labelled windows-1252 but written in UTF-8.
    m = EmailMessage()
    m["From"] = "Brand <news@brand-promo.example>"
    m["To"] = "alice.victim@northbank.example"
    m["Subject"] = "Offer"
    m["Date"] = DATE
    m["MIME-Version"] = "1.0"
    m["Content-Type"] = 'text/plain; charset="windows-1252"'
    m["Content-Transfer-Encoding"] = "8bit"
    body = "Offer: https://brand-promo.example/\u00aeoffer\n".encode("utf-8")
    raw = m.as_bytes(policy=policy.SMTP).rstrip(b"\r\n") + b"\r\n\r\n" + body
    write("eml-mislabelled-charset.eml", raw,
          taken=["https://brand-promo.example/%C2%AEoffer"], never_substr=["%C3%82"])


def corpus(d):
    os.makedirs(d, exist_ok=True)
    out = []
    stix_from_misp(d, out)
    stix_attack(d, out)
    stix_clear(d, out)
    misp_events(d, out)
    vendor_csv(d, out)
    emails(d, out)
    with open(os.path.join(d, "corpus.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(f"{len(out)} files in {d}")


def main(argv):
    if len(argv) >= 3 and argv[1] == "corpus":
        corpus(argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
