"""Surface-water class per GB 3838-2002, as Spark column expressions.

A sample takes the class of its worst parameter. Classes are numbered 1-5 for I-V and 6 for "worse
than V" (劣V类). Limits are the standard's river limits; dissolved oxygen is a lower bound, the
others upper bounds; pH must lie in 6-9 for every class, so a pH outside it rates the sample worse
than V.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from streaming.standards.rounding import sql_greatest, sql_order

WORSE_THAN_V = 6
CLASS_NAMES: dict[int, str] = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "worse than V"}

# Upper limits by class I..V (mg/L); a value above the class V limit is worse than V.
UPPER_LIMITS: dict[str, tuple[float, ...]] = {
    "cod_mn": (2, 4, 6, 10, 15),
    "nh3_n": (0.15, 0.5, 1.0, 1.5, 2.0),
    "total_phosphorus": (0.02, 0.1, 0.2, 0.3, 0.4),
}
# Lower limits by class I..V (mg/L); a value below the class V limit is worse than V.
LOWER_LIMITS: dict[str, tuple[float, ...]] = {
    "dissolved_oxygen": (7.5, 6, 5, 3, 2),
}
PH_RANGE = (6.0, 9.0)


def parameter_class(value: Column, parameter: str) -> Column:
    """Class 1-6 of one parameter; null when the value is null."""
    expression = F.when(value.isNull(), F.lit(None).cast("int"))
    if parameter in UPPER_LIMITS:
        for number, limit in enumerate(UPPER_LIMITS[parameter], start=1):
            expression = expression.when(value <= limit, F.lit(number))
    elif parameter in LOWER_LIMITS:
        for number, limit in enumerate(LOWER_LIMITS[parameter], start=1):
            expression = expression.when(value >= limit, F.lit(number))
    else:
        raise ValueError(f"GB 3838-2002 has no class limits here for {parameter!r}")
    return expression.otherwise(F.lit(WORSE_THAN_V))


def ph_class(ph: Column) -> Column:
    """pH inside 6-9 fits every class (1); outside it the sample is worse than V."""
    return F.when(ph.isNull(), F.lit(None).cast("int")).when(
        ph.between(*PH_RANGE), F.lit(1)
    ).otherwise(F.lit(WORSE_THAN_V))


def water_class(*, dissolved_oxygen: Column, cod_mn: Column, nh3_n: Column, total_phosphorus: Column,
                ph: Column) -> tuple[Column, Column]:
    """(class number, worst parameter name) of a sample."""
    classes = {
        "dissolved_oxygen": parameter_class(dissolved_oxygen, "dissolved_oxygen"),
        "cod_mn": parameter_class(cod_mn, "cod_mn"),
        "nh3_n": parameter_class(nh3_n, "nh3_n"),
        "total_phosphorus": parameter_class(total_phosphorus, "total_phosphorus"),
        "ph": ph_class(ph),
    }
    worst = F.greatest(*classes.values())
    # the worst parameter is the first, in the order above, whose class equals the sample's
    worst_parameter = F.coalesce(*(F.when(value == worst, F.lit(name)) for name, value in classes.items()))
    return worst, F.when(worst > 1, worst_parameter)


def class_name(number: Column) -> Column:
    expression = F.when(number.isNull(), F.lit(None))
    for key, name in CLASS_NAMES.items():
        expression = expression.when(number == key, F.lit(name))
    return expression


# -- the same in plain Python, value for value ------------------------------------------------------


def parameter_class_of(value: float | None, parameter: str) -> int | None:
    """Python twin of `parameter_class` (NaN is above every limit, as Spark compares)."""
    if parameter in UPPER_LIMITS:
        limits, upper = UPPER_LIMITS[parameter], True
    elif parameter in LOWER_LIMITS:
        limits, upper = LOWER_LIMITS[parameter], False
    else:
        raise ValueError(f"GB 3838-2002 has no class limits here for {parameter!r}")
    if value is None:
        return None
    at = sql_order(value)
    for number, limit in enumerate(limits, start=1):
        if (at <= sql_order(limit)) if upper else (at >= sql_order(limit)):
            return number
    return WORSE_THAN_V


def ph_class_of(ph: float | None) -> int | None:
    """Python twin of `ph_class`."""
    if ph is None:
        return None
    low, high = PH_RANGE
    return 1 if sql_order(low) <= sql_order(ph) <= sql_order(high) else WORSE_THAN_V


def water_class_of(*, dissolved_oxygen: float | None, cod_mn: float | None, nh3_n: float | None,
                   total_phosphorus: float | None, ph: float | None) -> tuple[int | None, str | None]:
    """Python twin of `water_class`: (class number, worst parameter name, None for class I)."""
    classes = {
        "dissolved_oxygen": parameter_class_of(dissolved_oxygen, "dissolved_oxygen"),
        "cod_mn": parameter_class_of(cod_mn, "cod_mn"),
        "nh3_n": parameter_class_of(nh3_n, "nh3_n"),
        "total_phosphorus": parameter_class_of(total_phosphorus, "total_phosphorus"),
        "ph": ph_class_of(ph),
    }
    worst = sql_greatest(*classes.values())
    if worst is None or worst <= 1:
        return worst, None
    return worst, next(name for name, number in classes.items() if number == worst)


def class_name_of(number: int | None) -> str | None:
    """Python twin of `class_name`: None for None or a number without a class."""
    return None if number is None else CLASS_NAMES.get(number)
