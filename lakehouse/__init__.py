"""Delta table contracts (schemas, partitioning, properties) and their idempotent creation."""
