"""Gold: per-city (and per station, segment, area) KPIs and national-standard indices in windows.

Each domain module turns the silver rows of the days a batch touched into gold rows for the windows it
touched, for every grain at once (`windows.for_each_grain`): recomputed from silver, then MERGEd on
the table's keys, so replays and late data simply recompute the same rows.
"""
