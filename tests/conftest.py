"""Shared fixtures: one real Kafka broker and one real Spark session for the whole test session.

The broker runs on its own ports with its own state folder, so tests never touch the local stack;
each test that needs a topic gets a fresh name. Nothing here is a mock.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from ioc.kafka.broker import LocalBroker
from ioc.kafka.topics import TopicSpec, ensure_topics
from ioc.settings import Settings, load_settings
from tests.ports import free_port

# Property tests draw the same examples on every run ("ci", the default), so a red suite is a change's
# doing, never the luck of a draw. IOC_HYPOTHESIS_PROFILE=explore draws fresh examples each run: run it
# now and then (and with more examples, by editing a test's max_examples) to look for new failures.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, database=None, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("IOC_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ioc")


@pytest.fixture(scope="session")
def settings(session_dir: Path) -> Settings:
    """Settings for tests: defaults, test ports, and state under the session's temp folder."""
    return load_settings(
        environ={},
        kafka={"port": free_port(), "controller_port": free_port(),
               "state_dir": str(session_dir / "kafka")},
        lakehouse={"root": str(session_dir / "lakehouse"),
                   "checkpoint_root": str(session_dir / "checkpoints")},
    )


@pytest.fixture(scope="session")
def kafka_broker(settings: Settings) -> Iterator[LocalBroker]:
    broker = LocalBroker(settings.kafka)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: LocalBroker) -> str:
    return kafka_broker.bootstrap


@pytest.fixture
def new_topic(settings: Settings, kafka_bootstrap: str,
              request: pytest.FixtureRequest) -> Callable[..., str]:
    """Create a fresh topic named after the test; returns its name."""

    def create(partitions: int = 1, suffix: str = "") -> str:
        stem = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:60]
        name = f"t-{stem}{suffix}-{uuid.uuid4().hex[:8]}"
        spec = TopicSpec(name=name, description="test topic", key="any", partitions=partitions)
        ensure_topics(settings, [spec])
        return name

    return create


@pytest.fixture(scope="session")
def spark(settings: Settings):  # type: ignore[no-untyped-def]
    """One local Spark session (2 cores, Delta, Kafka source) shared by every test."""
    from ioc.spark import build_spark_session

    session = build_spark_session(settings.spark, "ioc-tests")
    yield session
    session.stop()
