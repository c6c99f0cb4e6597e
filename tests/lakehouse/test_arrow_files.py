"""Data files written from an Arrow table by the driver (`lakehouse.arrow_files`) and committed through
Delta's transaction read back exactly as the same rows appended through Spark's own writer, carry the
statistics Delta's writer gives them (or none, never narrower ones), and a table that needs Spark's writer
is refused and written through Spark instead."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from py4j.protocol import Py4JError, Py4JJavaError
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lakehouse import arrow_files, transactions
from lakehouse.catalog import ALERTS, GOLD_FACTS, SILVER_EVENTS
from lakehouse.frames import arrow_table, frame_of_arrow
from lakehouse.tables import ensure_table
from lakehouse.writes import append_table_once, commit_tag, newest_commit

COLUMNS = ("p_text STRING, p_day DATE, id BIGINT, n INT, x DOUBLE, s STRING, at TIMESTAMP, d DATE, flag BOOLEAN, "
           "raw BINARY, nested STRUCT<a: BIGINT, b: STRING, c: STRUCT<t: TIMESTAMP>>, tags ARRAY<STRING>")
PARTITIONS = ("p_text", "p_day")
LONG = "長い文字列-" + "x" * 40  # longer than the 32 characters a string statistic keeps
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
AT = datetime(2026, 12, 1, 8, 30, 15, 123_456, tzinfo=UTC)


def _rows() -> list[tuple[Any, ...]]:
    """Rows at the edges of every type, over partition values Spark must escape, an empty one and a
    missing one."""
    day = date(2026, 12, 1)
    return [
        ("a/b=c%d:é ?#", day, 1, 0, 0.0, "", AT, day, True, b"\x00", (1, "x", (AT,)), ["a"]),
        ("a/b=c%d:é ?#", day, 2, -(2 ** 31), -0.0, LONG, AT + timedelta(microseconds=1), date(1, 1, 1), False, b"",
         None, None),
        ("a/b=c%d:é ?#", day, -(2 ** 63), 2 ** 31 - 1, 1e308, "z" * 32, EARLIEST, date(9999, 12, 31), None, None,
         (None, None, None), []),
        ("plain", day, 2 ** 63 - 1, None, float("nan"), "m", LATEST, None, True, b"\xff", (5, LONG, (None,)), [None]),
        ("plain", day, 5, 7, float("inf"), None, None, day, True, None, (6, "b", (EARLIEST,)), ["b", "c"]),
        ("plain", date(1, 1, 1), 6, 8, -1.5, "ü", AT, day, None, None, None, None),
        ("", day, 7, 9, 2.5, "e", AT, day, False, None, (7, "c", (LATEST,)), None),  # "" is a null partition
        (None, None, 8, 10, None, "f", None, None, None, None, None, None),
        ("plain", date(9999, 12, 31), 9, None, None, None, None, None, None, None, (None, "q", (AT,)), ["d"]),
        ("long", day, 10, 11, 3.5, LONG, AT, day, True, None, (8, LONG, (AT,)), None),
    ]


def _schema(spark: SparkSession) -> T.StructType:
    return T._parse_datatype_string(COLUMNS)  # type: ignore[attr-defined, no-any-return]


def _create(spark: SparkSession, path: str, columns: str = COLUMNS, extra: str = "") -> None:
    spark.sql(f"CREATE TABLE delta.`{path}` ({columns}) USING DELTA PARTITIONED BY (p_text, p_day) "
              f"TBLPROPERTIES ('delta.dataSkippingNumIndexedCols' = '32'{extra})")


def _files(path: str) -> list[dict[str, Any]]:
    """The `add` actions of every commit in the table's log."""
    adds = []
    for commit in sorted(Path(path, "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                adds.append(action["add"])
    return adds


def _by_the_driver(path: str, add: dict[str, Any]) -> bool:
    """Whether a data file was written by pyarrow (the driver) rather than Spark."""
    return pq.read_metadata(Path(path) / unquote(add["path"])).created_by.startswith("parquet-cpp")


def _by_partition(path: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    files: dict[tuple[Any, ...], dict[str, Any]] = {}
    for add in _files(path):
        key = (add["partitionValues"]["p_text"], add["partitionValues"]["p_day"])
        assert key not in files, f"two files for partition {key}"
        files[key] = json.loads(add["stats"])
    return files


def _flat(stats: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for name, value in stats.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


@pytest.fixture(scope="module")
def written(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The same rows appended by Spark's writer (one task: one file per partition) and by the driver."""
    root = tmp_path_factory.mktemp("arrow-files")
    by_spark, by_driver = str(root / "by-spark"), str(root / "by-driver")
    schema = _schema(spark)
    table = arrow_table(_rows(), schema)
    for path in (by_spark, by_driver):
        _create(spark, path)
    frame_of_arrow(spark, table, schema, partitions=1).write.format("delta").mode("append").save(by_spark)
    txn = transactions.start(spark, by_driver)
    transactions.commit_append(spark, txn, arrow_files.write_files(spark, txn, table, schema), "driver@0")
    return by_spark, by_driver


def test_the_rows_read_back_as_sparks_own_append_of_them(spark: SparkSession, written: tuple[str, str]) -> None:
    by_spark, by_driver = (spark.read.format("delta").load(path) for path in written)
    assert by_driver.count() == len(_rows())
    assert by_spark.exceptAll(by_driver).count() == 0
    assert by_driver.exceptAll(by_spark).count() == 0
    # and the partition columns come back as Spark stores them: "" and None both null
    assert sorted(map(repr, by_driver.select("p_text").distinct().collect())) == sorted(
        map(repr, by_spark.select("p_text").distinct().collect()))


def test_filters_on_every_column_find_the_same_rows(spark: SparkSession, written: tuple[str, str]) -> None:
    """Data skipping reads the statistics: a statistic narrower than its file's rows would drop rows."""
    filters = ["id = 2", "id < 0", "id > 9", "n = -2147483648", "n IS NULL", "x > 1e300", "x < 0", "isnan(x)",
               f"s = '{LONG}'", "s >= 'zzz'", "s = ''", "s IS NULL", f"at = '{AT.isoformat()}'",
               "at < '0002-01-01'", "at > '9999-12-31 23:59:59.999'", "at = '2026-12-01 08:30:15.123457'",
               "d = '0001-01-01'", "d IS NULL", "nested.a = 6", "nested.a IS NULL", "nested.b = 'q'",
               f"nested.b = '{LONG}'", "nested.c.t < '0002-01-01'", "nested.c.t IS NOT NULL", "nested IS NULL",
               "p_text IS NULL", "p_text = 'a/b=c%d:é ?#'", "p_day = '0001-01-01'", "flag", "raw IS NULL"]
    by_spark, by_driver = (spark.read.format("delta").load(path) for path in written)
    for condition in filters:
        expected = sorted(row.id for row in by_spark.where(condition).select("id").collect())
        assert sorted(row.id for row in by_driver.where(condition).select("id").collect()) == expected, condition


def test_statistics_are_deltas_own_or_left_out(written: tuple[str, str]) -> None:
    by_spark, by_driver = (_by_partition(path) for path in written)
    assert by_driver.keys() == by_spark.keys()
    for partition, theirs in by_spark.items():
        ours = by_driver[partition]
        assert ours["numRecords"] == theirs["numRecords"]
        assert _flat(ours["nullCount"]) == _flat(theirs["nullCount"]), partition
        for side in ("minValues", "maxValues"):
            mine, delta = _flat(ours[side]), _flat(theirs.get(side, {}))
            assert mine.keys() <= delta.keys(), (partition, side, mine.keys() - delta.keys())
            for column, value in mine.items():
                if column in ("at", "nested.c.t") and side == "maxValues":  # ours rounded up to the millisecond
                    assert delta[column] <= value, (partition, column)
                else:
                    assert value == delta[column], (partition, side, column)
    # what is left out is only what the module says it leaves out
    assert "x" not in _flat(by_driver[("plain", "2026-12-01")]["maxValues"])  # NaN, infinity
    long = by_driver[("long", "2026-12-01")]
    assert _flat(long["minValues"])["nested.b"] == _flat(long["minValues"])["s"] == LONG[:32]
    assert "s" not in long["maxValues"] and "b" not in long["maxValues"]["nested"]  # over 32 characters


def test_statistics_hold_every_row_of_their_file(written: tuple[str, str]) -> None:
    """Whatever Delta does: each file's minimum and maximum bound its rows, its null counts are exact."""
    rows_by_partition: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in _rows():
        text = None if row[0] in ("", None) else row[0]
        rows_by_partition.setdefault((text, None if row[1] is None else row[1].isoformat()), []).append(row)
    for partition, stats in _by_partition(written[1]).items():
        rows = rows_by_partition[partition]
        columns = {"id": [row[2] for row in rows], "n": [row[3] for row in rows], "s": [row[5] for row in rows],
                   "at": [row[6] for row in rows], "d": [row[7] for row in rows],
                   "nested.c.t": [row[10][2][0] if row[10] is not None and row[10][2] is not None else None
                                  for row in rows]}
        low_of, high_of, nulls = (_flat(stats[side]) for side in ("minValues", "maxValues", "nullCount"))
        for name, values in columns.items():
            present = [_comparable(v) for v in values if v is not None]
            assert nulls[name] == len(values) - len(present), (partition, name)
            low, high = _comparable(low_of.get(name), name), _comparable(high_of.get(name), name)
            assert low is None or all(low <= value for value in present), (partition, name)
            assert high is None or all(value <= high for value in present), (partition, name)


def _comparable(value: Any, name: str = "") -> Any:
    """A row's value or a statistic, in one ordering: instants as UTC datetimes, dates as ISO text."""
    if isinstance(value, str) and name in ("at", "nested.c.t"):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, date):
        return value.isoformat()
    return value


def test_the_lakehouses_streaming_tables_take_files_from_the_driver(spark: SparkSession, tmp_path: Path) -> None:
    for contract in (SILVER_EVENTS, GOLD_FACTS, ALERTS):
        ensure_table(spark, str(tmp_path), contract)
        described = arrow_files.layout(spark, transactions.start(spark, contract.path(str(tmp_path))),
                                       contract.schema())
        assert described.partition_columns == contract.partitioned_by
        assert len(described.indexed) == 8  # the session's default for new tables


@pytest.mark.parametrize(("columns", "extra", "then"), [
    (COLUMNS.replace("id BIGINT", "id BIGINT NOT NULL"), "", None),
    (COLUMNS, "", "ALTER TABLE delta.`{path}` ADD CONSTRAINT positive CHECK (id > 0)"),
    (COLUMNS, ", 'delta.columnMapping.mode' = 'name', 'delta.minReaderVersion' = '2', 'delta.minWriterVersion' = '5'",
     None),
    (COLUMNS.replace("tags ARRAY<STRING>", "tags ARRAY<STRING>, added STRING"), "", None),
    (COLUMNS.replace("n INT", "n INT GENERATED ALWAYS AS (CAST(id AS INT))"), "", None),
])
def test_a_table_that_needs_sparks_writer_is_refused_and_written_by_spark(
        spark: SparkSession, tmp_path: Path, columns: str, extra: str, then: str | None) -> None:
    path = str(tmp_path / "table")
    _create(spark, path, columns, extra)
    if then:
        spark.sql(then.format(path=path))
    schema = _schema(spark)
    rows = [row for row in _rows() if row[2] is not None and row[2] > 0 and row[3] is not None]
    table = arrow_table(rows, schema)
    txn = transactions.start(spark, path)
    with pytest.raises(arrow_files.Unsupported):
        arrow_files.write_files(spark, txn, table, schema)
    if "added" in columns or "GENERATED" in columns:
        return  # Spark's append of these rows is refused by Spark itself (another schema, a generated column)
    transactions.commit_append(spark, txn, transactions.write_table(spark, txn, table, schema, partitions=1), "x@1")
    assert spark.read.format("delta").load(path).count() == len(rows)
    assert not any(_by_the_driver(path, add) for add in _files(path))
    if then:  # and Spark's writer enforces what the table asks
        bad = arrow_table([(*rows[0][:2], -1, *rows[0][3:])], schema)
        txn = transactions.start(spark, path)
        with pytest.raises(Py4JJavaError, match=r"(?i)constraint|CHECK"):
            transactions.write_table(spark, txn, bad, schema, partitions=1)


def test_an_arrow_append_is_tagged_carries_its_metadata_and_is_skipped_when_replayed(
        spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "table")
    _create(spark, path)
    schema = _schema(spark)
    table = arrow_table(_rows(), schema)
    assert append_table_once(spark, table, schema, path, "app", 3, may_be_replay=True, metadata={"frontier": 1})
    assert not append_table_once(spark, table, schema, path, "app", 3, may_be_replay=True, metadata={"frontier": 1})
    # an empty append still commits: the metadata must land with the batch even when it has no rows
    assert append_table_once(spark, table.slice(0, 0), schema, path, "app", 4, may_be_replay=False,
                             metadata={"frontier": 2})
    assert spark.read.format("delta").load(path).count() == len(_rows())
    assert newest_commit(spark, path, "app", 5) == (4, {"frontier": 2})
    assert newest_commit(spark, path, "app", 4) == (3, {"frontier": 1})
    assert all(_by_the_driver(path, add) for add in _files(path))
    assert commit_tag("app", 3) == "app@3"


def test_when_deltas_transaction_api_moved_an_arrow_append_goes_through_spark(
        spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "table")
    _create(spark, path)
    schema = _schema(spark)

    def moved(*args: object) -> object:
        raise Py4JError("org.apache.spark.sql.delta.DeltaLog.forTable does not exist in the JVM")

    monkeypatch.setattr(transactions, "start", moved)
    assert append_table_once(spark, arrow_table(_rows(), schema), schema, path, "moved", 1, may_be_replay=False,
                             metadata={"k": 1})
    assert spark.read.format("delta").load(path).count() == len(_rows())
    assert newest_commit(spark, path, "moved", 2) == (1, {"k": 1})


def test_a_file_for_another_file_system_goes_through_hadoop(spark: SparkSession, tmp_path: Path) -> None:
    """S3 and the like are written by the JVM's Hadoop file system: the same bytes land."""
    rows = pa.table({"a": [1, 2, None], "b": ["x", None, "z"]})
    location = f"file://{tmp_path}/deep/er/file.parquet"
    size = arrow_files._write_parquet(spark, rows, location, through_hadoop=True)
    written = tmp_path / "deep" / "er" / "file.parquet"
    assert written.stat().st_size == size
    assert pq.read_table(written).to_pydict() == rows.to_pydict()
    assert pq.read_metadata(written).metadata[b"org.apache.spark.version"] == spark.version.encode()


def test_rows_in_another_layout_are_refused_before_anything_is_written(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "table")
    _create(spark, path)
    schema = _schema(spark)
    table = arrow_table(_rows(), schema)
    wrong = table.set_column(2, "id", table.column("id").cast(pa.int32(), safe=False))
    txn = transactions.start(spark, path)
    with pytest.raises(ValueError, match="Arrow layout"):
        arrow_files.write_files(spark, txn, wrong, schema)
    assert arrow_files.write_files(spark, txn, table.slice(0, 0), schema) == []  # no rows: no file
    assert not list(Path(path).glob("**/*.parquet"))


@pytest.mark.parametrize("run", [1, 3, 40], ids=["mixed", "short-runs", "long-runs"])
def test_each_partition_holds_its_values_rows_in_the_tables_order(run: int) -> None:
    """Rows mixed (copied in order of value) or in runs of a value (sliced): each value's rows, in order."""
    values = [("a", 1), (None, 1), ("", 1), ("b", None), ("a", 2), (None, None), ("a", 1)]
    rows = [values[(serial // run * 5) % len(values)] for serial in range(400)]
    table = pa.table({"serial": list(range(400)), "p": [p for p, _ in rows], "q": pa.array([q for _, q in rows])})
    table = pa.Table.from_batches(table.to_batches(max_chunksize=70))  # runs across chunks
    parts = list(arrow_files._partitions(table, ("p", "q")))
    assert sorted(map(tuple, (key for key, _ in parts)), key=repr) == sorted(set(rows), key=repr)
    for (p, q), part in parts:
        expected = [serial for serial, (rp, rq) in enumerate(rows) if (rp, rq) == (p, q)]
        assert part.column_names == ["serial"] and part.column("serial").to_pylist() == expected, (p, q)
    (single,) = arrow_files._partitions(table.filter(pc.equal(table["p"], "b")), ("p",))
    assert single[0] == ["b"] and single[1].column("serial").to_pylist() == [
        serial for serial, (rp, _) in enumerate(rows) if rp == "b"]
    assert list(arrow_files._partitions(table.slice(0, 0), ("p",))) == []


def test_a_files_struct_null_in_all_its_rows_is_left_out_and_read_back_null(
        spark: SparkSession, written: tuple[str, str]) -> None:
    """The struct null in every row of a file is not written into it (its statistics still count its
    nulls); Delta reads it back as null, filters on its fields included."""
    by_spark, by_driver = written
    lacking = [add for add in _files(by_driver)
               if "nested" not in pq.read_schema(Path(by_driver) / unquote(add["path"])).names]
    assert sorted(map(repr, (add["partitionValues"] for add in lacking))) == sorted(map(repr, [
        {"p_text": None, "p_day": None}, {"p_text": "plain", "p_day": "0001-01-01"}]))
    assert all("tags" in pq.read_schema(Path(by_driver) / unquote(add["path"])).names  # a list is kept
               for add in _files(by_driver))
    assert all(_flat(json.loads(add["stats"])["nullCount"])["nested.c.t"] == 1 for add in lacking)
    ours, theirs = (spark.read.format("delta").load(path) for path in (by_driver, by_spark))
    assert [tuple(row) for row in ours.where("p_text IS NULL AND p_day IS NULL").select("id", "nested").collect()] \
        == [(8, None)]
    for condition in ("nested IS NULL", "nested.a IS NULL", "nested.c.t IS NULL", "nested.b = 'q' OR id = 6"):
        assert sorted(ours.where(condition).select("id").collect()) \
            == sorted(theirs.where(condition).select("id").collect()), condition


def test_a_table_of_null_structs_only_keeps_its_columns() -> None:
    kind = pa.struct([("a", pa.int64())])
    only_structs = pa.table({"x": pa.nulls(3, kind), "y": pa.nulls(3, kind)})
    assert arrow_files._file_columns(only_structs).column_names == ["x", "y"]
    mixed = pa.table({"x": pa.nulls(3, kind), "y": pa.array([None, {"a": 1}, None], kind), "z": pa.nulls(3)})
    assert arrow_files._file_columns(mixed).column_names == ["y", "z"]


def test_a_tables_changed_settings_change_its_layout(spark: SparkSession, tmp_path: Path) -> None:
    """The layout kept for a table's metadata is not the one used once its settings change."""
    path = str(tmp_path / "table")
    _create(spark, path)
    schema = _schema(spark)
    assert len(arrow_files.layout(spark, transactions.start(spark, path), schema).indexed) == 12  # every leaf
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.dataSkippingNumIndexedCols' = '2')")
    assert arrow_files.layout(spark, transactions.start(spark, path), schema).indexed == (("id",), ("n",))
    spark.sql(f"ALTER TABLE delta.`{path}` ADD CONSTRAINT positive CHECK (id > 0)")
    with pytest.raises(arrow_files.Unsupported, match=r"delta\.constraints\.positive"):
        arrow_files.layout(spark, transactions.start(spark, path), schema)


def test_a_driver_written_append_names_no_jvm_class_by_search(
        spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting the transaction, writing the files and committing them ask py4j to find no class by its
    dotted name (each such name costs the JVM a search of every jar per dot, `ioc.jvm`)."""
    path = str(tmp_path / "table")
    _create(spark, path)
    schema = _schema(spark)
    table = arrow_table(_rows(), schema)
    client: Any = spark._jvm._gateway_client  # type: ignore[union-attr]
    sent: list[str] = []
    send = client.send_command

    def recorded(command: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(command)
        return send(command, *args, **kwargs)

    monkeypatch.setattr(client, "send_command", recorded)
    txn = transactions.start(spark, path)
    version = transactions.commit_append(spark, txn, transactions.write_table(spark, txn, table, schema), "app@1")
    monkeypatch.undo()
    assert version == 1
    assert spark.read.format("delta").load(path).count() == len(_rows())
    assert all(_by_the_driver(path, add) for add in _files(path))
    calls = [command for command in sent if command.startswith("c\n")]
    searches = [command for command in sent if command.startswith("r\nu\n")]
    assert len(calls) > 5 and searches == []


@pytest.mark.parametrize("metadata", [
    "{}", '{"metaData": null}', '{"metaData": {}}', '{"metaData": {"schemaString": "not json"}}',
    '{"metaData": {"schemaString": "{\\"type\\": \\"struct\\", \\"fields\\": []}", "configuration": "x"}}',
    '{"metaData": {"schemaString": "{\\"type\\": \\"struct\\", \\"fields\\": []}", "partitionColumns": ["p"]}}',
])
def test_metadata_in_another_form_leaves_the_write_to_spark(metadata: str) -> None:
    """A `metaData` action this module does not read as Delta 4 writes it (another Delta, a partition
    column the schema lacks) refuses the driver's write; Spark's writer then takes it."""
    with pytest.raises(arrow_files.Unsupported):
        arrow_files._checked(metadata, "struct<>")
