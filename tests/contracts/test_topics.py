"""The feeds' topics join the project catalogue with names, keys and contracts that agree."""

from __future__ import annotations

import re

from contracts.topics import DOMAINS, FEED_CONTRACTS, FEED_TOPICS, base_topic, topic_specs
from ioc.kafka.topics import catalogue
from ioc.settings import Settings


def test_one_topic_per_contract_named_domain_kind_version() -> None:
    assert [s.name for s in FEED_TOPICS] == list(FEED_CONTRACTS)
    for spec in FEED_TOPICS:
        assert re.fullmatch(r"(traffic|tourism|environment|security)\.[a-z]+\.v1", spec.name)
        assert spec.schema == FEED_CONTRACTS[spec.name].__name__
        assert spec.key.startswith("source_id")
    assert sorted(t for topics in DOMAINS.values() for t in topics) == sorted(FEED_CONTRACTS)


def test_camera_registry_is_compacted_and_nothing_else_is() -> None:
    assert {s.name for s in FEED_TOPICS if s.compacted} == {"security.cameras.v1"}


def test_catalogue_includes_the_feeds(settings: Settings) -> None:
    names = {spec.name for spec in catalogue(settings)}
    assert set(FEED_CONTRACTS) <= names


def test_renamed_specs_for_isolated_runs() -> None:
    specs = topic_specs("t-", "-x1", ["environment.air.v1"])
    assert [s.name for s in specs] == ["t-environment.air.v1-x1"]
    assert base_topic("t-environment.air.v1-x1", "t-", "-x1") == "environment.air.v1"
