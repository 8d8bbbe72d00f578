"""Fuse TREC runs by reciprocal rank: any first stages, rerankers or expansions, as files.

Library use::

    from inpars.fuse import FuseConfig, fuse_runs

    fuse_runs(FuseConfig(runs=["bm25-expanded.trec", "dense.trec"], output="rrf.trec"))

Command line: ``python -m inpars.fuse --help`` (:mod:`inpars.cli.fuse`).

Reciprocal rank fusion (Cormack et al., 2009) gives each document Σ 1 / (k + rank) over the
runs that retrieved it, rank by rank of each run's top ``depth``
(:func:`inpars.runs.reciprocal_rank_fusion`), and keeps the fused top ``depth``. It is what
``inpars.search --hybrid`` does to BM25 and the bi-encoder inside one command; this does it to
runs already on disk: BM25 over a document expansion with a dense run of the original corpus
(doc2query), a trained reranker with BM25 (the pipeline's "trained + BM25"), or
runs of other tools (Pyserini, PyTerrier, ranx: the TREC format is theirs too).

Ranks are taken from each run's scores in trec_eval's order (:func:`inpars.runs.trec_order`),
not from its rank column, so the fusion ranks documents as the runs' evaluations do. A
query missing from one run is fused from the others. Queries are written in the order they
first appear in the runs. The output is an :class:`inpars.artifacts.Artifact`: its manifest
records ``k``, ``depth``, the tag and each run's fingerprint, so rerunning the same command
skips the work and another run's output is never silently replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inpars.artifacts import Artifact, file_input
from inpars.errors import InparsError
from inpars.io import atomic_write_text
from inpars.runs import format_run, rank_scores, read_run, reciprocal_rank_fusion, trec_order

DEFAULT_K = 60
"""RRF's k: Cormack et al.'s value, and ``inpars.search --hybrid``'s."""


@dataclass(kw_only=True)
class FuseConfig:
    """What to fuse and where to write it."""

    runs: list[str]  # TREC runs, two or more
    output: str  # the fused TREC run
    k: int = DEFAULT_K  # RRF's k: larger flattens the weight of the top ranks
    depth: int = 1000  # each run's top documents fused, and the fused top written
    tag: str = "inpars-rrf"  # the run tag (last column)


@dataclass
class FuseSummary:
    """What a fusion wrote (``skipped``: the same fusion was already complete on disk)."""

    queries: int
    documents: int
    skipped: bool = False


def artifact(config: FuseConfig) -> Artifact:
    """The fused run as an :class:`~inpars.artifacts.Artifact`: settings and run fingerprints."""
    settings: dict[str, Any] = {"k": config.k, "depth": config.depth, "tag": config.tag}
    # The runs' order does not change RRF's sums, but it decides the queries' order on disk.
    inputs = {f"run {i}": file_input(path) for i, path in enumerate(config.runs, start=1)}
    return Artifact(config.output, "fuse", settings, inputs)


def check_config(config: FuseConfig) -> None:
    """Refuses settings that cannot work, before anything is read."""
    if len(config.runs) < 2:
        raise InparsError("give at least two runs to fuse")
    if config.k < 0:
        raise InparsError(f"--k must be 0 or more (got {config.k})")
    if config.depth < 1:
        raise InparsError(f"--depth must be at least 1 (got {config.depth})")
    if not config.tag or any(c.isspace() for c in config.tag):
        raise InparsError(f"--tag must be one word without spaces (got {config.tag!r})")


def fuse_runs(config: FuseConfig, *, overwrite: bool = False) -> FuseSummary:
    """Writes the reciprocal rank fusion of ``config.runs`` to ``config.output``.

    Raises:
        InputError: a malformed line of a run (file, line and field named).
        InparsError: bad settings, or an output another fusion wrote (unless ``overwrite``).
    """
    check_config(config)
    output = artifact(config)
    if output.open(overwrite) == "complete":
        counts = output.sections.get("counts") or {}
        return FuseSummary(counts.get("queries", 0), counts.get("documents", 0), skipped=True)
    runs = [_top(read_run(path), config.depth) for path in config.runs]
    order = list(dict.fromkeys(query_id for run in runs for query_id in run))
    fused = reciprocal_rank_fusion(runs, config.k)
    lines = []
    documents = 0
    for query_id in order:
        scores = fused[query_id]
        top = [(doc_id, scores[doc_id]) for doc_id in trec_order(scores)[: config.depth]]
        documents += len(top)
        lines.append(format_run(rank_scores(query_id, top, config.tag)))
    atomic_write_text(config.output, "".join(lines))
    output.complete(counts={"queries": len(order), "documents": documents})
    return FuseSummary(len(order), documents)


def _top(run: dict[str, dict[str, float]], depth: int) -> dict[str, dict[str, float]]:
    """Each query's top ``depth`` documents, cut in trec_eval's order like the ranks."""
    return {
        query_id: {doc_id: scores[doc_id] for doc_id in trec_order(scores)[:depth]}
        for query_id, scores in run.items()
    }


__all__ = ["DEFAULT_K", "FuseConfig", "FuseSummary", "artifact", "check_config", "fuse_runs"]


if __name__ == "__main__":
    import sys

    from inpars.cli.fuse import main

    sys.exit(main())
