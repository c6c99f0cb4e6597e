"""Structured Streaming reads a real topic with the Kafka source and writes a real Delta table."""

from __future__ import annotations

import json

from pyspark.sql import functions as F
from pyspark.sql import types as T

from ioc.kafka.clients import make_producer

PAYLOAD = T.StructType([
    T.StructField("city_code", T.StringType()),
    T.StructField("pm25", T.DoubleType()),
])


def _produce(bootstrap: str, topic: str, values: list[dict]) -> None:
    producer = make_producer(bootstrap)
    for value in values:
        producer.send(topic, key=value["city_code"].encode(), value=json.dumps(value).encode())
    producer.flush()
    producer.close()


def _run_once(spark, bootstrap: str, topic: str, table: str, checkpoint: str) -> None:
    query = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .select(
            F.col("topic"), F.col("partition"), F.col("offset"),
            F.from_json(F.col("value").cast("string"), PAYLOAD).alias("v"),
        )
        .select("topic", "partition", "offset", "v.city_code", "v.pm25")
        .writeStream.format("delta")
        .option("checkpointLocation", checkpoint)
        .trigger(availableNow=True)
        .start(table)
    )
    query.awaitTermination(300)
    assert query.exception() is None


def test_stream_kafka_into_delta_then_time_travel(spark, kafka_bootstrap, new_topic, tmp_path):
    topic = new_topic(partitions=2)
    table, checkpoint = str(tmp_path / "air"), str(tmp_path / "checkpoint")

    _produce(kafka_bootstrap, topic, [{"city_code": "230100", "pm25": 80.0},
                                      {"city_code": "230200", "pm25": 35.5}])
    _run_once(spark, kafka_bootstrap, topic, table, checkpoint)
    first = spark.read.format("delta").load(table)
    assert {f.name: f.dataType for f in first.schema.fields} == {
        "topic": T.StringType(), "partition": T.IntegerType(), "offset": T.LongType(),
        "city_code": T.StringType(), "pm25": T.DoubleType(),
    }
    assert sorted((r.city_code, r.pm25) for r in first.collect()) == [("230100", 80.0), ("230200", 35.5)]

    _produce(kafka_bootstrap, topic, [{"city_code": "231000", "pm25": 12.0}])
    _run_once(spark, kafka_bootstrap, topic, table, checkpoint)
    assert spark.read.format("delta").load(table).count() == 3  # the checkpoint resumes: no re-read

    history = spark.sql(f"DESCRIBE HISTORY delta.`{table}`").orderBy("version").collect()
    first_version = history[0].version
    old = spark.read.format("delta").option("versionAsOf", first_version).load(table)
    assert old.count() == 2
    by_time = spark.read.format("delta").option("timestampAsOf", history[0].timestamp).load(table)
    assert sorted(r.city_code for r in by_time.collect()) == ["230100", "230200"]
