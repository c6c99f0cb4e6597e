"""`lakehouse.gold_facts.states_of`: several views' stored partials in one scan, the same rows a narrowed
read per view gives (`view_with_state`, what the streaming job's loader made before), on real Spark; and
`lakehouse.gold_states.read_states`, the same rows read by the driver from a real Delta table (files
written by Spark and by the gold commit), or None where a deletion vector needs Spark's reader.

Views whose keys live in their struct column (segments, cameras) and one keyed by the envelope's city,
rows on a day asked for and on one not asked for, a view not asked for at all."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.catalog import AIR_CITY, GOLD_FACTS, TRAFFIC_SEGMENT, VISION_CAMERA, WATER_STATION
from lakehouse.frames import union_all
from lakehouse.gold_commit import GoldCommitter
from lakehouse.gold_facts import STATE, as_facts, read_facts, states_of, view_with_state
from lakehouse.gold_states import read_states
from lakehouse.tables import TableContract, ensure_tables

DAY = date(2026, 12, 1)
VIEWS = (TRAFFIC_SEGMENT, VISION_CAMERA, AIR_CITY, WATER_STATION)
KEYS = {TRAFFIC_SEGMENT.name: ("segment_id", "direction"), VISION_CAMERA.name: ("camera_id", "zone_id"),
        AIR_CITY.name: ("city_code",), WATER_STATION.name: ("station_id",)}


def _rows(spark: SparkSession, contract: TableContract) -> DataFrame:
    """Three rows of the view: two on DAY (different keys, grains), one the day after; `state` set."""
    by_type: dict[type, Any] = {T.StringType: "x", T.LongType: 7, T.IntegerType: 7, T.DoubleType: 1.5,
                                T.BooleanType: True}
    schema = T.StructType([*contract.schema().fields, T.StructField(STATE, T.StringType())])
    rows = []
    for serial, (start, grain) in enumerate([(datetime(2026, 12, 1, 8, 0, tzinfo=UTC), "5min"),
                                             (datetime(2026, 12, 1, 9, 0, tzinfo=UTC), "hour"),
                                             (datetime(2026, 12, 2, 0, 5, tzinfo=UTC), "5min")]):
        values = {"window_start": start, "window_end": start + timedelta(minutes=5), "window_date": start.date(),
                  "grain": grain, STATE: f'{{"n": {serial}}}', "updated_at": start}
        for field in schema.fields:
            if field.name not in values:
                values[field.name] = (f"{field.name}-{contract.name}-{serial}" if field.name in KEYS[contract.name]
                                      else by_type.get(type(field.dataType)))
        rows.append(tuple(values.get(field.name) for field in schema.fields))
    return spark.createDataFrame(rows, schema)


@pytest.fixture(scope="module")
def facts(spark: SparkSession) -> DataFrame:
    return union_all([as_facts(_rows(spark, contract), contract) for contract in VIEWS]).cache()


def _expected(facts: DataFrame, contract: TableContract, days: list[date]) -> set[tuple[Any, ...]]:
    """What the loader read per view before: `view_with_state` over the days, keys as strings."""
    view = view_with_state(facts.where(F.col("window_date").isin(days)), contract)
    return {(contract.name, row.grain, row.window_start, tuple(str(row[k]) for k in KEYS[contract.name]), row[STATE])
            for row in view.collect()}


def test_one_scan_gives_what_a_read_per_view_gave(facts: DataFrame) -> None:
    asked = [TRAFFIC_SEGMENT, VISION_CAMERA, AIR_CITY]  # not WATER_STATION
    got = {(row.view, row.grain, row.window_start, tuple(row.key), row[STATE])
           for row in states_of(facts, [(c, KEYS[c.name], [DAY]) for c in asked]).collect()}
    expected = set().union(*(_expected(facts, contract, [DAY]) for contract in asked))
    assert got == expected
    assert len(got) == 2 * len(asked)  # the day after and the view not asked for are left out
    assert ("traffic_segment", "hour", datetime(2026, 12, 1, 9, 0),
            ("segment_id-traffic_segment-1", "direction-traffic_segment-1"), '{"n": 1}') in got


def test_each_view_keeps_its_own_days(facts: DataFrame) -> None:
    wanted = [(TRAFFIC_SEGMENT, KEYS[TRAFFIC_SEGMENT.name], [DAY, DAY + timedelta(days=1)]),
              (WATER_STATION, KEYS[WATER_STATION.name], [DAY + timedelta(days=1)]), (AIR_CITY, KEYS[AIR_CITY.name], [])]
    got = {(row.view, row.window_start.date()) for row in states_of(facts, wanted).collect()}
    assert got == {("traffic_segment", DAY), ("traffic_segment", DAY + timedelta(days=1)),
                   ("water_station", DAY + timedelta(days=1))}


def test_nothing_asked_is_an_error(facts: DataFrame) -> None:
    with pytest.raises(ValueError, match="at least one view and day"):
        states_of(facts, [(AIR_CITY, KEYS[AIR_CITY.name], [])])


def _stored(spark: SparkSession, facts: DataFrame, root: str) -> None:
    """`facts` in a `gold.facts` table under `root`: DAY's files written by Spark, the next day's by the
    gold commit (the driver's files, `lakehouse.arrow_files`)."""
    ensure_tables(spark, root, [GOLD_FACTS])
    facts.where(F.col("window_date") == DAY).select(*GOLD_FACTS.schema().fieldNames()).write.format("delta") \
        .mode("append").save(GOLD_FACTS.path(root))
    later = [tuple(row) for row in facts.where(F.col("window_date") == DAY + timedelta(days=1))
             .select(*GOLD_FACTS.schema().fieldNames()).collect()]
    covered: dict[tuple[str, str], set[datetime]] = {}
    for row in later:
        named = dict(zip(GOLD_FACTS.schema().fieldNames(), row, strict=True))
        covered.setdefault((named["gold_table"], named["grain"]), set()).add(
            named["window_start"].replace(tzinfo=UTC))
    GoldCommitter(spark, root).replace(later, covered, "test", "test")


def _through_spark(spark: SparkSession, root: str, wanted: list[Any]) -> set[tuple[Any, ...]]:
    return {(row.view, row.grain, row.window_start.replace(tzinfo=UTC), tuple(row.key), row[STATE])
            for row in states_of(read_facts(spark, root), wanted).collect()}


def test_the_driver_reads_what_spark_reads(spark: SparkSession, facts: DataFrame, tmp_path: Path) -> None:
    root = str(tmp_path / "lakehouse")
    _stored(spark, facts, root)
    wanted = [(TRAFFIC_SEGMENT, KEYS[TRAFFIC_SEGMENT.name], [DAY, DAY + timedelta(days=1)]),
              (VISION_CAMERA, KEYS[VISION_CAMERA.name], [DAY + timedelta(days=1), DAY + timedelta(days=5)]),
              (AIR_CITY, KEYS[AIR_CITY.name], [DAY]), (WATER_STATION, KEYS[WATER_STATION.name], [])]
    read = read_states(spark, root, wanted)
    assert read is not None
    expected = _through_spark(spark, root, wanted)
    assert set(read) == expected and len(read) == len(expected) == 6  # segments 2 + 1, cameras 1, air 2
    assert ("vision_camera", "5min", datetime(2026, 12, 2, 0, 5, tzinfo=UTC),
            ("camera_id-vision_camera-2", "zone_id-vision_camera-2"), '{"n": 2}') in read  # a driver-written file
    assert read_states(spark, root, [(AIR_CITY, KEYS[AIR_CITY.name], [DAY + timedelta(days=9)])]) == []


def test_mapped_column_names_send_the_read_to_spark(spark: SparkSession, facts: DataFrame, tmp_path: Path) -> None:
    """Files whose columns a table maps by name are not read by their parquet names: Spark reads them."""
    root = str(tmp_path / "lakehouse")
    _stored(spark, facts, root)
    spark.sql(f"ALTER TABLE delta.`{GOLD_FACTS.path(root)}` SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name', "
              "'delta.minReaderVersion' = '2', 'delta.minWriterVersion' = '5')")
    wanted = [(AIR_CITY, KEYS[AIR_CITY.name], [DAY])]
    assert read_states(spark, root, wanted) is None
    assert {row[:2] for row in _through_spark(spark, root, wanted)} == {("air_city", "5min"), ("air_city", "hour")}


def test_deleted_rows_send_the_read_to_spark(spark: SparkSession, facts: DataFrame, tmp_path: Path) -> None:
    """A file whose rows a deletion vector masks (a retention job's DELETE on a table with deletion vectors)
    is not read by its parquet rows: Spark reads it, without the rows deleted."""
    root = str(tmp_path / "lakehouse")
    _stored(spark, facts, root)
    path = GOLD_FACTS.path(root)
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    spark.sql(f"OPTIMIZE delta.`{path}`")  # a partition's rows in one file: a DELETE of some leaves the file
    wanted = [(TRAFFIC_SEGMENT, KEYS[TRAFFIC_SEGMENT.name], [DAY]), (AIR_CITY, KEYS[AIR_CITY.name], [DAY])]
    before = read_states(spark, root, wanted)
    assert before is not None and len(before) == 4
    spark.sql(f"DELETE FROM delta.`{path}` WHERE gold_table = 'traffic_segment' AND grain = 'hour'")
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()[0]
    assert int(history.operationMetrics["numDeletionVectorsAdded"]) >= 1, "the DELETE left a deletion vector"
    assert read_states(spark, root, wanted) is None
    after = _through_spark(spark, root, wanted)
    assert after == set(before) - {row for row in before if row[:2] == ("traffic_segment", "hour")}
    assert len(after) == 3
