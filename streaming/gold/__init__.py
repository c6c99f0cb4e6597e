"""Gold: per-city (and per station, segment, area) KPIs and national-standard indices in windows.

Each domain module declares its views as rollups (`rollup.Rollup`): keys and measures whose partial
aggregates merge (`measures`). A micro-batch aggregates the silver of the 5-minute (or hourly) windows
it touched and merges the hour and day windows that hold them from partials: its own and those stored
with earlier gold rows. Every window it writes is complete, so its rows replace the stored ones
(`lakehouse.gold_facts.replace_windows`), and replays and late data simply recompute the same rows.
"""
