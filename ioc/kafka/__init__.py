"""Kafka for the command centre: the local broker, the topic catalogue and client factories."""
