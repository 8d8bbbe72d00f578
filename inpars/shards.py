"""Sharded runs: split one stage's work over N processes, GPUs or machines, then merge.

``--shard I/N`` (0 <= I < N) on ``inpars.generate``, ``inpars.triples`` and ``inpars.rerank``
makes a run do only the items whose id falls in shard I of N, and write them to its own
``--output`` (a *part*). The items are the documents for generate (by document id), the query
records for triples (by the record's ``doc_id``, so a (query, doc id) pair and its repeats
land in one part) and the queries for rerank (by query id).

Which shard an id belongs to is a pure function of the id and N: the first 8 bytes of the
SHA-256 of its UTF-8 bytes, big-endian, modulo N. It is the same on every machine, Python
version and process (Python's own ``hash`` of a string is salted per process and is not), and
it does not depend on the corpus, its order, ``--max-docs`` or the other ids: the N shards
of one selection are disjoint and together hold all of it.

The shard is part of each part's settings (the manifest's ``config.shard`` for generate and
triples, ``settings.shard`` in the rerank progress file), so a part is never resumed as another
shard. ``python -m inpars.merge`` (:mod:`inpars.merge`) checks the parts and writes the file
an unsharded run writes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from inpars.errors import InparsError


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``0 <= index < count``)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise InparsError(
                f"a shard is I/N with 0 <= I < N (got {self.index}/{self.count}); "
                "shards are numbered from 0"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and shard_of(key, self.count) == self.index


def shard_of(key: str, count: int) -> int:
    """The shard (0..count-1) that ``key`` belongs to: SHA-256 of its UTF-8, mod ``count``."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse_shard(text: str | None) -> Shard | None:
    """``"I/N"`` as a :class:`Shard`; ``None`` (or ``""``) for an unsharded run.

    Raises:
        InparsError: for anything that is not two integers ``I/N`` with ``0 <= I < N``.
    """
    if text is None or text == "":
        return None
    index, slash, count = text.strip().partition("/")
    try:
        if not slash:
            raise ValueError
        return Shard(int(index), int(count))
    except ValueError:
        raise InparsError(
            f"--shard must be I/N, for example 0/4 (shard 0 of 4), got {text!r}"
        ) from None


def in_shard(key: str, shard: Shard | str | None) -> bool:
    """Whether ``key`` belongs to ``shard`` (always, for ``None``: an unsharded run)."""
    if shard is None:
        return True
    if isinstance(shard, str):
        shard = parse_shard(shard)
        if shard is None:
            return True
    return shard_of(key, shard.count) == shard.index


SHARD_HELP = (
    "run shard I of N (0 <= I < N): only the items whose id hashes (SHA-256) to shard I, "
    "written to this run's own --output; combine the N parts with python -m inpars.merge"
)


__all__ = ["SHARD_HELP", "Shard", "in_shard", "parse_shard", "shard_of"]
