"""Bronze -> silver: validate, apply the time rules, de-duplicate, conform; everything else to quarantine.

Rules, in order of precedence (the first that fails names the quarantine reason):

1. the contract (`streaming.validation`): oversized, invalid_json, unknown_city, missing_field,
   wrong_type, out_of_range;
2. `future`: observed more than `future_tolerance` after its Kafka timestamp (it cannot have been
   observed after it was sent), or sent more than `future_tolerance` after it arrived (a producer can
   set the Kafka timestamp itself: a year-9999 one would otherwise vouch for a year-9999 reading and
   push the topic's frontier past every later record);
3. `duplicate_event_id`: an event id already in silver from an earlier batch, or carried by an earlier
   record of this batch that is neither future nor late (the first such copy is the one kept), when that
   copy was observed at most `late_allowance` before the frontier this record is judged against (below):
   a copy of something older is late itself, and quarantined as `late`;
4. `late`: more than `late_allowance` behind the topic's frontier as it stood when the record was
   sent: the newest observed_at of the non-future records that arrived before it, but no later than
   its own Kafka timestamp plus `future_tolerance`.

"Before" is arrival order, the order every path can see: the micro-batch a record arrived in (bronze
keeps `ingested_at` and `batch_id` for each record), then, within one micro-batch, the Kafka
timestamp, partition and offset; records sent in the same millisecond all count for each other (Kafka
cannot order them across partitions, and a record never makes itself late). Kafka timestamps alone are
not enough: a micro-batch is cut by offsets, so a partition that lags can deliver records sent earlier
than some of the batch before. Streaming judges one micro-batch at a time against what earlier batches
left; a replay (`jobs.replay`) judges many at once in the same arrival order, so both decide alike.

Why the cap: arrival order alone judged a catching-up partition against the others. A job reading a
backlog in several micro-batches gets each Kafka partition's share of a batch in proportion to its
backlog, so a topic's partitions drift hours apart in event time, and a record sent on time by the
partition behind was quarantined as late against a frontier the partition ahead had reached (0.16 %
of 7.2 million records over 20 simulated days, `bench/lakehouse_days.py`). No non-future record sent
before this one can have been observed after its Kafka timestamp plus the tolerance, so the cap never
lowers the frontier below what the records sent before it reached: a record is late only if it is more
than the allowance behind the frontier and was already more than the allowance less the tolerance old
when it was sent, which is what the rule is for. In a live job the cap does not bind: the records that
arrived before one were sent before it too. It trusts the Kafka timestamp as the sending time, as the
`future` rule does (topics with `message.timestamp.type=LogAppendTime` make it the broker's).

The frontier is the de-duplication watermark too: copies count within the allowance of the frontier a
record is judged against, so the streaming job carries only the ids observed since its frontier minus
the allowance, and reads from silver the ids since an earlier frontier only for records the cap judges
against it (`streaming.silver_rows`, `streaming.rule_state`: a catch-up's), never all of silver.

Every decision depends only on the records and on earlier batches' output, never on wall clock or on
this batch's own partial writes (rows carry `_batch_id`, and reads take `_batch_id < batch_id`), so a
batch replayed after a crash decides exactly as before. The streaming job carries the earlier
batches' frontiers and ids in memory (`streaming.rule_state`) and reads them from Delta once per run.

Here are the rules as Spark plans, which replays and backfills run over many batches at once; the
streaming job judges each micro-batch with their Python twin on the driver (`streaming.silver_rows`),
held equal to these by `tests/streaming/test_silver_rows.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from itertools import chain

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from contracts.cities import CITY_NAMES
from contracts.topics import EVENT_CONTRACTS
from lakehouse.catalog import SILVER_VIEWS
from streaming.validation import minutes_in_micros, validate

KAFKA_ORDER = ("kafka_timestamp", "partition", "offset")
# the micro-batch a record arrived in, as bronze records it (`ingested_at` first: batch ids restart
# when a query's checkpoint is reset)
ARRIVAL = ("ingested_at", "batch_id")
COORDINATES = ("topic", "partition", "offset")
# the ids earlier batches left, as `apply_time_rules` takes them
SEEN_IDS_SCHEMA = "base_topic string, event_id string, observed_at timestamp"


@dataclass(frozen=True)
class TopicMap:
    """Which consumed topic is which catalogue topic (tests consume prefixed, fresh topics)."""

    prefix: str = ""
    suffix: str = ""

    def actual(self, base_topic: str) -> str:
        return f"{self.prefix}{base_topic}{self.suffix}"

    @property
    def actual_to_base(self) -> dict[str, str]:
        return {self.actual(base): base for base in EVENT_CONTRACTS}

    def base_topic_column(self, topic: Column) -> Column:
        mapping = F.create_map(*chain.from_iterable((F.lit(a), F.lit(b)) for a, b in self.actual_to_base.items()))
        return mapping[topic]


@dataclass(frozen=True)
class TimeRules:
    late_allowance_minutes: float
    future_tolerance_minutes: float


def city_name_columns(city_code: Column) -> list[Column]:
    english = F.create_map(*chain.from_iterable((F.lit(c), F.lit(n[0])) for c, n in CITY_NAMES.items()))
    chinese = F.create_map(*chain.from_iterable((F.lit(c), F.lit(n[1])) for c, n in CITY_NAMES.items()))
    return [english[city_code].alias("city_name_en"), chinese[city_code].alias("city_name_zh")]


def classify(bronze: DataFrame, topics: TopicMap) -> DataFrame:
    """Bronze rows plus `base_topic`, the contract verdict `reason`/`detail` (null when valid) and, for
    valid records, the envelope's `event_id` and `observed_at`."""
    with_topic = bronze.withColumn("base_topic", topics.base_topic_column(F.col("topic")))
    verdict = validate(F.col("base_topic"), F.col("value"))
    return with_topic.withColumn("verdict", verdict).select(
        *bronze.columns, "base_topic", "verdict.reason", "verdict.detail", "verdict.event_id",
        "verdict.observed_at",
    )


def apply_time_rules(valid: DataFrame, frontiers: DataFrame, seen_ids: DataFrame, rules: TimeRules) -> DataFrame:
    """Envelope rows of contract-valid records (`classify`'s output) with `reason`
    future/duplicate_event_id/late or null, its `detail`, and `late_minutes` behind the frontier.

    `valid` may hold one micro-batch (streaming) or many (a replay): records are ordered by `ARRIVAL`,
    then `KAFKA_ORDER`. `frontiers`: (base_topic, frontier) from before the first of them. `seen_ids`:
    (base_topic, event_id, observed_at) already in silver from before them.
    """
    envelope = valid.select("base_topic", "topic", *ARRIVAL, *KAFKA_ORDER, "event_id", "observed_at")

    tolerance = F.expr(f"INTERVAL {int(rules.future_tolerance_minutes * 60)} SECONDS")
    allowance_s = rules.late_allowance_minutes * 60
    # everything that arrived in an earlier micro-batch, and this batch's records sent before it or in
    # the same millisecond (a RANGE frame's peers share all the order keys)
    arrived_by_then = (Window.partitionBy("base_topic").orderBy(*ARRIVAL, "kafka_timestamp")
                       .rangeBetween(Window.unboundedPreceding, Window.currentRow))
    earlier_copies = (Window.partitionBy("base_topic", "event_id").orderBy(*ARRIVAL, *KAFKA_ORDER)
                      .rowsBetween(Window.unboundedPreceding, -1))

    allowance_us = minutes_in_micros(rules.late_allowance_minutes)
    seen = seen_ids.groupBy("base_topic", "event_id").agg(F.max("observed_at").alias("seen_observed"))

    def counts(copy_observed: Column) -> Column:
        """Whether a copy observed then counts against the record: within the allowance of its frontier."""
        return copy_observed.isNotNull() & (F.col("reference").isNull() | (
            F.unix_micros(copy_observed) >= F.unix_micros(F.col("reference")) - F.lit(allowance_us)))

    marked = (
        envelope.join(frontiers, on="base_topic", how="left")
        .join(seen, on=["base_topic", "event_id"], how="left")
        .withColumn("sent_in_future", F.coalesce(F.col("kafka_timestamp") > F.col("ingested_at") + tolerance,
                                                 F.lit(False)))
        .withColumn("is_future", (F.col("observed_at") > F.col("kafka_timestamp") + tolerance)
                    | F.col("sent_in_future"))
        .withColumn("running_max", F.max(F.when(~F.col("is_future"), F.col("observed_at"))).over(arrived_by_then))
        .withColumn("uncapped", F.greatest(F.col("frontier"), F.col("running_max")))
        # no later than its own Kafka timestamp plus the tolerance (`late` in the module docstring)
        .withColumn("reference", F.when(F.col("uncapped").isNotNull(),
                                        F.least(F.col("uncapped"), F.col("kafka_timestamp") + tolerance)))
        .withColumn("behind_s", F.col("reference").cast("double") - F.col("observed_at").cast("double"))
        .withColumn("is_late", F.coalesce(F.col("behind_s") > allowance_s, F.lit(False)))
        # a copy counts only if it could have been kept: a future or late first copy leaves the id free
        .withColumn("kept_copy_observed", F.max(F.when(~F.col("is_future") & ~F.col("is_late"),
                                                       F.col("observed_at"))).over(earlier_copies))
        .withColumn("seen_before", counts(F.col("seen_observed")))
        .withColumn("kept_before", counts(F.col("kept_copy_observed")))
    )
    reason = (
        F.when(F.col("is_future"), F.lit("future"))
        .when(F.col("seen_before") | F.col("kept_before"), F.lit("duplicate_event_id"))
        .when(F.col("is_late"), F.lit("late"))
    )
    detail = (
        F.when(F.col("sent_in_future"), F.concat(F.lit("Kafka timestamp is after the record arrived at "),
                                                 F.col("ingested_at").cast("string")))
        .when(F.col("is_future"), F.concat(F.lit("observed_at is after its Kafka timestamp "),
                                           F.col("kafka_timestamp").cast("string")))
        .when(F.col("seen_before"), F.lit("event_id already in silver"))
        .when(F.col("kept_before"), F.lit("event_id of an earlier record"))
        .when(F.col("is_late"), F.format_string("%.0f minutes behind the topic frontier", F.col("behind_s") / 60))
    )
    return marked.select(
        "base_topic", "topic", *KAFKA_ORDER, "event_id", "observed_at", reason.alias("reason"), detail.alias("detail"),
        F.round(F.greatest(F.coalesce(F.col("behind_s"), F.lit(0.0)), F.lit(0.0)) / 60, 2).alias("late_minutes"),
    )


def judge(classified: DataFrame, frontiers: DataFrame, seen_ids: DataFrame, rules: TimeRules) -> DataFrame:
    """`classify`'s rows with the final verdict: `final_reason`/`final_detail` (null when accepted, the
    contract's reason first, then the time rules'), `time_reason` and `late_minutes`."""
    decided = apply_time_rules(classified.where(F.col("reason").isNull()), frontiers, seen_ids, rules).select(
        *COORDINATES, F.col("reason").alias("time_reason"), F.col("detail").alias("time_detail"), "late_minutes")
    return (
        classified.join(decided, on=list(COORDINATES), how="left")
        .withColumn("final_reason", F.coalesce("reason", "time_reason"))
        .withColumn("final_detail", F.coalesce("detail", "time_detail"))
    )


def conform(accepted: DataFrame, base_topic: str, batch_id: int, ingested_at: datetime) -> DataFrame:
    """Parse accepted payloads of one topic with its contract's schema and add the silver columns.

    `event_id` is the validator's canonical UUID form, the one duplicates are recognised by.
    """
    contract = SILVER_VIEWS[base_topic]
    payload_schema = T.StructType([f for f in contract.schema().fields
                                   if not _is_silver_extra(f.name) and f.name != "event_id"])
    defaults = contract_defaults(base_topic)
    parsed = accepted.select(
        F.from_json(F.col("value").cast("string"), payload_schema).alias("p"),
        "event_id", "late_minutes", "topic", "partition", "offset", "kafka_timestamp",
    )
    return parsed.select(
        *[F.coalesce(F.col(f"p.{name}"), defaults[name]).alias(name) if name in defaults else F.col(f"p.{name}")
          for name in payload_schema.fieldNames()],
        "event_id",
        *city_name_columns(F.col("p.city_code")),
        F.to_date(F.col("p.observed_at")).alias("observed_date"),
        F.col("late_minutes"),
        F.col("topic").alias("_topic"), F.col("partition").alias("_partition"), F.col("offset").alias("_offset"),
        F.col("kafka_timestamp").alias("_kafka_timestamp"),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"), F.lit(batch_id).cast("long").alias("_batch_id"),
    ).select(*contract.schema().fieldNames())


def contract_defaults(base_topic: str) -> dict[str, Column]:
    """Silver columns whose contract field may be left out of a payload, with the contract's default
    (pydantic fills it in; `from_json` would leave null). An explicit null is refused by the contract,
    so `coalesce` with these is exact."""
    types = {f.name: f.dataType for f in SILVER_VIEWS[base_topic].schema().fields}
    defaults: dict[str, Column] = {}
    for name, info in EVENT_CONTRACTS[base_topic].model_fields.items():
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        if default is None or name not in types:
            continue
        if isinstance(default, list):
            plain = [v.value if isinstance(v, Enum) else v for v in default]
            value = F.array(*[F.lit(v) for v in plain]) if plain else F.array()
        else:
            value = F.lit(default.value if isinstance(default, Enum) else default)
        defaults[name] = value.cast(types[name])
    return defaults


def _is_silver_extra(name: str) -> bool:
    return name.startswith("_") or name in {"city_name_en", "city_name_zh", "observed_date", "late_minutes"}
