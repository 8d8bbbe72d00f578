"""Choosing the records to keep in bounded memory: the top k with a per-document cap
(:class:`TopK`), and the best record of each duplicate group, kept on disk."""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from inpars.errors import InparsError

# Rows per SQLite write while de-duplicating.
_DEDUP_BATCH = 5_000


class TopK:
    """The ``k`` best items offered, with at most ``max_per_group`` from any one group.

    Items are ranked by score, higher first, then by ``order`` (lower first: the earlier
    line wins ties). The result equals a greedy pass over all offered items in rank order that
    skips an item whose group is full and stops at ``k``, with memory O(k): an item dropped
    here could never come back, since the items that pushed it out stay better than it.

    ``dropped_by_cap`` and ``dropped_by_k`` count the items pushed out (or refused) because
    their group was full, or because ``k`` better items were held.
    """

    def __init__(self, k: int, max_per_group: int | None = None) -> None:
        if k < 1:
            raise InparsError(f"top-k needs k >= 1 (got {k})")
        if max_per_group is not None and max_per_group < 1:
            raise InparsError(f"the per-document cap must be at least 1 (got {max_per_group})")
        self.k = k
        self.max_per_group = max_per_group
        self.dropped_by_cap = 0
        self.dropped_by_k = 0
        self._next_id = 0
        # Live entries: id -> (score, -order, group, item). Heaps hold (score, -order, id)
        # and may hold ids no longer live (removed lazily on peek, or by _compact).
        self._live: dict[int, tuple[float, int, str, Any]] = {}
        self._heap: list[tuple[float, int, int]] = []
        self._group_heaps: dict[str, list[tuple[float, int, int]]] = {}
        self._group_counts: dict[str, int] = {}
        self._group_entries = 0  # tuples in all group heaps, live or dead

    def __len__(self) -> int:
        return len(self._live)

    def offer(self, score: float, order: int, group: str, item: Any) -> None:
        """Considers one item."""
        key = (score, -order)
        cap = self.max_per_group
        if cap is not None and self._group_counts.get(group, 0) >= cap:
            worst = self._peek(self._group_heaps[group])
            self.dropped_by_cap += 1
            if key <= worst[:2]:
                return
            self._remove(worst[2])  # the group keeps its size and the set too
            self._add(key, group, item)
            return
        if len(self._live) < self.k:
            self._add(key, group, item)
            return
        worst = self._peek(self._heap)
        self.dropped_by_k += 1
        if key <= worst[:2]:
            return
        self._remove(worst[2])
        self._add(key, group, item)

    def _add(self, key: tuple[float, int], group: str, item: Any) -> None:
        entry_id = self._next_id
        self._next_id += 1
        self._live[entry_id] = (key[0], key[1], group, item)
        heapq.heappush(self._heap, (key[0], key[1], entry_id))
        if self.max_per_group is not None:
            heapq.heappush(self._group_heaps.setdefault(group, []), (key[0], key[1], entry_id))
            self._group_counts[group] = self._group_counts.get(group, 0) + 1
            self._group_entries += 1
        limit = 2 * self.k + 64
        if len(self._heap) > limit or self._group_entries > limit:
            self._compact()

    def _remove(self, entry_id: int) -> None:
        _, _, group, _ = self._live.pop(entry_id)
        if self.max_per_group is not None:
            count = self._group_counts[group] - 1
            if count:
                self._group_counts[group] = count
            else:  # forget the group and its heap of dead entries
                del self._group_counts[group]
                self._group_entries -= len(self._group_heaps.pop(group))

    def _peek(self, heap: list[tuple[float, int, int]]) -> tuple[float, int, int]:
        """The worst live entry of a heap, dropping dead ones from its top."""
        while heap[0][2] not in self._live:
            heapq.heappop(heap)
            if heap is not self._heap:
                self._group_entries -= 1
        return heap[0]

    def _compact(self) -> None:
        """Rebuilds the heaps from the live entries, so dead entries cannot pile up."""
        self._heap = [(s, o, i) for i, (s, o, _, _) in self._live.items()]
        heapq.heapify(self._heap)
        if self.max_per_group is not None:
            groups: dict[str, list[tuple[float, int, int]]] = {}
            for i, (s, o, group, _) in self._live.items():
                groups.setdefault(group, []).append((s, o, i))
            for heap in groups.values():
                heapq.heapify(heap)
            self._group_heaps = groups
            self._group_entries = len(self._live)

    def ranked(self) -> list[tuple[float, Any]]:
        """The kept (score, item) pairs, best first."""
        entries = sorted(self._live.values(), key=lambda e: (e[0], e[1]), reverse=True)
        return [(score, item) for score, _, _, item in entries]


class _BestByKey:
    """The best (score, line) per de-duplication key, in a temporary SQLite file.

    Keeps memory flat however many distinct queries the input has.
    """

    def __init__(self, directory: Path) -> None:
        self._connection = sqlite3.connect(directory / "dedup.sqlite")
        # Scratch data: no journal, no fsync.
        self._connection.execute("PRAGMA journal_mode=OFF")
        self._connection.execute("PRAGMA synchronous=OFF")
        self._connection.execute(
            "CREATE TABLE best (key BLOB PRIMARY KEY, score REAL, line INTEGER) WITHOUT ROWID"
        )
        self._pending: list[tuple[bytes, float, int]] = []
        self.offered = 0

    def offer(self, key: bytes, score: float, line: int) -> None:
        self._pending.append((key, score, line))
        self.offered += 1
        if len(self._pending) >= _DEDUP_BATCH:
            self._flush()

    def _flush(self) -> None:
        # Lines arrive in increasing order, so "strictly better" keeps the earliest on ties.
        self._connection.executemany(
            "INSERT INTO best (key, score, line) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET score = excluded.score, line = excluded.line "
            "WHERE excluded.score > best.score",
            self._pending,
        )
        self._pending = []

    def winners(self) -> Iterator[tuple[int, float]]:
        """(line, score) of each key's best record, in line order."""
        self._flush()
        cursor = self._connection.execute("SELECT line, score FROM best ORDER BY line")
        yield from cursor

    def count(self) -> int:
        self._flush()
        return int(self._connection.execute("SELECT COUNT(*) FROM best").fetchone()[0])

    def close(self) -> None:
        self._connection.close()
