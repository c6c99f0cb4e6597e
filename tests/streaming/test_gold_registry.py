"""The gold registry: every gold view is declared once, with its input, in dependency order (no Spark)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.topics import EVENT_CONTRACTS
from lakehouse.catalog import CITY_OPERATIONS, GOLD_VIEWS, TRAFFIC_CITY, TRAFFIC_SEGMENT
from streaming.gold import traffic
from streaming.gold.registry import DERIVED, GOLD_BY_TOPIC, GOLD_REGISTRY, ROLLUPS, GoldView, derive_rows


def test_every_gold_view_but_fusion_is_registered_once_with_a_silver_topic() -> None:
    names = [view.name for view in GOLD_REGISTRY]
    assert len(names) == len(set(names))
    assert set(names) == set(GOLD_VIEWS) - {CITY_OPERATIONS.qualified_name}
    assert all(view.topic in EVENT_CONTRACTS for view in GOLD_REGISTRY)
    assert len(ROLLUPS) == sum(len(pairs) for pairs in GOLD_BY_TOPIC.values()) == len(GOLD_REGISTRY) - len(DERIVED)


def test_a_derived_view_follows_the_view_it_rolls_up_on_the_same_topic() -> None:
    order = [view.name for view in GOLD_REGISTRY]
    for view in DERIVED:
        assert view.derived_from is not None
        base = view.derived_from.qualified_name
        assert order.index(base) < order.index(view.name)
        assert next(v for v in GOLD_REGISTRY if v.name == base).topic == view.topic
    assert [view.name for view in DERIVED] == [TRAFFIC_CITY.qualified_name]


def test_a_view_declares_exactly_one_input() -> None:
    with pytest.raises(ValueError, match="not both"):
        GoldView(TRAFFIC_CITY, "traffic.flow.v1")
    with pytest.raises(ValueError, match="not both"):
        GoldView(TRAFFIC_CITY, "traffic.flow.v1", traffic.SEGMENTS, derived_from=TRAFFIC_SEGMENT,
                 derive=traffic.cities, derive_rows=traffic.city_rows)
    with pytest.raises(ValueError, match="not both"):  # a roll-up needs its Python twin too
        GoldView(TRAFFIC_CITY, "traffic.flow.v1", derived_from=TRAFFIC_SEGMENT, derive=traffic.cities)


def test_derive_rows_rolls_up_only_what_was_built() -> None:
    assert derive_rows({}) == {}
    assert derive_rows({"gold.air_city": []}) == {}
    segment = {name: None for name in TRAFFIC_SEGMENT.column_names()}
    segment.update(grain="5min", city_code="230100", road_class="expressway", records=3,
                   avg_speed_kmh=Decimal("60.0"), tpi=2.0)
    derived = derive_rows({TRAFFIC_SEGMENT.qualified_name: [segment]})
    assert set(derived) == {TRAFFIC_CITY.qualified_name}
    assert derived[TRAFFIC_CITY.qualified_name] == traffic.city_rows([segment])
