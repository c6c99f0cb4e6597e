"""The forecasts beat persistence on days training never saw (another simulator seed), and survive
being stored and read back."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from forecast.backtest import skill
from forecast.history import simulated_series
from forecast.model import TargetModel
from forecast.targets import AQI, SCENIC_VISITORS

SCORED_FROM = pd.Timestamp("2026-01-13", tz="UTC")


@pytest.fixture(scope="module")
def history() -> dict[str, dict[str, pd.DataFrame]]:
    """Ten training days (seed 1) and, with another seed, three scored days after two of context."""
    targets = [AQI, SCENIC_VISITORS]
    return {
        "train": simulated_series(1, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 11, tzinfo=UTC), targets),
        "test": simulated_series(2, datetime(2026, 1, 11, tzinfo=UTC), datetime(2026, 1, 16, tzinfo=UTC), targets),
    }


@pytest.fixture(scope="module")
def models(history: dict[str, dict[str, pd.DataFrame]]) -> dict[str, TargetModel]:
    return {target.name: TargetModel.train(target, history["train"][target.name], rounds=120)
            for target in (AQI, SCENIC_VISITORS)}


def _at(skills: list, minutes: int):  # type: ignore[no-untyped-def]
    return next(s for s in skills if s.horizon_minutes == minutes)


def persistence_model(model: TargetModel) -> TargetModel:
    """The same model with every horizon's booster replaced by one that forecasts no change."""
    class NoChange:
        def predict(self, x: np.ndarray, **params: object) -> np.ndarray:  # a Booster's signature
            return np.zeros(len(x))

    return TargetModel(model.target, model.subjects, dict.fromkeys(model.boosters, NoChange()),  # type: ignore[arg-type]
                       model.quantiles, model.trained_from, model.trained_until, model.rows)


@pytest.mark.parametrize(("name", "minutes", "gain"), [("aqi", 360, 0.2), ("scenic_visitors", 120, 0.2)])
def test_the_model_beats_persistence_where_a_persistence_forecast_could_not(
        history: dict[str, dict[str, pd.DataFrame]], models: dict[str, TargetModel], name: str, minutes: int,
        gain: float) -> None:
    series = history["test"][name]
    ours = _at(skill(models[name], series, SCORED_FROM), minutes)
    assert ours.n > 0
    assert ours.model_mae <= (1 - gain) * ours.persistence_mae, ours
    # the same assertion holds the model to something: a model that forecasts persistence fails it
    flat = _at(skill(persistence_model(models[name]), series, SCORED_FROM), minutes)
    assert flat.model_mae == pytest.approx(flat.persistence_mae, rel=0.02)
    assert not flat.model_mae <= (1 - gain) * flat.persistence_mae


def test_the_interval_covers_about_eighty_percent(history: dict[str, dict[str, pd.DataFrame]],
                                                   models: dict[str, TargetModel]) -> None:
    coverage = [s.coverage_80 for s in skill(models["aqi"], history["test"]["aqi"], SCORED_FROM)]
    assert all(0.6 <= c <= 0.95 for c in coverage), coverage  # three scored days: a loose band


def test_a_stored_model_forecasts_the_same(history: dict[str, dict[str, pd.DataFrame]],
                                           models: dict[str, TargetModel]) -> None:
    model = models["aqi"]
    manifest, boosters = model.artefact()
    again = TargetModel.from_artefact(manifest, boosters)
    issued = datetime(2026, 1, 14, 5, 30, tzinfo=UTC)
    first, second = model.forecast(history["test"]["aqi"], issued), again.forecast(history["test"]["aqi"], issued)
    pd.testing.assert_frame_equal(first, second)
    assert again.version == model.version and manifest["target"] == "aqi"
    # one row per city and horizon, from the last full hour before the issue, with an ordered interval
    assert len(first) == 13 * len(AQI.horizons)
    assert set(first["origin"]) == {pd.Timestamp("2026-01-14 05:00", tz="UTC")}
    assert sorted(first["horizon_minutes"].unique()) == [60, 120, 180, 240, 300, 360]
    assert (first["lower_80"] <= first["value"]).all() and (first["value"] <= first["upper_80"]).all()
    with pytest.raises(ValueError, match="another format"):
        TargetModel.from_artefact({**manifest, "format": 0}, boosters)


def test_too_little_history_says_how_much_there_is(history: dict[str, dict[str, pd.DataFrame]]) -> None:
    short = history["train"]["aqi"]
    short = short[short["window_start"] < short["window_start"].min() + pd.Timedelta(hours=10)]
    with pytest.raises(ValueError, match="too little history"):
        TargetModel.train(AQI, short)
