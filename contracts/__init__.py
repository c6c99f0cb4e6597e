"""The ground floor: what every component agrees on, and nothing else.

The event envelope (`envelope`), the feeds' and the vision service's event models (`feeds`,
`vision`), the `alerts.v1` message (`alerts`), the topic catalogue as one registry (`topics`), the
quarantine's reason codes and the payload classifier (`quality`), and the 13 prefectures as a typed
dimension (`cities`). Producers, the lakehouse, the streaming job and the wall all read it; it
imports none of them (an import-linter contract in `make test` holds the floors).
"""
