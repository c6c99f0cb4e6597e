"""Province feeds: versioned event contracts, reference data of the 13 prefectures, and a simulator.

- `feeds.contracts`: one pydantic model per topic, all extending `ioc.contracts.EventEnvelope`.
- `feeds.topics`: the topic catalogue entries and the topic -> contract registry.
- `feeds.quality`: bad-input reason codes and the pure classifier the lakehouse mirrors.
- `feeds.reference`: the province's stations, roads, scenic areas and cameras, validated at load.
- `feeds.sim`: the deterministic simulator, the ledger of what was sent, and the publisher.
"""
