#!/usr/bin/env python3
"""Interop check with implementations no one here wrote.

Encodes a Submission from schemas/*.avsc with fastavro (Avro single-object
encoding, fingerprint computed by fastavro), publishes it with
confluent-kafka on the member's topic, waits for the alert the fusion
service sends that member, checks the alert's single-object header against
fastavro's own fingerprint of Alert.avsc, decodes it with fastavro, and
prints the decoded alert as JSON on stdout. With --retract, it then
withdraws the submission with a Correction record fastavro writes (issue
22), so the other side can check the revocation that follows.

Exit codes: 0 alert received and decoded; 1 timeout or mismatch.
"""
import argparse
import io
import json
import sys
import time

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form
from confluent_kafka import Consumer, Producer, TopicPartition


def load_schemas(folder):
    named = {}
    parsed = {}
    for name in ["Observable", "Submission", "Alert", "Correction"]:
        with open(f"{folder}/{name}.avsc", encoding="utf-8") as f:
            parsed[name] = parse_schema(json.load(f), named_schemas=named)
    return named, parsed


def expand_first_use(schema, named, seen):
    """Inline each named type where it is first used, refer to it by name
    after that: how the Avro specification resolves names and how Java's
    SchemaNormalization prints them. (fastavro's expand_schema inlines every
    use, which defines a name twice when a schema uses it twice, as Alert
    does with Tlp.)"""
    if isinstance(schema, str):
        if schema in named and schema not in seen:
            return expand_first_use(named[schema], named, seen)
        return schema
    if isinstance(schema, list):
        return [expand_first_use(s, named, seen) for s in schema]
    out = dict(schema)
    t = schema.get("type")
    if t in ("record", "error", "enum", "fixed"):
        seen.add(schema["name"])
    if t in ("record", "error"):
        out["fields"] = [dict(f, type=expand_first_use(f["type"], named, seen)) for f in schema["fields"]]
    elif t == "array":
        out["items"] = expand_first_use(schema["items"], named, seen)
    elif t == "map":
        out["values"] = expand_first_use(schema["values"], named, seen)
    elif isinstance(t, (dict, list)) or (isinstance(t, str) and t in named):
        out["type"] = expand_first_use(t, named, seen)
    return out


def single_object_header(schema, named):
    pcf = to_parsing_canonical_form(expand_first_use(schema, named, set()))
    fp = fingerprint(pcf, "CRC-64-AVRO")
    return b"\xc3\x01" + bytes.fromhex(fp), fp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--member", required=True)
    ap.add_argument("--submission-id", required=True)
    ap.add_argument("--domain", required=True)
    ap.add_argument("--submitted-at", type=int, default=None,
                    help="ms since the epoch (default: now); submissions link only within the engine's window")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--sasl-username", help="SCRAM-SHA-512 user (the member itself)")
    ap.add_argument("--sasl-password-file", help="file holding that user's password")
    ap.add_argument("--retract", action="store_true",
                    help="after the alert, withdraw the submission with a Correction record")
    a = ap.parse_args()

    named, parsed = load_schemas(a.schemas)
    sub_header, sub_fp = single_object_header(parsed["Submission"], named)
    alert_header, alert_fp = single_object_header(parsed["Alert"], named)
    correction_header, correction_fp = single_object_header(parsed["Correction"], named)

    record = {
        "submission_id": a.submission_id,
        "member_id": a.member,
        "submitted_at": a.submitted_at if a.submitted_at is not None else int(time.time() * 1000),
        "kind": "INCIDENT",
        "tlp": "GREEN",
        "distribution": {"scope": "COMMUNITY", "members": [], "groups": []},
        "attribution": "ATTRIBUTED",
        "title": "Seen from a Python member system",
        "description": None,
        "observables": [
            {"type": "DOMAIN", "value": a.domain.upper().replace(".", "[.]"), "role": "C2",
             "first_seen": None, "last_seen": None, "confidence": 75},
        ],
        "ttps": [],
        "malware": [],
        "actor_claims": [],
        "targeted_sectors": [],
        "confidence": 70,
    }
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parsed["Submission"], record)
    payload = sub_header + body.getvalue()

    topic_in = f"{a.prefix}.submissions.{a.member}"
    topic_out = f"{a.prefix}.alerts.{a.member}"
    auth = {}
    if a.sasl_username:
        with open(a.sasl_password_file) as f:
            password = f.read().rstrip("\r\n")
        auth = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": a.sasl_username, "sasl.password": password}
    consumer = Consumer({"bootstrap.servers": a.brokers, "group.id": f"interop-{a.submission_id}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, **auth})
    md = consumer.list_topics(topic_out, timeout=10)
    parts = [TopicPartition(topic_out, p, 0) for p in md.topics[topic_out].partitions]
    consumer.assign(parts)

    producer = Producer({"bootstrap.servers": a.brokers, "enable.idempotence": True, **auth})
    errors = []
    producer.produce(topic_in, key=a.submission_id.encode(), value=payload,
                     on_delivery=lambda err, msg: errors.append(err) if err else None)
    producer.flush(30)
    if errors:
        print(f"delivery failed: {errors}", file=sys.stderr)
        return 1

    deadline = time.time() + a.timeout
    while time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        raw = msg.value()
        if raw[:10] != alert_header:
            print(f"alert header {raw[:10].hex()} != fastavro's {alert_header.hex()}", file=sys.stderr)
            return 1
        alert = fastavro.schemaless_reader(io.BytesIO(raw[10:]), parsed["Alert"], parsed["Alert"])
        if a.submission_id not in alert["your_submission_ids"]:
            continue
        as_ms = lambda o: int(o.timestamp() * 1000)  # fastavro decodes timestamp-millis to datetime
        if a.retract:
            body = io.BytesIO()
            fastavro.schemaless_writer(body, parsed["Correction"], {
                "correction_id": f"{a.submission_id}-RETRACT",
                "member_id": a.member,
                "submission_id": a.submission_id,
                "corrected_at": int(time.time() * 1000),
                "retract": True,
                "remove_observables": [],
                "tlp": None,
                "distribution": None,
                "reason": "sent from the wrong system",
            })
            producer.produce(topic_in, key=f"{a.submission_id}-RETRACT".encode(),
                             value=correction_header + body.getvalue(),
                             on_delivery=lambda err, msg: errors.append(err) if err else None)
            producer.flush(30)
            if errors:
                print(f"delivery failed: {errors}", file=sys.stderr)
                return 1
        print(json.dumps({"alert": alert, "submission_fingerprint": sub_fp, "alert_fingerprint": alert_fp,
                          "correction_fingerprint": correction_fp}, default=as_ms))
        return 0
    print("no alert within the timeout", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
