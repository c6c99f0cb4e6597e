"""Contract validation in the JVM against pydantic on the driver (issue 13's "validation in the JVM").

Measures, on the simulator's records of every feed topic (one run, `local[2]`, load average printed):

1. pydantic on the driver: `streaming.validation.judge_payload` per record, what the streaming job
   runs (strict parse, the values silver stores), one Python thread;
2. sound checks in Spark (`bench/jvm_contract_checks.py`): every rule generated from the contracts'
   JSON Schemas, plus what `from_json` cannot see (JSON type of every value, unknown and duplicate
   keys, trailing content, lone surrogates): `schema_of_variant`, a flat-object grammar regex and
   integer date-time arithmetic; then one `orjson` parse per accepted record on the driver;
3. `from_json` alone with range predicates (what a quick prototype measures): not sound, since
   Spark's JSON reader turns a number into a string field's text, takes `1.0` for no integer,
   ignores trailing content and keeps the last of duplicate keys;
4. soundness on the hostile corpus of the tests (`tests/streaming/hostile.py`): records Spark accepts
   that pydantic refuses (must be 0), and values that differ.

Usage: python bench/jvm_validation.py [--records 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from bench.jvm_contract_checks import CHECKED, contract_rules, parse_schema, silver_values_of, with_checked
from feeds.sim import Simulator
from lakehouse.catalog import EVENT_CONTRACTS
from streaming.validation import judge_payload
from tests.streaming.hostile import fixed_sample

CORES = 2


def timed(action):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    print(f"{CORES} cores, load average {os.getloadavg()[0]:.1f} at start")
    end = datetime(2026, 12, 3, 8, tzinfo=UTC)
    records = Simulator(seed=5, start=end - timedelta(minutes=args.records // 230), end=end,
                        bad_fraction=0.01).records()[:args.records]
    spark = (SparkSession.builder.master(f"local[{CORES}]").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    frame = spark.createDataFrame([(r.topic, r.value) for r in records], "topic string, value binary").persist()
    frame.count()

    _, driver_s = timed(lambda: [judge_payload(r.topic, r.value) for r in records])

    def sound() -> int:
        table = with_checked(frame, EVENT_CONTRACTS, "topic", "value").select("topic", "value", CHECKED).toArrow()
        accepted = 0
        for topic, raw, times in zip(*(table.column(c).to_pylist() for c in ("topic", "value", CHECKED)),
                                     strict=True):
            if times is not None:
                silver_values_of(EVENT_CONTRACTS[topic], raw, times)
                accepted += 1
        return accepted

    sound()  # code generation and JIT warm-up
    accepted, sound_s = timed(sound)
    tiny = frame.limit(10)
    _, fixed_s = timed(lambda: with_checked(tiny, EVENT_CONTRACTS, "topic", "value").select(CHECKED).toArrow())

    def from_json_only() -> None:
        text = F.col("value").cast("string")
        columns = [F.when(F.col("topic") == topic, F.from_json(text, parse_schema(rules))).alias(f"p{i}")
                   for i, (topic, contract) in enumerate(EVENT_CONTRACTS.items())
                   if (rules := contract_rules(contract)) is not None]
        frame.select(*columns).select(F.coalesce(*(F.col(f"p{i}").isNotNull() for i in range(len(columns)))))\
            .toArrow()

    from_json_only()
    _, from_json_s = timed(from_json_only)

    corpus = fixed_sample(2000, seed=31)
    hostile = spark.createDataFrame([(h.topic, h.value) for h in corpus], "topic string, value binary")
    verdicts = with_checked(hostile, EVENT_CONTRACTS, "topic", "value").select(CHECKED).toArrow()
    unsound = differ = hostile_accepted = 0
    for record, times in zip(corpus, verdicts.column(CHECKED).to_pylist(), strict=True):
        if times is None:
            continue
        hostile_accepted += 1
        (reason, _, event_id, observed_us), values = judge_payload(record.topic, record.value)
        if reason is not None:
            unsound += 1
        elif silver_values_of(EVENT_CONTRACTS[record.topic], record.value or b"", times) != (
                event_id, observed_us, values):
            differ += 1

    n = len(records)
    print(f"{n:,} simulator records, {accepted:,} accepted by the Spark checks")
    print(f"{'validation':58} {'seconds':>8} {'µs/record':>10} {'records/s':>10}")
    for name, seconds in (("pydantic on the driver (one thread)", driver_s),
                          ("sound Spark checks + orjson values on the driver", sound_s),
                          ("from_json + predicates only (not sound)", from_json_s)):
        print(f"{name:58} {seconds:8.2f} {seconds / n * 1e6:10.1f} {n / seconds:10,.0f}")
    print(f"fixed cost of one Spark check over 10 records (plan + run): {fixed_s:.2f} s")
    print(f"hostile corpus: {len(corpus)} records, {hostile_accepted} accepted by Spark, {unsound} of them refused "
          f"by pydantic, {differ} with other values")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
