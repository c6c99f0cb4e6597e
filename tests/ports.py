"""Free TCP ports for test and bench servers, chosen where no outbound connection can take them first.

A port handed out here is often bound minutes later: the wall's, for one, only after the history is sent
and the streaming job has started. In the meantime every outbound connection (Kafka clients, Spark's
RPC, Superset's) takes its local port from the kernel's ephemeral range, and once took the wall's: CI
failed with "port 51311 on 127.0.0.1 is already in use". So ports come from below that range, drawn at
random, checked free, and never handed out twice in one process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000
_handed_out: set[int] = set()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outbound connections' local ports (Linux's default when it cannot be read)."""
    try:
        low, high = (int(value) for value in _EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def _candidates() -> range:
    low, high = ephemeral_range()
    if low - _LOWEST >= 2_000:
        return range(_LOWEST, low)
    return range(high + 1, 65_536)  # an unusual kernel whose ephemeral range starts low


def free_port() -> int:
    """A port on 127.0.0.1 that nothing is bound to now, outside the ephemeral range."""
    candidates = _candidates()
    draw = random.SystemRandom()
    for _ in range(500):
        port = draw.choice(candidates)
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port found in {candidates.start}-{candidates.stop - 1} after 500 draws: "
                       "is something holding most of them? (see `ss -ltn`)")
