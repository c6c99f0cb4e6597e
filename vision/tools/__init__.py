"""Helper programs the set-up and the tests run outside the service (converters, an RTSP server)."""
