"""Spark Structured Streaming jobs that merge the province's feeds into the Delta lakehouse."""
