"""Arrow's pool on the driver (`ioc.arrow_memory`): jemalloc keeping freed memory, or the default left."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from pydantic import ValidationError

from ioc.arrow_memory import retain_freed_memory
from ioc.settings import StreamingSettings


@pytest.fixture
def pool_restored() -> Iterator[pa.MemoryPool]:
    previous = pa.default_memory_pool()
    yield previous
    pa.set_memory_pool(previous)


def test_retaining_makes_jemalloc_the_pool_new_arrays_come_from(pool_restored: pa.MemoryPool) -> None:
    assert retain_freed_memory(2_000) == "jemalloc"
    pool = pa.default_memory_pool()
    assert pool.backend_name == "jemalloc"
    before = pool.bytes_allocated()
    values = pa.array(range(1_000_000), pa.int64())
    assert pool.bytes_allocated() >= before + 8_000_000
    del values
    assert pool.bytes_allocated() == before


def test_nothing_retained_leaves_the_pool_as_it_is(pool_restored: pa.MemoryPool) -> None:
    assert retain_freed_memory(0) == pool_restored.backend_name
    assert pa.default_memory_pool().backend_name == pool_restored.backend_name


def test_the_setting_is_checked_at_start_up() -> None:
    assert StreamingSettings().arrow_memory_retain_ms == 10_000
    for wrong in (-1, 600_001):
        with pytest.raises(ValidationError):
            StreamingSettings(arrow_memory_retain_ms=wrong)
