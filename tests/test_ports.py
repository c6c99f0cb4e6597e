"""The test servers' ports: free, outside the range outbound connections take theirs from, never repeated."""

from __future__ import annotations

import socket

import pytest

from tests import ports
from tests.ports import ephemeral_range, free_port


def test_free_ports_lie_outside_the_ephemeral_range_and_bind() -> None:
    low, high = ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(not low <= port <= high for port in ports)
    for port in ports[:5]:
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
            server.listen()


def test_a_port_in_use_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """With only two candidates, one held by a listening server, the other one is handed out."""
    for port in range(20_000, 30_000, 2):
        with socket.socket() as held:
            try:
                held.bind(("127.0.0.1", port))
            except OSError:
                continue
            held.listen()
            monkeypatch.setattr(ports, "_candidates", lambda port=port: range(port, port + 2))
            try:
                assert ports.free_port() == port + 1
            except RuntimeError:
                continue  # its neighbour was busy too: try another pair
            return
    pytest.fail("no pair of ports to try in 20000-30000")
