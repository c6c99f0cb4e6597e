"""End to end on the real broker: footage in, counts/incidents/health out, every record valid."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from contracts.topics import validate_record
from contracts.vision import CountsEvent, IncidentEvent
from ioc.kafka.clients import make_consumer
from tests.vision.conftest import make_config
from tests.vision.test_analytics import FOOTAGE_ZONES
from vision.sinks import KafkaSink
from vision.worker import VisionWorker


def read_all(bootstrap: str, topic: str, expected: int) -> list[tuple[str, dict]]:
    consumer = make_consumer(bootstrap, topic, consumer_timeout_ms=2000, group_id=None)
    out = []
    try:
        for message in consumer:
            out.append((message.key.decode(), json.loads(message.value)))
            if len(out) >= expected:
                break
    finally:
        consumer.close()
    return out


def test_events_reach_the_broker_and_follow_their_contracts(kafka_bootstrap: str, new_topic: Callable[..., str],
                                                            short_clip: Path, tmp_path: Path) -> None:
    topics = {"counts_topic": new_topic(suffix="-counts"), "incidents_topic": new_topic(suffix="-incidents"),
              "health_topic": new_topic(suffix="-health")}
    config = make_config(
        [{"id": "hrb-vtest", "city": "230100", "source": str(short_clip), "analytics_fps": 5, "realtime": False,
          "zones": FOOTAGE_ZONES}],
        tmp_path, output=topics, analytics={"counts_interval_s": 5.0, "intrusion_min_s": 0.5},
        runtime={"inference_thread": "on"})  # the GPU nodes' mode: inference overlaps analytics
    sink = KafkaSink(kafka_bootstrap)
    worker = VisionWorker(config, sink)
    stats = worker.run()  # starts, runs until the file ends
    assert worker.pipelined
    worker.stop()
    sink.close()
    assert stats.frames == 60 and sink.errors == 0

    by_topic = {name: read_all(kafka_bootstrap, topic, 10_000) for name, topic in topics.items()}
    contract = {"counts_topic": "vision.counts.v1", "incidents_topic": "vision.incidents.v1",
                "health_topic": "vision.health.v1"}
    for name, records in by_topic.items():
        assert records, f"nothing on {name}"
        for key, record in records:
            assert key == "hrb-vtest"
            event = validate_record(contract[name], record)
            assert event.city_code == "230100" and event.worker_id == "vision-test"
    counts = [validate_record("vision.counts.v1", r) for _, r in by_topic["counts_topic"]]
    assert all(isinstance(c, CountsEvent) for c in counts)
    assert {c.zone_id for c in counts} == {None, "east-line", "kerb", "walkway"}
    assert sum(c.frames for c in counts if c.zone_id is None) == 60
    incidents = [validate_record("vision.incidents.v1", r) for _, r in by_topic["incidents_topic"]]
    kinds = Counter((i.kind, i.state) for i in incidents if isinstance(i, IncidentEvent))
    assert kinds[("intrusion", "open")] >= 1 and kinds[("loitering", "open")] >= 1
    assert kinds[("intrusion", "open")] == kinds[("intrusion", "close")]  # stop() closes what is open
    states = [r["state"] for _, r in by_topic["health_topic"]]
    assert states[0] == "online" and states[-1] == "offline"
    assert by_topic["health_topic"][-1][1]["reason"] == "end_of_stream"
    assert by_topic["health_topic"][-1][1]["provider"] == "CPUExecutionProvider"
