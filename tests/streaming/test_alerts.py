"""Alert rules and the open/update/close life cycle, as pure functions (no Spark)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ioc.exceptions import ConfigError
from streaming.alerts import AlertRule, Reading, change_event, decide, load_rules

T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def rules() -> dict[str, AlertRule]:
    return {rule.id: rule for rule in load_rules()}


@pytest.mark.parametrize(
    ("rule_id", "value", "rank"),
    [
        ("air.city_aqi", 200, 0), ("air.city_aqi", 201, 3), ("air.city_aqi", 300, 3), ("air.city_aqi", 301, 4),
        ("traffic.expressway_tpi", 5.99, 0), ("traffic.expressway_tpi", 6.0, 2), ("traffic.expressway_tpi", 8.0, 4),
        ("tourism.scenic_load", 0.79, 0), ("tourism.scenic_load", 0.80, 2), ("tourism.scenic_load", 0.95, 3),
        ("tourism.scenic_load", 1.0, 4), ("environment.water_class", 5, 0), ("environment.water_class", 6, 3),
        ("environment.river_level", -0.1, 0), ("environment.river_level", 0.0, 3),
        ("environment.river_level", 1.2, 4), ("air.city_aqi", None, 0),
        ("vision.crowd_density", 1.9, 0), ("vision.crowd_density", 2.0, 2), ("vision.crowd_density", 6.5, 4),
    ],
)
def test_rule_levels_follow_configured_thresholds(rules, rule_id, value, rank):
    assert rules[rule_id].rank(value) == rank


def _reading(rule: AlertRule, value: float, minutes: int) -> Reading:
    return Reading(rule, "230100", "Harbin", "230100", T0 + timedelta(minutes=minutes), value)


def test_open_escalate_refresh_close_and_reopen(rules):
    rule = rules["air.city_aqi"]
    opened = decide([_reading(rule, 250, 0)], {}, NOW)
    assert [(c["change"], c["level"], c["colour"], c["version"]) for c in opened] == [("open", "II", "orange", 1)]
    alert = opened[0]
    assert alert["alert_id"] == "air.city_aqi:230100:20260105T0800"
    assert "AQI 250" in alert["message_en"] and "哈尔滨" in alert["message_zh"]

    open_alerts = {("air.city_aqi", "230100"): alert}
    escalated = decide([_reading(rule, 320, 60)], open_alerts, NOW)[0]
    assert (escalated["change"], escalated["level"], escalated["version"], escalated["alert_id"]) == (
        "escalate", "I", 2, alert["alert_id"])
    refreshed = decide([_reading(rule, 330, 120)], {("air.city_aqi", "230100"): escalated}, NOW)[0]
    assert (refreshed["change"], refreshed["version"], refreshed["value"]) == ("update", 2, 330)
    stale = decide([_reading(rule, 100, 30)], {("air.city_aqi", "230100"): refreshed}, NOW)
    assert stale == [], "a window older than the alert's last one never closes it"
    closed = decide([_reading(rule, 90, 180)], {("air.city_aqi", "230100"): refreshed}, NOW)[0]
    assert (closed["change"], closed["state"], closed["version"]) == ("close", "closed", 3)
    assert closed["closed_at"] == T0 + timedelta(minutes=180)
    reopened = decide([_reading(rule, 210, 240)], {}, NOW)[0]
    assert reopened["alert_id"] != alert["alert_id"] and reopened["change"] == "open"
    event = change_event(closed)
    assert event["alert_id"] == alert["alert_id"] and event["validTo"] and event["severity"] == "red"
    assert decide([_reading(rule, 50, 0)], {}, NOW) == [], "no level, no alert"


def test_invalid_rules_file_fails_with_what_is_wrong(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[[rule]]\nid = "air.city_aqi"\ndomain = "environment"\ntable = "gold.nowhere"\n'
                    'grain = "hour"\nsubject_type = "city"\nsubject = "city_code"\nname = "city_name_en"\n'
                    'value = "aqi"\nthresholds = { purple = 1 }\nmessage_en = "x"\nmessage_zh = "x"\n')
    with pytest.raises(ConfigError, match="invalid") as caught:
        load_rules(path)
    assert "gold.nowhere" in str(caught.value) and "purple" in str(caught.value)


def test_an_alert_kafka_refuses_fails_the_batch_before_it_is_recorded(rules, spark, kafka_bootstrap, new_topic,
                                                                      tmp_path):
    """A send the broker never acknowledged raises, and the alerts table is not written: the replay of
    the micro-batch publishes the alert again instead of recording it as sent."""
    from kafka.admin import ConfigResource, ConfigResourceType

    from ioc.exceptions import AlertPublishError
    from ioc.kafka.clients import make_producer
    from ioc.kafka.topics import admin_client
    from lakehouse.catalog import ALERTS
    from streaming.alerts import apply_changes

    [opened] = decide([_reading(rules["air.city_aqi"], 320.0, 0)], {}, NOW)
    topic = new_topic()
    # a real broker that refuses the record: the topic takes no message over 64 bytes, so the send's
    # future fails after the producer's retries, asynchronously, as a broker-side refusal does
    admin = admin_client(kafka_bootstrap, 30_000)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": "64"})])
    finally:
        admin.close()
    def apply_through(topic: str, **producer_options: object) -> int:
        """`apply_changes` publishing through a real producer of the session broker."""
        producer = make_producer(kafka_bootstrap, **producer_options)
        try:
            return apply_changes(spark, str(tmp_path), [opened],
                                 lambda key, value: producer.send(topic, key=key.encode(), value=value))
        finally:
            producer.close()

    with pytest.raises(AlertPublishError, match="1 of 1 alert changes were not acknowledged"):
        apply_through(topic)
    # and one the client refuses before it leaves the process
    with pytest.raises(AlertPublishError, match="MessageSizeTooLargeError"):
        apply_through(topic, max_request_size=64)
    assert not any(tmp_path.rglob("*.parquet")), "nothing recorded for an alert Kafka never took"

    from lakehouse.tables import ensure_tables

    ensure_tables(spark, str(tmp_path), [ALERTS])
    assert apply_through(new_topic(suffix="-ok")) == 1
    assert spark.read.format("delta").load(ALERTS.path(str(tmp_path))).count() == 1
