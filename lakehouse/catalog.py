"""Every table of the lakehouse, by layer: bronze, silver, quarantine, gold.

Silver is one table for every event topic (`SILVER_EVENTS`): the envelope every event carries
(`base_topic`, `event_id`, `observed_at`, `city_code`, conformed and lineage columns) as columns, and
each topic's own fields in a typed struct column named after the topic, null on the other topics'
rows. A micro-batch appends all its topics in one Delta commit instead of one per topic; each topic
still reads as one typed view (`SILVER_VIEWS`, `lakehouse.silver_events.read_topic`) whose columns come from
its event contract (`contracts.topics.EVENT_CONTRACTS`). Gold tables are written out
here, since the wall, the batch jobs and analysts all read them; every windowed one is a view of one
table too (`GOLD_FACTS`, `lakehouse.gold_facts`), and `lakehouse.read.read_table` reads any contract.
`observed_date`/`window_date` partition the large tables by day.
"""

from __future__ import annotations

from typing import Final

# Every event topic the lakehouse ingests, with its contract (catalogue names, without test prefixes).
from contracts.topics import EVENT_CONTRACTS
from lakehouse.contract_schema import contract_columns, contract_ddl
from lakehouse.tables import TableContract, parse_columns

# Tables the streaming job commits to in every batch: it writes their Delta checkpoints itself, beside the
# batches (lakehouse.checkpoints), so Delta's own, written inside a commit the batch waits for, come seldom.
CHECKPOINTED_BY_THE_JOB = {"delta.checkpointInterval": "1000"}
APPEND_ONLY = {"delta.appendOnly": "true", **CHECKPOINTED_BY_THE_JOB}

BRONZE_EVENTS = TableContract(
    layer="bronze", name="events",
    comment="Every Kafka record as received, append-only: replay silver from here.",
    columns=parse_columns(
        "topic STRING COMMENT 'Kafka topic (as consumed)', "
        "`partition` INT COMMENT 'Kafka partition', "
        "`offset` BIGINT COMMENT 'Kafka offset', "
        "kafka_timestamp TIMESTAMP COMMENT 'Kafka record timestamp (producer send time)', "
        "key STRING COMMENT 'Record key (source id)', "
        "value BINARY COMMENT 'Record value, raw bytes', "
        "ingested_at TIMESTAMP COMMENT 'When the streaming job wrote the record', "
        "ingest_date DATE COMMENT 'Partition: day of ingestion (UTC)', "
        "batch_id BIGINT COMMENT 'Streaming micro-batch that wrote the record'"
    ),
    partitioned_by=("ingest_date",),
    keys=("topic", "partition", "offset"),
    properties=APPEND_ONLY,
)

QUARANTINE = TableContract(
    layer="quarantine", name="events",
    comment="Records that failed validation, with the rule that failed and their Kafka coordinates.",
    columns=parse_columns(
        "topic STRING COMMENT 'Kafka topic (as consumed)', "
        "base_topic STRING COMMENT 'Catalogue topic the record was validated against', "
        "`partition` INT, `offset` BIGINT, kafka_timestamp TIMESTAMP, key STRING, "
        "value BINARY COMMENT 'Raw payload, unchanged', "
        "reason STRING COMMENT 'invalid_json, missing_field, wrong_type, out_of_range, unknown_city, "
        "duplicate_event_id, late, future, oversized, or unprocessable (processing the record failed; "
        "the detail is the error)', "
        "detail STRING COMMENT 'Human-readable detail of the failure', "
        "event_id STRING COMMENT 'event_id when the payload had a readable one', "
        "observed_at TIMESTAMP COMMENT 'observed_at when readable', "
        "quarantined_at TIMESTAMP, quarantine_date DATE, batch_id BIGINT"
    ),
    partitioned_by=("quarantine_date",),
    keys=("topic", "partition", "offset"),
    properties=APPEND_ONLY,
)

LINEAGE_COLUMNS = (
    "city_name_en STRING COMMENT 'City name (English)', "
    "city_name_zh STRING COMMENT 'City name (Chinese)', "
    "observed_date DATE COMMENT 'Partition: day of observed_at (UTC)', "
    "late_minutes DOUBLE COMMENT 'How far behind the topic frontier it arrived (0 when in order)', "
    "_topic STRING, _partition INT, _offset BIGINT, _kafka_timestamp TIMESTAMP, "
    "_ingested_at TIMESTAMP, _batch_id BIGINT"
)


def silver_name(base_topic: str) -> str:
    """`traffic.flow.v1` -> `traffic_flow`."""
    return "_".join(base_topic.split(".")[:-1])


def silver_view(base_topic: str) -> TableContract:
    """The typed view of one topic's silver rows: its contract's fields, then the silver columns. Not a
    table of its own (its rows live in `SILVER_EVENTS`); `lakehouse.silver_events.read_topic` reads it."""
    model = EVENT_CONTRACTS[base_topic]
    return TableContract(
        layer="silver", name=silver_name(base_topic),
        comment=f"Validated, conformed, de-duplicated {base_topic} events ({model.__name__}).",
        columns=parse_columns(f"{contract_ddl(model)}, {LINEAGE_COLUMNS}"),
        partitioned_by=("observed_date",),
        keys=("event_id",),
    )


SILVER_VIEWS: Final[dict[str, TableContract]] = {topic: silver_view(topic) for topic in EVENT_CONTRACTS}
# a silver view's name (`silver.traffic_flow`) -> its topic
SILVER_TOPIC_OF: Final[dict[str, str]] = {view.qualified_name: topic for topic, view in SILVER_VIEWS.items()}

# contract fields every event carries, kept as top-level columns of silver (and so filterable and
# with file statistics); a topic's other fields go into its struct column
ENVELOPE_FIELDS: Final[tuple[str, ...]] = ("event_id", "observed_at", "city_code")


def payload_fields(base_topic: str) -> list[str]:
    """The topic's contract fields held in its struct column of `SILVER_EVENTS`."""
    return [name for name in EVENT_CONTRACTS[base_topic].model_fields if name not in ENVELOPE_FIELDS]


def _payload_struct(base_topic: str) -> str:
    wanted = set(payload_fields(base_topic))
    fields = ", ".join(f"{name}: {kind} COMMENT '{comment}'"
                       for name, kind, comment in contract_columns(EVENT_CONTRACTS[base_topic]) if name in wanted)
    return (f"{silver_name(base_topic)} STRUCT<{fields}> "
            f"COMMENT '{base_topic} fields ({EVENT_CONTRACTS[base_topic].__name__}); null on other topics'")


SILVER_EVENTS = TableContract(
    layer="silver", name="events",
    comment="Validated, conformed, de-duplicated events of every topic: the envelope as columns, each "
            "topic's own fields in its struct column. One typed view per topic: lakehouse.silver_events.read_topic.",
    columns=parse_columns(
        "base_topic STRING COMMENT 'Catalogue topic: which struct column holds the fields', "
        "event_id STRING COMMENT 'Canonical UUID of the event', "
        "observed_at TIMESTAMP COMMENT 'When the source observed it (UTC)', "
        "city_code STRING COMMENT 'GB/T 2260 city code', "
        f"{LINEAGE_COLUMNS}, "
        + ", ".join(_payload_struct(topic) for topic in EVENT_CONTRACTS)
    ),
    partitioned_by=("base_topic", "observed_date"),
    keys=("base_topic", "event_id"),
    properties=CHECKPOINTED_BY_THE_JOB,
)

WINDOW = (
    "grain STRING COMMENT '5min, hour or day', "
    "window_start TIMESTAMP COMMENT 'Window start (UTC)', "
    "window_end TIMESTAMP COMMENT 'Window end (UTC), exclusive', "
    "window_date DATE COMMENT 'Partition: day of window_start', "
    "city_code STRING COMMENT 'GB/T 2260 city code', "
    "city_name_en STRING, city_name_zh STRING"
)
UPDATED = "updated_at TIMESTAMP COMMENT 'When this row was last recomputed'"

TRAFFIC_SEGMENT = TableContract(
    layer="gold", name="traffic_segment",
    comment="Per road segment and direction: speed, volume and GB/T 33171 segment index.",
    columns=parse_columns(
        f"{WINDOW}, segment_id STRING COMMENT 'source_id of the detector', road STRING, road_class STRING, "
        "direction STRING, lat DOUBLE, lon DOUBLE, observations BIGINT, "
        "volume BIGINT COMMENT 'Vehicles counted in the window', "
        "avg_speed_kmh DOUBLE COMMENT 'Volume-weighted mean speed', free_flow_speed_kmh DOUBLE, "
        "avg_occupancy_pct DOUBLE, segment_index DOUBLE COMMENT 'GB/T 33171 index 0-10', "
        f"segment_level INT COMMENT '1 free flow .. 5 severe congestion', {UPDATED}"
    ),
    partitioned_by=("window_date",),
    keys=("grain", "window_start", "segment_id", "direction"),
)

TRAFFIC_CITY = TableContract(
    layer="gold", name="traffic_city",
    comment="Traffic performance index per city and road class (all, expressway, arterial).",
    columns=parse_columns(
        f"{WINDOW}, road_class STRING COMMENT 'all, expressway or arterial', "
        "tpi DOUBLE COMMENT 'GB/T 33171 traffic performance index 0-10, vehicle-km weighted', "
        "tpi_level INT COMMENT '1 free flow .. 5 severe congestion', tpi_level_en STRING, tpi_level_zh STRING, "
        "avg_speed_kmh DOUBLE, volume BIGINT, segments BIGINT, "
        f"congested_segments BIGINT COMMENT 'Segments at level 4 or 5', {UPDATED}"
    ),
    partitioned_by=("window_date",),
    keys=("grain", "window_start", "city_code", "road_class"),
)

TOURISM_AREA = TableContract(
    layer="gold", name="tourism_area",
    comment="Per scenic area: visitors against the published maximum (LB/T 034 load), arrivals, departures.",
    columns=parse_columns(
        f"{WINDOW}, area_id STRING, area_name STRING, area_level STRING, lat DOUBLE, lon DOUBLE, "
        "max_capacity BIGINT COMMENT 'Published maximum instantaneous capacity', "
        "visitors_current BIGINT COMMENT 'Visitors inside at the last reading of the window', "
        "visitors_peak BIGINT COMMENT 'Most visitors inside during the window', "
        "load_ratio DOUBLE COMMENT 'visitors_peak / max_capacity', "
        f"arrivals BIGINT COMMENT 'Entries in the window', departures BIGINT COMMENT 'Exits in the window', {UPDATED}"
    ),
    partitioned_by=("window_date",),
    keys=("grain", "window_start", "area_id"),
)

_AQI_COLUMNS = (
    "so2 DOUBLE, no2 DOUBLE, pm10 DOUBLE, pm25 DOUBLE, co DOUBLE, o3 DOUBLE, o3_8h DOUBLE, "
    "iaqi_so2 INT, iaqi_no2 INT, iaqi_pm10 INT, iaqi_pm25 INT, iaqi_co INT, iaqi_o3 INT, iaqi_o3_8h INT, "
    "aqi INT COMMENT 'HJ 633-2012 AQI', aqi_level INT COMMENT '1 excellent .. 6 severely polluted', "
    "aqi_category_zh STRING, aqi_category_en STRING, "
    "primary_pollutant STRING COMMENT 'Pollutant(s) with the largest IAQI when AQI > 50'"
)

AIR_STATION = TableContract(
    layer="gold", name="air_station",
    comment="HJ 633-2012 AQI per monitoring station, hourly (real-time rules) and daily.",
    columns=parse_columns(f"{WINDOW}, station_id STRING, station_name STRING, lat DOUBLE, lon DOUBLE, "
                          f"readings BIGINT, {_AQI_COLUMNS}, {UPDATED}"),
    partitioned_by=("window_date",),
    keys=("grain", "window_start", "station_id"),
)

AIR_CITY = TableContract(
    layer="gold", name="air_city",
    comment="HJ 633-2012 city AQI from the mean concentrations of the city's stations, hourly and daily.",
    columns=parse_columns(f"{WINDOW}, stations BIGINT, {_AQI_COLUMNS}, {UPDATED}"),
    partitioned_by=("window_date",),
    keys=("grain", "window_start", "city_code"),
)

WATER_STATION = TableContract(
    layer="gold", name="water_station",
    comment="GB 3838-2002 class per water station (worst parameter), per hour and per day (worst of the day).",
    columns=parse_columns(
        f"{WINDOW}, station_id STRING, station_name STRING, river STRING, lat DOUBLE, lon DOUBLE, samples BIGINT, "
        "dissolved_oxygen DOUBLE, cod_mn DOUBLE, nh3_n DOUBLE, total_phosphorus DOUBLE, ph DOUBLE, "
        "water_class INT COMMENT '1-5 for I-V, 6 for worse than V', water_class_name STRING, "
        f"worst_parameter STRING, {UPDATED}"
    ),
    partitioned_by=("window_date",),
    keys=("grain", "window_start", "station_id"),
)

RIVER_GAUGE = TableContract(
    layer="gold", name="river_gauge",
    comment="River levels against warning levels per gauge, hourly and daily.",
    columns=parse_columns(
        f"{WINDOW}, gauge_id STRING, station_name STRING, river STRING, lat DOUBLE, lon DOUBLE, readings BIGINT, "
        "max_level_m DOUBLE, last_level_m DOUBLE, warning_level_m DOUBLE, guaranteed_level_m DOUBLE, "
        "margin_m DOUBLE COMMENT 'warning level minus highest level (negative: above warning)', "
        f"above_warning BOOLEAN, {UPDATED}"
    ),
    partitioned_by=("window_date",),
    keys=("grain", "window_start", "gauge_id"),
)

SECURITY_INCIDENTS = TableContract(
    layer="gold", name="security_incidents",
    comment="Incident reports per city by category, severity and status, and incidents still open.",
    columns=parse_columns(
        f"{WINDOW}, category STRING, severity STRING, status STRING COMMENT 'status reported in the window', "
        "reports BIGINT COMMENT 'Reports (status changes) in the window', "
        f"new_incidents BIGINT COMMENT 'Reports with status open (an incident opens once)', {UPDATED}"
    ),
    partitioned_by=("window_date",),
    keys=("grain", "window_start", "city_code", "category", "severity", "status"),
)

VISION_CAMERA = TableContract(
    layer="gold", name="vision_camera",
    comment="People per camera and zone (zone_id '*' is the whole view): counts, density, occupancy, flow.",
    columns=parse_columns(
        f"{WINDOW}, camera_id STRING, zone_id STRING COMMENT 'Zone id, * for the whole view', zone_kind STRING, "
        "readings BIGINT, people_last BIGINT COMMENT 'People at the last reading of the window', "
        "people_max BIGINT, people_mean DOUBLE, density_max DOUBLE COMMENT 'Persons per m2, highest', "
        "occupancy_max DOUBLE COMMENT 'People over zone capacity, highest', crowd_level STRING COMMENT "
        "'Crowd level at the last reading', line_in BIGINT, line_out BIGINT, mean_dwell_s DOUBLE, "
        "count_method STRING COMMENT 'How people_last was counted: detections, detections_lower_bound (people "
        "overlap too much for boxes: at least this many) or density', count_confidence DOUBLE COMMENT 'Share of "
        "the people at the last reading standing clear of the others (1: a count)', "
        f"{UPDATED}"
    ),
    partitioned_by=("window_date",),
    keys=("grain", "window_start", "camera_id", "zone_id"),
)

VISION_INCIDENTS = TableContract(
    layer="gold", name="vision_incidents",
    comment="Camera incidents per camera, kind and severity: opened, updated and closed in the window.",
    columns=parse_columns(
        f"{WINDOW}, camera_id STRING, kind STRING, severity STRING, opened BIGINT, updates BIGINT, closed BIGINT, "
        f"last_snapshot_uri STRING COMMENT 'Evidence snapshot of the latest event (faces blurred)', {UPDATED}"
    ),
    partitioned_by=("window_date",),
    keys=("grain", "window_start", "camera_id", "kind", "severity"),
)

CITY_OPERATIONS = TableContract(
    layer="gold", name="city_operations",
    comment="One row per city per 5-minute window with every domain side by side: what the wall's map reads.",
    columns=parse_columns(
        "window_start TIMESTAMP, window_end TIMESTAMP, window_date DATE, city_code STRING, "
        "city_name_en STRING, city_name_zh STRING, lat DOUBLE, lon DOUBLE, "
        "tpi DOUBLE, tpi_level INT, expressway_tpi DOUBLE, avg_speed_kmh DOUBLE, "
        "aqi INT COMMENT 'Latest hourly city AQI at window end', aqi_level INT, primary_pollutant STRING, "
        "visitors BIGINT, scenic_capacity BIGINT, scenic_load_ratio DOUBLE COMMENT 'Highest area load', "
        "worst_water_class INT, rivers_above_warning BIGINT, "
        "open_incidents BIGINT, incidents_reported BIGINT, "
        "cameras_online BIGINT, cameras_total BIGINT, people_counted BIGINT, vision_incidents BIGINT, "
        "open_alerts BIGINT, alert_rank INT COMMENT '0 none, 1 blue .. 4 red', "
        "overall_status STRING COMMENT 'normal, blue, yellow, orange or red', "
        f"overall_status_zh STRING, {UPDATED}"
    ),
    partitioned_by=("window_date",),
    keys=("window_start", "city_code"),
)

ALERTS = TableContract(
    layer="gold", name="alerts",
    comment="One row per alert: opened, updated while it lasts, closed when the condition clears.",
    columns=parse_columns(
        "alert_id STRING COMMENT 'Stable id: rule and subject (and opening time)', rule_id STRING, "
        "domain STRING, subject_type STRING, subject_id STRING, subject_name STRING, city_code STRING, "
        "city_name_en STRING, city_name_zh STRING, "
        "level_rank INT COMMENT '1 blue .. 4 red', level STRING COMMENT 'IV, III, II or I', colour STRING, "
        "peak_level_rank INT, value DOUBLE COMMENT 'Latest measured value', threshold DOUBLE, "
        "state STRING COMMENT 'open or closed', opened_at TIMESTAMP, updated_at TIMESTAMP, closed_at TIMESTAMP, "
        "observed_at TIMESTAMP COMMENT 'Window of the latest evaluation', version BIGINT, "
        "message_en STRING, message_zh STRING, "
        "kind STRING COMMENT 'observed (a reading crossed the threshold) or forecast (a forecast does: "
        "forecast.warnings); null on rows written before forecasts', "
        "expected_at TIMESTAMP COMMENT 'Forecast warnings: the first target time forecast to cross', "
        "lead_minutes INT COMMENT 'Forecast warnings: minutes from the forecast to expected_at'"
    ),
    keys=("alert_id",),
)

FORECASTS = TableContract(
    layer="gold", name="forecasts",
    comment="Forecasts per city (and scenic area): AQI 1-6 h, expressway TPI 15-60 min, scenic visitors 30-120 min "
            "ahead, with an 80 % interval; one issue every scoring (jobs.forecast).",
    columns=parse_columns(
        "target STRING COMMENT 'aqi, expressway_tpi or scenic_visitors', subject_type STRING, "
        "subject_id STRING COMMENT 'city_code or area_id', subject_name STRING, "
        "city_code STRING COMMENT 'GB/T 2260 city code', city_name_en STRING, city_name_zh STRING, "
        "issued_at TIMESTAMP COMMENT 'When the forecast was made (UTC)', "
        "origin TIMESTAMP COMMENT 'The latest gold window it was made from', "
        "target_time TIMESTAMP COMMENT 'The window forecast (UTC)', horizon_minutes INT, "
        "value DOUBLE COMMENT 'Point forecast, in the unit', lower_80 DOUBLE COMMENT '80 % interval, low', "
        "upper_80 DOUBLE COMMENT '80 % interval, high', unit STRING, "
        "level INT COMMENT 'The standard level of the point forecast: AQI 1-6, TPI 1-5; null for visitors', "
        "level_zh STRING, level_en STRING, "
        "primary_pollutant STRING COMMENT 'Null: the AQI model forecasts the index, not each pollutant', "
        "load_ratio DOUBLE COMMENT 'Scenic visitors: the point forecast over the published maximum', "
        "model STRING, model_version STRING, issue_date DATE COMMENT 'Partition: day of issued_at'"
    ),
    partitioned_by=("issue_date",),
    keys=("target", "subject_id", "issued_at", "horizon_minutes"),
)

FORECAST_MODELS = TableContract(
    layer="_models", name="forecast",
    comment="Trained forecast models, one row per target, version and horizon (LightGBM text): jobs.forecast.",
    columns=parse_columns(
        "target STRING, version STRING COMMENT 'UTC training time, yyyyMMddTHHmmssZ: the newest is scored', "
        "horizon INT COMMENT 'Steps of the target grid ahead', booster STRING COMMENT 'LightGBM model text', "
        "manifest STRING COMMENT 'JSON: history range, rows, interval quantiles, features', trained_at TIMESTAMP"
    ),
    partitioned_by=("target",),
    keys=("target", "version", "horizon"),
)

# the alerts a reading raised, without forecast warnings: what fusion, the daily report and the streaming
# job's own alert state count (rows from before the column are observed)
OBSERVED_ALERTS: Final = "(kind IS NULL OR kind <> 'forecast')"

GOLD: Final[tuple[TableContract, ...]] = (
    TRAFFIC_SEGMENT, TRAFFIC_CITY, TOURISM_AREA, AIR_STATION, AIR_CITY, WATER_STATION, RIVER_GAUGE,
    SECURITY_INCIDENTS, VISION_CAMERA, VISION_INCIDENTS, CITY_OPERATIONS, ALERTS,
)

# Every windowed gold table is a view of one Delta table, GOLD_FACTS (alerts, one row per alert and
# not windowed, stays a table of its own): a micro-batch writes all its gold rows in one commit.
GOLD_VIEWS: Final[dict[str, TableContract]] = {c.qualified_name: c for c in GOLD if c is not ALERTS}
# columns every view has (city fusion has no grain: its rows are 5-minute windows), top-level in
# GOLD_FACTS: the window and city filters prune partitions and files whichever view is read
GOLD_ENVELOPE: Final[tuple[str, ...]] = (
    "gold_table", "grain", "window_start", "window_end", "window_date", "city_code", "city_name_en", "city_name_zh",
    "updated_at",
)


def _figures_struct(contract: TableContract) -> str:
    fields = ", ".join(f"{column.name}: {column.definition()}"
                       for column in contract.columns if column.name not in GOLD_ENVELOPE)
    return f"{contract.name} STRUCT<{fields}> COMMENT '{contract.qualified_name} figures; null on other views'"


GOLD_FACTS = TableContract(
    layer="gold", name="facts",
    comment="Every windowed gold table in one: the window and city as columns, each view's figures in its "
            "struct column. One view per table: lakehouse.gold_facts.read_view (the wall's datasets too).",
    columns=parse_columns(
        "gold_table STRING COMMENT 'The view the row belongs to (gold.<gold_table>)', "
        "grain STRING COMMENT '5min, hour or day', "
        "window_start TIMESTAMP COMMENT 'Window start (UTC)', "
        "window_end TIMESTAMP COMMENT 'Window end (UTC), exclusive', "
        "window_date DATE COMMENT 'Partition: day of window_start', "
        "city_code STRING COMMENT 'GB/T 2260 city code', city_name_en STRING, city_name_zh STRING, "
        f"{UPDATED}, "
        "state STRING COMMENT 'Partial aggregates of the row as JSON, which coarser windows are merged from "
        "(streaming.gold.rollup); null on rows built otherwise', "
        + ", ".join(_figures_struct(view) for view in GOLD_VIEWS.values())
    ),
    partitioned_by=("gold_table", "window_date"),
    keys=("gold_table", "grain", "window_start"),
    properties=CHECKPOINTED_BY_THE_JOB,
)


DIM_CITY = TableContract(
    layer="dim", name="city",
    comment="The 13 prefectures of Heilongjiang: GB/T 2260 code, names and map position (contracts.cities). "
            "Fusion, the daily report and analysts join it; lakehouse.dimensions writes it.",
    columns=parse_columns(
        "city_code STRING COMMENT 'GB/T 2260 code of the prefecture', city_name_en STRING COMMENT 'English name', "
        "city_name_zh STRING COMMENT 'Chinese name', lat DOUBLE COMMENT 'City seat, degrees north', "
        "lon DOUBLE COMMENT 'City seat, degrees east'"
    ),
    keys=("city_code",),
)


def streaming_tables() -> list[TableContract]:
    """The Delta tables the streaming job writes, and creates at its start."""
    return [BRONZE_EVENTS, QUARANTINE, SILVER_EVENTS, GOLD_FACTS, ALERTS]


def checkpointed_by_the_job() -> list[TableContract]:
    """The streaming job's tables whose Delta checkpoints it writes itself (`lakehouse.checkpoints`)."""
    return [contract for contract in streaming_tables()
            if CHECKPOINTED_BY_THE_JOB.items() <= contract.properties.items()]


def all_contracts() -> list[TableContract]:
    """The Delta tables of the lakehouse: what jobs create at start-up and maintain (the streaming
    job's, and the forecasts' that `jobs.forecast` writes)."""
    return [*streaming_tables(), FORECASTS, FORECAST_MODELS]


def all_views() -> list[TableContract]:
    """The typed views over them: one per event topic, one per windowed gold table."""
    return [*SILVER_VIEWS.values(), *GOLD_VIEWS.values()]


def storage(contract: TableContract) -> tuple[TableContract, str | None]:
    """(the Delta table holding the contract's rows, the SQL predicate that selects them in it or None
    when the contract is a table of its own)."""
    if contract.qualified_name in GOLD_VIEWS:
        return GOLD_FACTS, f"gold_table = '{contract.name}'"
    if contract.qualified_name in SILVER_TOPIC_OF:
        return SILVER_EVENTS, f"base_topic = '{SILVER_TOPIC_OF[contract.qualified_name]}'"
    return contract, None


def by_name(qualified: str) -> TableContract:
    """`gold.traffic_city` -> its contract (a table or a view); raises KeyError listing the known names."""
    tables = {contract.qualified_name: contract for contract in [*all_contracts(), *all_views()]}
    if qualified not in tables:
        raise KeyError(f"unknown table {qualified!r}; known: {', '.join(sorted(tables))}")
    return tables[qualified]
