"""Reads started before they are needed, adopted by the read that needs them.

The streaming job keeps what it reads back from Delta per key (gold's (view, day) partials, fusion's silver
days). A key it will soon need (the next day, before its first record) is read in the background; the
batch that needs it takes the result instead of reading, or reads again itself when that read failed. A
failed batch drops them all (`clear`): they may have been read before what failed landed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

K = TypeVar("K")
T = TypeVar("T")


class ReadsAhead(Generic[K, T]):
    """Reads on their way, each with the keys it reads."""

    def __init__(self, what: str) -> None:
        self.what = what  # for the log: what is read
        self._started: list[tuple[Future[T], frozenset[K]]] = []

    def pending(self) -> set[K]:
        """The keys of the reads on their way."""
        return {key for _, keys in self._started for key in keys}

    def start(self, keys: Collection[K], read: Callable[[], T],
              submit: Callable[[Callable[[], T]], Future[T]]) -> None:
        """`read` of `keys`, through `submit` (in the background)."""
        self._started.append((submit(read), frozenset(keys)))

    def _adopt(self, missing: Collection[K]) -> list[tuple[T, frozenset[K]]]:
        """The results, and keys, of the reads covering any of `missing` (waiting for them); a read that
        failed is logged and left out, for the caller to read again."""
        wanted = set(missing)
        adopted = []
        for entry in [entry for entry in self._started if entry[1] & wanted]:
            self._started.remove(entry)
            future, keys = entry
            try:
                adopted.append((future.result(), keys))
            except Exception as exc:
                logger.warning("%s read ahead failed (%s); reading them now", self.what, exc)
        return adopted

    def adopt_or_read(self, missing: Sequence[K], read: Callable[[list[K]], T]) -> tuple[list[T], set[K]]:
        """What `missing` needs: the reads ahead covering any of it, and `read` of the keys they
        left (in `missing`'s order); returns the results and every key they cover, which may be more
        than `missing` (a read ahead of more keys)."""
        adopted = self._adopt(missing)
        results = [result for result, _ in adopted]
        covered = {key for _, keys in adopted for key in keys}
        rest = [key for key in missing if key not in covered]
        if rest:
            results.append(read(rest))
            covered.update(rest)
        return results, covered

    def discard(self, stale: Callable[[K], bool]) -> None:
        """Drop the reads on their way that cover a key `stale` names, never to be adopted: what they read
        may be older than what the job since held of that key and let go of (an evicted day, which the
        batches after the read had changed)."""
        self._started = [(future, keys) for future, keys in self._started if not any(map(stale, keys))]

    def clear(self) -> None:
        self._started.clear()
