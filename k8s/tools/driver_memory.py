"""The streaming driver pod's memory beyond the JVM heap (`memoryOverhead`), from measured figures.

The streaming job judges, aggregates and fuses each micro-batch on the driver, in Python
(`streaming.pipeline`), so the driver pod holds a Python process beside the JVM, and the pod's memory
limit is `spark.driver.memory` (the JVM heap) plus its overhead. Left to Spark, a Python job's
overhead is 40 % of the heap: 0.8 GB for the dev overlay's 2g, 1.6 GB for prod's 4g. The Python
process alone needs more (`bench/lakehouse_days.py`, days of the simulated province):

- what the job holds between batches levels off once its days are behind it (gold partials of three
  days, fusion's silver rows of nine, the time rules' event ids, the gold committer's rows):
  `HELD_MB`, with the interpreter and its libraries;
- a micro-batch adds its records while it runs (the collected Arrow table, the accepted rows as
  dicts, the gold rows it writes): `BATCH_KB_PER_RECORD`, at its peak;
- the JVM needs memory outside its heap too (metaspace, code cache, threads, network buffers):
  `JVM_OFF_HEAP_MB`.

So a driver whose `max_offsets_per_trigger` lets a catch-up batch be large needs a larger overhead;
the generator writes it (`required_overhead_mb`, rounded up to 256 MB), and the drift check fails
when a manifest's overhead is below what its settings need.
"""

from __future__ import annotations

import math

# measured by bench/lakehouse_days.py on 2026-12-06 (README, Kubernetes sizing). Three simulated days in
# batches of 100,000 and of 500,000 records peaked at 1,564 and 3,426 MB: 4.7 KB a record of a batch, and
# 1,100 MB held beside it. Over 12 days the job held more (nine days of fusion's incidents, the gold
# committer's rows: 1,727 MB after a batch of 100,000), so 1,536 MB.
HELD_MB = 1_536
BATCH_KB_PER_RECORD = 4.7
# the JVM outside its heap: metaspace, code cache and direct buffers measured at 285-349 MB on the bench's
# driver, plus what those counters leave out (the garbage collector's own structures, thread stacks)
JVM_OFF_HEAP_MB = 768
# what the soak did not have: the vision cameras' gold views, a province larger than the simulated one,
# the allocator's fragmentation over weeks
HEADROOM = 1.25
ROUND_MB = 256


def required_overhead_mb(max_offsets_per_trigger: int) -> int:
    """The driver's `memoryOverhead` in MB for batches of at most `max_offsets_per_trigger` records."""
    needed = (HELD_MB + BATCH_KB_PER_RECORD * max_offsets_per_trigger / 1024 + JVM_OFF_HEAP_MB) * HEADROOM
    return math.ceil(needed / ROUND_MB) * ROUND_MB


def overhead_mb(quantity: str) -> int:
    """A Spark memory quantity (`768m`, `3g`) in MB."""
    number, unit = int(quantity[:-1]), quantity[-1].lower()
    return {"k": number // 1024, "m": number, "g": number * 1024, "t": number * 1024 * 1024}[unit]
