"""Sharp Eyes camera analytics: read cameras, detect and track people and vehicles with ONNX Runtime,
count and judge crowds per zone, and publish counts, incidents and camera health to Kafka.

Layout (one module per runtime role):
    config.py            the one canonical camera/worker configuration model (YAML or TOML)
    capture.py           one reader thread per camera, bounded queue, watchdog, reconnect with backoff
    detection/core.py    `Detections`, the single validated type that flows through the pipeline
    detectors/           ONNX Runtime session + decoder plugins (nanodet, yolo, ssd)
    tracker/             ByteTrack multi-object tracking
    analytics/           zones, counting lines, incidents, video-quality diagnosis
    snapshots.py         face-blurred evidence JPEGs in an object-store folder
    contracts.py         event contracts (JSON Schemas in schemas/), topics.py their topics
    worker.py            the service loop; cli.py `ioc vision ...`
"""
