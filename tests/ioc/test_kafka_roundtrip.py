"""A round trip through the real broker with the project's idempotent producer."""

from __future__ import annotations

import json

from ioc.kafka.clients import make_consumer, make_producer


def test_idempotent_producer_round_trip_keeps_keys_order_and_partitions(new_topic, kafka_bootstrap):
    topic = new_topic(partitions=3)
    producer = make_producer(kafka_bootstrap)
    assert producer.config["enable_idempotence"] is True
    assert producer.config["acks"] == -1  # "all"
    sent = {}
    for index in range(60):
        key = f"sensor-{index % 6}"
        metadata = producer.send(topic, key=key.encode(), value=json.dumps({"seq": index}).encode()).get(10)
        sent.setdefault(key, set()).add(metadata.partition)
    producer.flush()
    producer.close()
    # one key always lands on one partition
    assert all(len(partitions) == 1 for partitions in sent.values())

    consumer = make_consumer(kafka_bootstrap, topic, group_id=None, consumer_timeout_ms=5000)
    received = [(m.key.decode(), json.loads(m.value)["seq"], m.partition) for m in consumer]
    consumer.close()
    assert len(received) == 60
    assert sorted(seq for _, seq, _ in received) == list(range(60))
    by_key: dict[str, list[int]] = {}
    for key, seq, partition in received:
        assert partition in sent[key]
        by_key.setdefault(key, []).append(seq)
    assert all(seqs == sorted(seqs) for seqs in by_key.values()), "per-key order must hold"
