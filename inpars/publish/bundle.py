"""Building the dataset folder: :func:`publish`, the query and triple writers, checksums."""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inpars.artifacts import file_sha256, jsonl_text
from inpars.errors import InparsError, InputError
from inpars.io import atomic_open, atomic_write_json, atomic_write_text, open_lines, read_jsonl
from inpars.publish.card import render_card
from inpars.publish.config import PublishConfig
from inpars.publish.figures import write_plots
from inpars.publish.layout import (
    CARD_FILE,
    MANIFESTS_DIR,
    QUERIES_FILE,
    STAGES,
    STATS_FILE,
    SUMS_FILE,
    TRIPLES_JSONL_FILE,
    TRIPLES_TSV_FILE,
)
from inpars.publish.provenance import gather_provenance
from inpars.publish.stats import _pair_key, _QueryStats, _TripleStats, build_stats
from inpars.published import RecordNormalizer
from inpars.records import checked_query

_WRITE_BATCH = 5_000


@dataclass
class PublishSummary:
    """What :func:`publish` wrote."""

    output: str
    queries: int = 0
    documents: int = 0
    triples: int = 0
    files: int = 0
    bytes: int = 0
    stages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def publish(config: PublishConfig) -> PublishSummary:
    """Writes the dataset folder ``config.output``; see the module docstring.

    Raises:
        InputError: for bad records (naming file, line and field), or triples whose query
            is not among the queries.
        InparsError: for bad settings, or manifests that are missing or do not match the
            files (unless ``allow_missing_manifests``).
    """
    start = time.perf_counter()
    config.check()
    provenance = gather_provenance(config)
    if provenance.notes and not config.allow_missing_manifests:
        listed = "\n".join(f"  - {note}" for note in provenance.notes)
        raise InparsError(
            "the provenance of this dataset cannot be vouched for:\n"
            f"{listed}\nFix these (publish the files exactly as inpars wrote them), or pass "
            "--allow-missing-manifests to publish anyway: the dataset card then lists them."
        )
    output = Path(config.output)
    # What the folder says of the run, without local paths and server addresses.
    published = provenance.public(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    building = output.with_name(f".{output.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    try:
        query_stats = _write_queries(config.queries, building / QUERIES_FILE)
        triple_stats = None
        if config.triples is not None:
            triple_stats = _write_triples(config, query_stats, building)
        (building / MANIFESTS_DIR).mkdir()
        for stage in STAGES:
            if stage in published.manifests:
                atomic_write_json(
                    building / MANIFESTS_DIR / f"{stage}.manifest.json",
                    published.manifests[stage],
                )
        stats = build_stats(query_stats, triple_stats, published)
        atomic_write_json(building / STATS_FILE, stats)
        plots = write_plots(building, query_stats, stats, provenance.filter_input)
        atomic_write_text(
            building / CARD_FILE,
            render_card(config, published, stats, triple_stats is not None, plots),
        )
        write_checksums(building)
        _readable_by_all(building)
        _swap_in(building, output)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    files = [p for p in output.rglob("*") if p.is_file()]
    return PublishSummary(
        output=str(output),
        queries=query_stats.count,
        documents=len(query_stats.per_doc),
        triples=triple_stats.count if triple_stats else 0,
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
        stages=[stage for stage in STAGES if stage in provenance.manifests],
        notes=provenance.notes,
        seconds=time.perf_counter() - start,
    )


def _readable_by_all(folder: Path) -> None:
    """Gives the files the permissions the umask allows (temporary files start private)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(0o666 & ~umask)


def _swap_in(building: Path, output: Path) -> None:
    """Renames the finished folder to ``output``, replacing an old one only at the end."""
    old = output.with_name(f".{output.name}.old-{os.getpid()}")
    if output.exists():
        output.rename(old)
    try:
        building.rename(output)
    except BaseException:
        if old.exists() and not output.exists():
            old.rename(output)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_queries(source: str, target: Path) -> _QueryStats:
    """Copies the normalised query records, checking each, and gathers their statistics."""
    stats = _QueryStats()
    normalize = RecordNormalizer(source)
    with atomic_open(target) as writer:
        batch: list[dict[str, Any]] = []
        for line, raw in read_jsonl(source):
            record = normalize(raw, line)
            doc_id, query = checked_query(record, source, line, allow_empty=False)
            if record.get("doc_id") != doc_id:
                record = {**record, "doc_id": doc_id}
            score = record.get("score")
            if score is not None:
                if isinstance(score, bool) or not isinstance(score, (int, float)):
                    raise InputError(
                        f"must be a number, got {type(score).__name__}", source, line, "score"
                    )
                if not math.isfinite(score):
                    # JSON readers disagree on NaN and Infinity, and no statistic survives one.
                    raise InputError(f"must be a finite number, got {score}", source, line, "score")
                stats.scores.append(float(score))
            stats.count += 1
            stats.formats[str(record.get("source_format", "inpars"))] += 1
            stats.words.append(len(query.split()))
            stats.per_doc[doc_id] += 1
            stats.keys.add(_pair_key(doc_id, query))
            batch.append(record)
            if len(batch) >= _WRITE_BATCH:
                writer.write(jsonl_text(batch, target))
                batch = []
        writer.write(jsonl_text(batch, target))
    if stats.count == 0:
        raise InputError("no queries to publish", source)
    return stats


def _write_triples(config: PublishConfig, queries: _QueryStats, target: Path) -> _TripleStats:
    """Checks the triples against the queries and copies the JSON Lines and TSV files."""
    assert config.triples is not None
    jsonl = config.triples_jsonl_path
    assert jsonl is not None
    stats = _TripleStats()
    for line, record in read_jsonl(jsonl):
        for name in ("query", "pos_id", "neg_id"):
            if not isinstance(record.get(name), str):
                raise InputError("missing or not a string (not a triple record)", jsonl, line, name)
        rank = record.get("neg_rank")
        if isinstance(rank, bool) or not isinstance(rank, int):
            raise InputError("missing or not an integer", jsonl, line, "neg_rank")
        key = _pair_key(record["pos_id"], record["query"])
        if key not in queries.keys:
            raise InputError(
                f"the query {record['query']!r} of document {record['pos_id']!r} is not among "
                f"the queries of {config.queries}: the triples were made from other queries",
                jsonl,
                line,
                "query",
            )
        stats.count += 1
        stats.queries.add(key)
        if record.get("pos_rank") is not None:
            stats.with_positive_in_top.add(key)
        stats.neg_ranks.append(rank)
    rows = 0
    for line, text in open_lines(config.triples):
        rows += 1
        if text.count("\t") != 2:
            raise InputError(
                f"expected 3 tab-separated columns (query, positive, negative), got "
                f"{text.count(chr(9)) + 1}",
                config.triples,
                line,
            )
    if rows != stats.count:
        raise InputError(
            f"{rows:,} lines but {jsonl} has {stats.count:,} triples; rerun inpars.triples to "
            "bring them back in step",
            config.triples,
        )
    shutil.copyfile(jsonl, target / TRIPLES_JSONL_FILE)
    shutil.copyfile(config.triples, target / TRIPLES_TSV_FILE)
    return stats


def write_checksums(folder: Path) -> Path:
    """Writes ``SHA256SUMS`` for every file under ``folder`` (sorted, POSIX paths)."""
    lines = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != SUMS_FILE:
            lines.append(f"{file_sha256(path)}  {path.relative_to(folder).as_posix()}\n")
    target = folder / SUMS_FILE
    atomic_write_text(target, "".join(lines))
    return target
