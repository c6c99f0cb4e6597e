"""National standards as Spark column expressions: pure functions from columns to columns.

Each module implements one standard so it can be tested on a tiny local session with worked examples:
`aqi` (HJ 633-2012), `water` (GB 3838-2002), `tpi` (GB/T 33171-2016), `tourism` (LB/T 034-2014),
`warning` (the four Chinese warning levels).
"""
