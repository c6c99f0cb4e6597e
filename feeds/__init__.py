"""Province feeds: reference data of the 13 prefectures, and a simulator of the province's feeds.

The feeds' event contracts live on the ground floor, with everyone else's: `contracts.feeds` (one
pydantic model per topic, all extending `contracts.envelope.EventEnvelope`), `contracts.topics` (the
catalogue and the topic -> contract registry), `contracts.quality` (the bad-input reason codes and
the pure classifier the lakehouse mirrors). Here:

- `feeds.reference`: the province's stations, roads, scenic areas and cameras, validated at load.
- `feeds.sim`: the deterministic simulator, the ledger of what was sent, and the publisher.
"""
