"""Arrow's memory on the driver: what a micro-batch frees is kept for the next one, not handed back to the
operating system at once.

Why: pyarrow's default pool (mimalloc) returns freed pages to the OS within milliseconds, so every
backlog batch touched its few hundred megabytes of Arrow memory anew, page by page. On this machine a
fresh page costs microseconds: silver's table of 217,000 rows took 0.19-0.23 s in the job against
0.02 s when its memory was reused, and the time rules twice their 0.14 s (2026-12-07). jemalloc, which
pyarrow ships too, keeps freed pages for a set time (its decay) and reuses them.
"""

from __future__ import annotations

import logging

import pyarrow as pa

logger = logging.getLogger(__name__)


def retain_freed_memory(retain_ms: int) -> str:
    """Make jemalloc, keeping freed pages `retain_ms` before returning them, Arrow's default pool, and
    return the pool's backend. `retain_ms` 0, or a pyarrow built without jemalloc: the pool is left as
    it is. Buffers allocated before keep their own pool, which frees them."""
    current: str = pa.default_memory_pool().backend_name
    if retain_ms <= 0:
        return current
    if "jemalloc" not in pa.supported_memory_backends():
        logger.info("this pyarrow has no jemalloc: Arrow's memory stays in %s", current)
        return current
    pa.set_memory_pool(pa.jemalloc_memory_pool())
    pa.jemalloc_set_decay_ms(retain_ms)
    return "jemalloc"
