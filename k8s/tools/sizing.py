"""Storage growth per day of a province, from the simulator's real event sizes and rates.

Simulates one January weekday of all 13 prefectures (the ice-and-snow peak) with the production
overlay's settings and prints, per topic: records a day, bytes a day (the JSON values Kafka stores,
before compression), the partitions and retention from the catalogue, and the Kafka disk the topic
holds at full retention with the overlay's replication. The vision topics are sized from the
overlay's camera files: per camera and `counts_interval_s`, one counts event for the whole frame plus
one per zone, and one health heartbeat (vision/worker.py), at the sizes measured from the worker's
dry run (`ioc vision run --config vision/cameras.example.yaml --dry-run`: counts 521-539 bytes,
health 362-371 bytes as compact JSON). Figures are uncompressed upper bounds.

Usage: python -m k8s.tools.sizing [--overlay prod] [--date 2027-01-13]
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import UTC, datetime, timedelta

from feeds.sim import Simulator
from ioc.kafka.topics import catalogue
from k8s.tools.generate import OVERLAYS_DIR, camera_files, overlay_settings

COUNTS_EVENT_BYTES = 531   # mean vision.counts.v1 value of the dry run (21 events)
HEALTH_EVENT_BYTES = 366   # mean vision.health.v1 value of the dry run (8 events)


def feed_day(day: datetime) -> tuple[Counter[str], Counter[str]]:
    records: Counter[str] = Counter()
    size: Counter[str] = Counter()
    for record in Simulator(seed=7, start=day, end=day + timedelta(days=1), bad_fraction=0.0):
        records[record.topic] += 1
        size[record.topic] += len(record.value) + len(record.key or b"")
    return records, size


def vision_day(overlay_name: str) -> tuple[Counter[str], Counter[str]]:
    from vision.config import load_config

    records: Counter[str] = Counter()
    for path in camera_files(OVERLAYS_DIR / overlay_name):
        config = load_config(path, environ={})
        intervals = int(86_400 / config.analytics.counts_interval_s)
        for camera in config.cameras:
            records["vision.counts.v1"] += intervals * (1 + len(camera.zones))
            records["vision.health.v1"] += intervals
    size = Counter({"vision.counts.v1": records["vision.counts.v1"] * COUNTS_EVENT_BYTES,
                    "vision.health.v1": records["vision.health.v1"] * HEALTH_EVENT_BYTES})
    return records, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overlay", default="prod")
    parser.add_argument("--date", default="2027-01-13", help="A UTC day to simulate (default: a January weekday).")
    args = parser.parse_args()
    day = datetime.fromisoformat(args.date).replace(tzinfo=UTC)
    settings = overlay_settings(OVERLAYS_DIR / args.overlay)
    records, size = feed_day(day)
    vision_records, vision_size = vision_day(args.overlay)
    records.update(vision_records)
    size.update(vision_size)
    rf = settings.topics.replication_factor
    print(f"| topic | partitions | retention (days) | records/day | MB/day | Kafka GB at retention x{rf} |")
    print("|---|---|---|---|---|---|")
    total_day = total_kafka = 0.0
    for spec in sorted(catalogue(settings), key=lambda s: s.name):
        mb = size[spec.name] / 1e6
        days = spec.retention_hours / 24
        kafka_gb = mb * days * rf / 1e3 if not spec.compacted else mb * rf / 1e3
        total_day += mb
        total_kafka += kafka_gb
        print(f"| `{spec.name}` | {spec.partitions} | {days:g}{' (compacted)' if spec.compacted else ''} | "
              f"{records[spec.name]:,} | {mb:,.1f} | {kafka_gb:,.1f} |")
    print(f"| **total** | {sum(s.partitions for s in catalogue(settings))} | | {sum(records.values()):,} | "
          f"**{total_day:,.0f}** | **{total_kafka:,.0f}** |")


if __name__ == "__main__":
    main()
