"""Digital Longjiang provincial operations command centre: the platform core.

`ioc` holds what every component stands on: typed settings, the local Kafka broker, the topic
catalogue, Kafka clients, the Spark session factory and the command-line entry point.
"""

__version__ = "0.1.0"
