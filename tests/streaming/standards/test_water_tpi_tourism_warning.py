"""GB 3838-2002 water classes, GB/T 33171 TPI, LB/T 034 load ratio and warning levels, on local Spark."""

from __future__ import annotations

from pyspark.sql import functions as F

from streaming.standards.tourism import daily_capacity, instantaneous_capacity, load_ratio
from streaming.standards.tpi import segment_index, tpi_level, tpi_level_name, weighted_tpi
from streaming.standards.warning import colour, level_from_thresholds, roman
from streaming.standards.water import class_name, water_class

# (dissolved_oxygen, cod_mn, nh3_n, total_phosphorus, ph, expected class, expected worst parameter)
WATER_CASES = [
    (8.0, 1.5, 0.10, 0.02, 7.5, 1, None),              # every parameter class I
    (7.4, 1.5, 0.10, 0.02, 7.5, 2, "dissolved_oxygen"),  # DO just below the class I floor
    (8.0, 6.0, 0.10, 0.02, 7.5, 3, "cod_mn"),          # COD_Mn exactly at the class III limit
    (8.0, 6.01, 0.10, 0.02, 7.5, 4, "cod_mn"),
    (8.0, 1.5, 1.5, 0.02, 7.5, 4, "nh3_n"),
    (8.0, 1.5, 0.10, 0.4, 7.5, 5, "total_phosphorus"),
    (8.0, 15.1, 0.10, 0.02, 7.5, 6, "cod_mn"),         # worse than V
    (1.9, 1.5, 0.10, 0.02, 7.5, 6, "dissolved_oxygen"),
    (8.0, 1.5, 0.10, 0.02, 9.5, 6, "ph"),              # pH outside 6-9
    (5.0, 10.0, 0.10, 0.02, 7.0, 4, "cod_mn"),         # DO class III, COD_Mn class IV: the worst wins
]


def test_water_class_takes_the_worst_parameter(spark):
    frame = spark.createDataFrame(
        [(*case[:5], case[5]) for case in WATER_CASES],
        "do double, cod double, nh3 double, tp double, ph double, expected int",
    )
    number, worst = water_class(dissolved_oxygen=F.col("do"), cod_mn=F.col("cod"), nh3_n=F.col("nh3"),
                                total_phosphorus=F.col("tp"), ph=F.col("ph"))
    rows = frame.select(number.alias("cls"), worst.alias("worst"), class_name(number).alias("name")).collect()
    assert [(r.cls, r.worst) for r in rows] == [(c[5], c[6]) for c in WATER_CASES]
    assert rows[0].name == "I" and rows[6].name == "worse than V"


# (speed, free-flow speed, road class, expected index, expected level)
TPI_CASES = [
    (100.0, 100.0, "expressway", 0.0, 1),
    (82.5, 100.0, "expressway", 1.0, 1),
    (65.0, 100.0, "expressway", 2.0, 2),   # at the free-flow threshold: basically free
    (57.5, 100.0, "expressway", 3.0, 2),
    (50.0, 100.0, "expressway", 4.0, 3),
    (35.0, 100.0, "expressway", 6.0, 4),
    (20.0, 100.0, "expressway", 8.0, 5),   # <=20 km/h is severe congestion
    (0.0, 100.0, "expressway", 10.0, 5),
    (40.0, 60.0, "arterial", 2.0, 2),
    (25.0, 60.0, "arterial", 5.0, 3),
    (15.0, 60.0, "arterial", 8.0, 5),
    (7.5, 60.0, "arterial", 9.0, 5),
]


def test_segment_index_and_levels(spark):
    frame = spark.createDataFrame([c[:3] for c in TPI_CASES], "speed double, ffs double, road_class string")
    index = segment_index(F.col("speed"), F.col("ffs"), F.col("road_class"))
    rows = frame.select(index.alias("i"), tpi_level(index).alias("lvl"),
                        tpi_level_name(index).alias("name"), tpi_level_name(index, "zh").alias("zh")).collect()
    assert [(r.i, r.lvl) for r in rows] == [(c[3], c[4]) for c in TPI_CASES]
    assert rows[0].name == "free flow" and rows[6].zh == "严重拥堵"
    unknown = spark.createDataFrame([(50.0, 80.0, "footpath")], "speed double, ffs double, road_class string")
    assert unknown.select(segment_index(F.col("speed"), F.col("ffs"), F.col("road_class"))).first()[0] is None


def test_weighted_tpi_weights_by_vehicle_km(spark):
    frame = spark.createDataFrame([("a", 2.0, 900.0), ("a", 8.0, 100.0), ("b", 5.0, 0.0), ("b", 7.0, 0.0)],
                                  "city string, idx double, vkm double")
    rows = {r.city: r.tpi for r in frame.groupBy("city").agg(weighted_tpi(F.col("idx"), F.col("vkm"))
                                                             .alias("tpi")).collect()}
    assert rows == {"a": 2.6, "b": 6.0}  # b had no counted traffic: plain mean


def test_tourism_capacity_and_load(spark):
    frame = spark.createDataFrame([(600_000.0, 1.5, 10.0, 4.0, 8000, 10_000), (1.0, 1.0, 1.0, 1.0, 5, 0)],
                                  "area double, per double, hours double, stay double, visitors long, cap long")
    inst = instantaneous_capacity(F.col("area"), F.col("per"))
    rows = frame.select(inst.alias("inst"), daily_capacity(inst, F.col("hours"), F.col("stay")).alias("day"),
                        load_ratio(F.col("visitors"), F.col("cap")).alias("load")).collect()
    assert (rows[0].inst, rows[0].day, rows[0].load) == (400_000, 1_000_000, 0.8)
    assert rows[1].load is None  # no published maximum: no ratio


def test_warning_level_boundaries(spark):
    scenic = {"yellow": 0.80, "orange": 0.95, "red": 1.00}
    frame = spark.createDataFrame([(0.79,), (0.80,), (0.9499,), (0.95,), (1.0,), (1.3,), (None,)], "load double")
    rank = level_from_thresholds(F.col("load"), scenic)
    rows = frame.select(rank.alias("r"), roman(rank).alias("roman"), colour(rank).alias("c")).collect()
    assert [(r.r, r.roman, r.c) for r in rows] == [
        (0, None, None), (2, "III", "yellow"), (2, "III", "yellow"), (3, "II", "orange"),
        (4, "I", "red"), (4, "I", "red"), (0, None, None),
    ]
    low = spark.createDataFrame([(3.5,), (1.9,)], "do double")
    ranks = [r[0] for r in low.select(level_from_thresholds(F.col("do"), {"yellow": 3.0, "red": 2.0},
                                                            higher_is_worse=False)).collect()]
    assert ranks == [0, 4]
