"""`ioc feeds ...` end to end against the session broker: backfill and live runs, contracts check."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from contracts.quality import FUTURE_TOLERANCE
from feeds.sim import COUNTED_LABELS, Ledger
from ioc.settings import Settings
from tests.feeds.sim.test_publish import read_all


def _env(settings: Settings) -> dict[str, str]:
    return {"IOC_KAFKA__PORT": str(settings.kafka.port),
            "IOC_KAFKA__CONTROLLER_PORT": str(settings.kafka.controller_port)}


@pytest.mark.parametrize("generator", ["--no-generator-process", "--generator-process"])
def test_backfill_with_bad_input_writes_a_ledger(
        settings: Settings, kafka_bootstrap: str, tmp_path: Path, generator: str) -> None:
    suffix = f"-{uuid.uuid4().hex[:8]}"
    ledger_path = tmp_path / "ledger.jsonl"
    result = CliRunner().invoke(cli, [
        "feeds", "simulate", "--mode", "backfill", "--start", "2026-01-10T06:00:00+00:00",
        "--end", "2026-01-10T08:00:00+00:00", "--domains", "environment,security,tourism",
        "--bad-fraction", "0.1", "--seed", "4", "--topic-prefix", "t-cli-", "--topic-suffix", suffix,
        "--ledger", str(ledger_path), generator], env=_env(settings))
    assert result.exit_code == 0, result.output
    assert "done:" in result.output and "labels:" in result.output
    ledger = Ledger.load(ledger_path)
    assert ledger.meta["seed"] == 4 and ledger.meta["mode"] == "backfill"
    assert {t.removeprefix("t-cli-").removesuffix(suffix) for t in ledger.topics()} == {
        "environment.air.v1", "environment.river.v1", "environment.water.v1", "security.incidents.v1",
        "security.cameras.v1", "tourism.gates.v1", "tourism.bookings.v1"}
    assert ledger.bad_records()


def test_live_mode_replays_a_day_and_never_sends_good_events_early(
        settings: Settings, kafka_bootstrap: str, tmp_path: Path) -> None:
    suffix = f"-{uuid.uuid4().hex[:8]}"
    ledger_path = tmp_path / "live.jsonl"
    result = CliRunner().invoke(cli, [
        "feeds", "simulate", "--mode", "live", "--duration", "4", "--speedup", "5400",
        "--domains", "environment", "--topic-prefix", "t-live-", "--topic-suffix", suffix,
        "--bad-fraction", "0.05", "--ledger", str(ledger_path)], env=_env(settings))
    assert result.exit_code == 0, result.output
    ledger = Ledger.load(ledger_path)
    assert len(ledger.entries) > 100  # 6 simulated hours of hourly stations
    found = read_all(kafka_bootstrap, ledger.topics(), len(ledger.entries))
    assert set(found) == set(ledger.by_coordinates())
    for coordinates, entry in ledger.by_coordinates().items():
        _, value, timestamp_ms = found[coordinates]
        observed = datetime.fromisoformat(json.loads(value)["observed_at"]) if entry.label != "invalid_json" else None
        sent = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        if entry.label in COUNTED_LABELS:
            assert observed is not None and observed <= sent + timedelta(seconds=1)
        if entry.label == "future":
            assert observed is not None and observed - sent > FUTURE_TOLERANCE


def test_contracts_check_and_reference() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["feeds", "contracts", "export", "--check"]).exit_code == 0
    result = runner.invoke(cli, ["feeds", "reference"])
    assert result.exit_code == 0 and "13 prefectures" in result.output


def test_bad_times_fail_with_a_clear_message(settings: Settings) -> None:
    result = CliRunner().invoke(cli, ["feeds", "simulate", "--start", "yesterday"], env=_env(settings))
    assert result.exit_code == 1 and "not an ISO-8601 time" in result.output
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    result = CliRunner().invoke(cli, ["feeds", "simulate", "--end", future], env=_env(settings))
    assert result.exit_code == 1 and "after now" in result.output


def test_an_outage_rehearsed_is_stamped_when_simulated_and_kept_within_retention(
        settings: Settings, kafka_bootstrap: str, tmp_path: Path) -> None:
    suffix = f"-{uuid.uuid4().hex[:8]}"
    ledger_path = tmp_path / "outage.jsonl"
    result = CliRunner().invoke(cli, [
        "feeds", "simulate", "--hours", "3", "--domains", "environment", "--topic-prefix", "t-outage-",
        "--topic-suffix", suffix, "--sent-when-simulated", "--ledger", str(ledger_path)], env=_env(settings))
    assert result.exit_code == 0, result.output
    ledger = Ledger.load(ledger_path)
    assert ledger.meta["sent_when_simulated"] is True
    found = read_all(kafka_bootstrap, ledger.topics(), len(ledger.entries))
    stamps = sorted(datetime.fromtimestamp(timestamp_ms / 1000, UTC) for _, _, timestamp_ms in found.values())
    assert stamps[-1] - stamps[0] >= timedelta(hours=2), "sent over the simulated hours, not all at once"
    for _, value, timestamp_ms in found.values():  # each good reading sent in its own simulated minute
        observed = datetime.fromisoformat(json.loads(value)["observed_at"])
        assert timedelta(0) <= datetime.fromtimestamp(timestamp_ms / 1000, UTC) - observed < timedelta(minutes=10)

    too_old = (datetime.now(UTC) - timedelta(days=8)).isoformat()
    result = CliRunner().invoke(cli, ["feeds", "simulate", "--start", too_old, "--sent-when-simulated"],
                                env=_env(settings))
    assert result.exit_code == 1 and "more than 6 days ago" in result.output
    result = CliRunner().invoke(cli, ["feeds", "simulate", "--mode", "live", "--sent-when-simulated"],
                                env=_env(settings))
    assert result.exit_code == 1 and "stamps a backfill" in result.output
