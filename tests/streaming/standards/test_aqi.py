"""HJ 633-2012 worked examples at and around the breakpoints, on a tiny local Spark session."""

from __future__ import annotations

from pyspark.sql import functions as F
from pyspark.sql import types as T

from streaming.standards.aqi import add_aqi, daily_iaqi, hourly_iaqi, iaqi

IAQI_CASES = [
        ("pm25_24h", 0.0, 0),
        ("pm25_24h", 35.0, 50),          # exactly at a breakpoint: no round-up through float noise
        ("pm25_24h", 36.0, 52),          # 51.25 rounds up
        ("pm25_24h", 75.0, 100),
        ("pm25_24h", 115.0, 150),
        ("pm25_24h", 250.0, 300),
        ("pm25_24h", 500.0, 500),
        ("pm25_24h", 650.0, 500),        # beyond the table: capped at the top level
        ("pm10_24h", 150.0, 100),
        ("pm10_24h", 151.0, 101),        # 100.5 rounds up
        ("so2_1h", 150.0, 50),
        ("so2_1h", 151.0, 51),
        ("so2_1h", 800.0, 200),
        ("so2_24h", 1600.0, 300),
        ("no2_1h", 100.0, 50),
        ("no2_1h", 1200.0, 200),
        ("co_1h", 5.0, 50),
        ("co_1h", 10.1, 101),            # 100.4 rounds up
        ("co_24h", 4.0, 100),
        ("o3_1h", 160.0, 50),
        ("o3_1h", 1000.0, 400),
        ("o3_8h", 100.0, 50),
        ("o3_8h", 800.0, 300),
        ("pm25_24h", None, None),
        ("pm25_24h", -1.0, None),        # an impossible concentration is not rated
]


def test_iaqi_breakpoints(spark):
    """Every case in one Spark job: one column per case, so each case uses its own table."""
    schema = T.StructType([T.StructField(f"c{i}", T.DoubleType()) for i in range(len(IAQI_CASES))])
    frame = spark.createDataFrame([tuple(value for _, value, _ in IAQI_CASES)], schema)
    row = frame.select(*(iaqi(F.col(f"c{i}"), table).alias(f"i{i}")
                         for i, (table, _, _) in enumerate(IAQI_CASES))).first()
    wrong = [(table, value, expected, row[f"i{i}"]) for i, (table, value, expected) in enumerate(IAQI_CASES)
             if row[f"i{i}"] != expected]
    assert not wrong, f"(table, concentration, expected, got): {wrong}"


HOURLY_FIELDS = ["so2_1h", "so2_24h", "no2_1h", "pm10_24h", "pm25_24h", "co_1h", "o3_1h", "o3_8h"]


def _hourly(spark, **values: float):
    row = tuple(float(values.get(name, 0.0)) for name in HOURLY_FIELDS)
    schema = T.StructType([T.StructField(name, T.DoubleType()) for name in HOURLY_FIELDS])
    frame = spark.createDataFrame([row], schema)
    return add_aqi(frame, hourly_iaqi(**{name: F.col(name) for name in HOURLY_FIELDS})).first()


def test_hourly_aqi_is_the_largest_iaqi_with_primary_pollutant(spark):
    row = _hourly(spark, so2_1h=20, no2_1h=50, pm10_24h=80, pm25_24h=120, co_1h=1.2, o3_1h=60, o3_8h=50)
    assert row.iaqi_pm25 == 158  # (200-150)/(150-115)*(120-115)+150 = 157.14, rounded up
    assert row.aqi == row.iaqi_pm25
    assert row.aqi_level == 4
    assert row.aqi_category_en == "moderately polluted"
    assert row.aqi_category_zh == "中度污染"
    assert row.primary_pollutant == "PM2.5"


def test_no_primary_pollutant_at_or_below_50(spark):
    row = _hourly(spark, pm25_24h=35, pm10_24h=50, so2_1h=10, no2_1h=20, co_1h=0.5, o3_1h=40, o3_8h=30)
    assert row.aqi == 50
    assert row.aqi_level == 1
    assert row.primary_pollutant is None


def test_ties_name_every_primary_pollutant(spark):
    row = _hourly(spark, pm10_24h=150, pm25_24h=75)
    assert row.aqi == 100
    assert row.primary_pollutant == "PM10,PM2.5"


def test_so2_one_hour_above_800_falls_back_to_the_24h_table(spark):
    row = _hourly(spark, so2_1h=900, so2_24h=1600)
    assert row.iaqi_so2 == 300
    assert row.aqi == 300
    assert row.primary_pollutant == "SO2"
    assert row.aqi_level == 5


def test_o3_eight_hour_above_800_falls_back_to_the_1h_table(spark):
    row = _hourly(spark, o3_1h=1000, o3_8h=850)
    assert row.iaqi_o3_8h == 400
    assert row.aqi == 400
    assert row.aqi_level == 6
    assert row.aqi_category_en == "severely polluted"
    assert set(row.primary_pollutant.split(",")) == {"O3", "O3_8h"}


def test_level_bands(spark):
    # pm25 24h concentration -> IAQI: 35->50, 36->52, 75->100, 76->102, 150->200, 250->300, 251->301
    cases = [(35, 1), (36, 2), (75, 2), (76, 3), (150, 4), (250, 5), (251, 6)]
    frame = spark.createDataFrame([(float(c), lvl) for c, lvl in cases], "pm25 double, expected int")
    result = add_aqi(frame, hourly_iaqi(
        so2_1h=F.lit(0.0), so2_24h=F.lit(0.0), no2_1h=F.lit(0.0), pm10_24h=F.lit(0.0),
        pm25_24h=F.col("pm25"), co_1h=F.lit(0.0), o3_1h=F.lit(0.0), o3_8h=F.lit(0.0)))
    assert [(r.expected, r.aqi_level) for r in result.collect()] == [(lvl, lvl) for _, lvl in cases]


def test_daily_aqi_schema_and_values(spark):
    schema = T.StructType([T.StructField(n, T.DoubleType()) for n in
                           ["so2_24h", "no2_24h", "pm10_24h", "pm25_24h", "co_24h", "o3_8h_max", "o3_1h_max"]])
    frame = spark.createDataFrame([(60.0, 45.0, 160.0, 70.0, 1.0, 120.0, 150.0)], schema)
    result = add_aqi(frame, daily_iaqi(**{n: F.col(n) for n in schema.fieldNames()})).drop(*schema.fieldNames())
    assert dict(result.dtypes) == {
        "iaqi_so2": "int", "iaqi_no2": "int", "iaqi_pm10": "int", "iaqi_pm25": "int", "iaqi_co": "int",
        "iaqi_o3_8h": "int", "aqi": "int", "aqi_level": "int", "aqi_category_zh": "string",
        "aqi_category_en": "string", "primary_pollutant": "string",
    }
    row = result.first()
    assert (row.iaqi_so2, row.iaqi_no2, row.iaqi_pm10, row.iaqi_pm25, row.iaqi_co, row.iaqi_o3_8h) == (
        55, 57, 105, 94, 25, 67)
    assert row.aqi == 105 and row.primary_pollutant == "PM10"
