"""`arrow_array` builds a struct column from its present values and spreads them with `take`: the
result must equal pyarrow's own conversion of the same values, for every mix of null and present
structs, nested structs and null fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse.frames import arrow_array

INNER = pa.struct([("count", pa.int64()), ("label", pa.string())])
KIND = pa.struct([("value", pa.float64()), ("at", pa.timestamp("us", tz="UTC")), ("inner", INNER)])

inner = st.none() | st.tuples(st.none() | st.integers(-2**63, 2**63 - 1), st.none() | st.text(max_size=5))
outer = st.none() | st.tuples(st.none() | st.floats(allow_nan=False),
                              st.none() | st.datetimes(timezones=st.just(UTC)), inner)


def _as_dict(value: tuple[Any, ...] | None, kind: pa.StructType) -> dict[str, Any] | None:
    if value is None:
        return None
    return {field.name: _as_dict(part, field.type) if pa.types.is_struct(field.type) else part
            for field, part in zip(kind, value, strict=True)}


@settings(max_examples=300, deadline=None)  # the first call warms pyarrow up: no deadline
@given(st.lists(outer, max_size=40))
def test_a_struct_column_equals_pyarrows_own_conversion(values: list[tuple[Any, ...] | None]) -> None:
    built = arrow_array(values, KIND)
    expected = pa.array([_as_dict(value, KIND) for value in values], type=KIND)
    assert built.type == KIND and len(built) == len(values)
    assert built.to_pylist() == expected.to_pylist()
    assert built.is_null().to_pylist() == [value is None for value in values]


def test_all_absent_all_present_and_empty() -> None:
    present = (1.5, datetime(2026, 1, 1, tzinfo=UTC), (3, "x"))
    assert arrow_array([None, None], KIND).to_pylist() == [None, None]
    assert arrow_array([present, present], KIND).null_count == 0
    assert arrow_array([], KIND).to_pylist() == []
