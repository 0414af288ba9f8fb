#!/usr/bin/env python3
"""A foreign subscriber of cdrflow's topics: plain confluent-kafka and the registry's Confluent API, no cdrflow code.

Reads each --topic TOPIC=N from the beginning (read_committed, as the README asks) until it holds N records, and prints
one JSON line per record: {"topic", "partition", "offset", "key", "schema_id", "value"}. Values are decoded from the
Confluent wire format (magic byte 0, 4-byte schema id, Avro binary) with the writer schema fetched by id; every id
must be registered under the topic's TopicNameStrategy subject `<topic>-value`, or the record is refused.
JSON rendering: timestamp-millis as ISO-8601 UTC with milliseconds ("…Z"), bytes as {"$bytes": base64}.
Exit 0 when every topic reached its count; 2 on a record that breaks the contract; 3 on timeout.
"""
import argparse
import base64
import datetime
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def to_json(v):
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_json(x) for x in v]
    return v


def subject_ids(registry, subject):
    """Every schema id registered under the subject (all versions); none when the subject does not exist."""
    try:
        return {registry.get_version(subject, v).schema_id for v in registry.get_versions(subject)}
    except SchemaRegistryError as err:
        if err.http_status_code == 404:
            return set()
        raise


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--registry", required=True, help="Confluent-compatible API root")
    ap.add_argument("--topic", action="append", required=True, metavar="TOPIC=N")
    ap.add_argument("--timeout", type=float, default=90.0)
    args = ap.parse_args()
    wanted = {}
    for spec in args.topic:
        name, _, n = spec.rpartition("=")
        wanted[name] = int(n)

    registry = SchemaRegistryClient({"url": args.registry})
    decode = AvroDeserializer(registry)
    ids = {t: subject_ids(registry, f"{t}-value") for t in wanted}
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": f"interop-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    consumer.subscribe(list(wanted))
    seen = {t: 0 for t in wanted}
    deadline = time.monotonic() + args.timeout
    try:
        while any(seen[t] < n for t, n in wanted.items()):
            if time.monotonic() > deadline:
                print(f"timeout: read {seen}, wanted {wanted}", file=sys.stderr)
                return 3
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise KafkaException(msg.error())
            topic, value = msg.topic(), msg.value()
            where = f"{topic}[{msg.partition()}]@{msg.offset()}"
            if value is None or len(value) < 5 or value[0] != 0:
                print(f"{where}: not the Confluent wire format (magic byte {value[:1].hex() if value else 'none'})", file=sys.stderr)
                return 2
            schema_id = int.from_bytes(value[1:5], "big")
            if schema_id not in ids[topic]:
                ids[topic] = subject_ids(registry, f"{topic}-value")  # a version registered since we started
                if schema_id not in ids[topic]:
                    print(f"{where}: schema id {schema_id} is not registered under subject {topic}-value", file=sys.stderr)
                    return 2
            record = decode(value, SerializationContext(topic, MessageField.VALUE))
            key = msg.key()
            print(json.dumps({
                "topic": topic,
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": key.decode("utf-8") if key is not None else None,
                "schema_id": schema_id,
                "value": to_json(record),
            }, ensure_ascii=False))
            seen[topic] += 1
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
