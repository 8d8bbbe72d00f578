"""Publishing a run as a dataset folder: queries, triples, manifests, statistics, card, checksums.

Library use::

    from inpars.publish import PublishConfig, publish, verify_bundle

    publish(PublishConfig(queries="filtered.jsonl", triples="triples.tsv",
                          output="scifact-inpars", license="cc-by-4.0"))
    assert verify_bundle("scifact-inpars").ok

Command line: ``python -m inpars.publish --help``, ``python -m inpars.publish verify DIR``,
``python -m inpars.publish push DIR --repo-id USER/NAME``.

The folder holds (:data:`QUERIES_FILE` and friends):

``queries.jsonl``
    the filtered queries: ``inpars.filter`` records (``doc_id``, ``query``, ``score``,
    ``log_probs``, ``tokens``, ...), one per line, best first;
``triples.jsonl`` / ``triples.tsv``
    with ``--triples``: :class:`~inpars.records.Triple` records with ids, and the same
    triples as ``query<TAB>positive text<TAB>negative text``;
``manifests/<stage>.manifest.json``
    the run manifests of the stages that made the files (generate, filter, triples);
``stats.json``
    documents, queries kept and dropped per filter rule, the score and query length
    distributions, triples and the ranks of their negatives;
``README.md``
    a Hugging Face dataset card: YAML metadata (license, task categories, size, configs)
    and how the data was made, its fields, how to load it, intended use and limitations;
``SHA256SUMS``
    the SHA-256 of every other file, in ``sha256sum -c`` format.

Provenance is checked before anything is written: the filter's manifest must name the very
bytes of ``--queries`` (by SHA-256), the generation manifest is found beside the filter's
input, and the triples manifest must name the same queries and the very TSV and JSON Lines
files. Every triple's (query, document) must be among the queries. A missing or mismatching
manifest stops the run unless ``allow_missing_manifests``, and is then listed in the card.

The folder is built under a temporary name beside ``output`` and renamed when complete, so a
folder with the final name is always whole. It loads with
``datasets.load_dataset("json", data_files=...)`` and with :func:`load_bundle`, and its
``queries.jsonl`` goes straight back into ``inpars.filter`` and ``inpars.triples``.

Uploading (``push_to_hub``) needs ``huggingface_hub`` and a token (``HF_TOKEN`` or ``hf auth
login``). Offline mode, a missing token or an unreachable hub fail within ``timeout`` seconds
with a message saying that nothing was uploaded; success is reported only with the commit the
hub returned.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inpars import __version__
from inpars.errors import InparsError, InputError
from inpars.io import JsonlWriter, atomic_write_json, atomic_write_text, open_lines, read_jsonl
from inpars.manifest import file_sha256, manifest_path, read_manifest
from inpars.published import RecordNormalizer, read_generated_queries
from inpars.records import Triple, from_dict

QUERIES_FILE = "queries.jsonl"
TRIPLES_JSONL_FILE = "triples.jsonl"
TRIPLES_TSV_FILE = "triples.tsv"
STATS_FILE = "stats.json"
CARD_FILE = "README.md"
SUMS_FILE = "SHA256SUMS"
MANIFESTS_DIR = "manifests"
STAGES = ("generate", "filter", "triples")

# License identifiers the Hugging Face Hub accepts in a card's `license:` field
# (https://huggingface.co/docs/hub/repositories-licenses). Anything else is written as
# `license: other` with the given text as `license_name`.
HUB_LICENSES = frozenset(
    """
    apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m
    bigscience-bloom-rail-1.0 bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause
    bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0
    cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0
    cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0
    cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0
    etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc
    lppl-1.3c ms-pl mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense
    zlib pddl lgpl-lr deepfloyd-if-license llama2 llama3 llama3.1 llama3.2 llama3.3 gemma
    unknown other
    """.split()  # noqa: SIM905 (a word list reads better than 75 quoted strings)
)

# The Hub's size categories: (exclusive upper bound, label).
_SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)

# Files a hub download adds to a folder that SHA256SUMS does not list.
_FOREIGN_FILES = (".gitattributes",)
_FOREIGN_DIRS = (".cache", ".huggingface", ".git")
_SUMS_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")
_HISTOGRAM_BINS = 10
_WRITE_BATCH = 5_000

INPARS_CITATION = """@inproceedings{bonifacio2022inpars,
  title = {{InPars}: Unsupervised Dataset Generation for Information Retrieval},
  author = {Bonifacio, Luiz and Abonizio, Hugo and Fadaee, Marzieh and Nogueira, Rodrigo},
  booktitle = {Proceedings of the 45th International ACM SIGIR Conference on Research and
               Development in Information Retrieval},
  year = {2022},
  doi = {10.1145/3477495.3531863}
}"""


def size_category(count: int) -> str:
    """The Hub's ``size_categories`` label for ``count`` rows (``n<1K``, ``1K<n<10K``, ...)."""
    for bound, label in _SIZE_CATEGORIES:
        if count < bound:
            return label
    return "n>1B"


# --- statistics ---------------------------------------------------------------------------


def describe(values: Sequence[float], bins: int = _HISTOGRAM_BINS) -> dict[str, Any] | None:
    """Count, min, max, mean, quantiles (linear interpolation) and an equal-width histogram.

    None for no values. The histogram has ``bins`` bins from min to max (the last includes
    max), or one bin when all values are equal.
    """
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)

    def quantile(p: float) -> float:
        position = p * (n - 1)
        low = math.floor(position)
        high = min(low + 1, n - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    least, most = ordered[0], ordered[-1]
    if most == least:
        edges, counts = [least, most], [n]
    else:
        width = (most - least) / bins
        edges = [least + i * width for i in range(bins)] + [most]
        counts = [0] * bins
        for value in ordered:
            counts[min(int((value - least) / width), bins - 1)] += 1
    return {
        "count": n,
        "min": _round(least),
        "max": _round(most),
        "mean": _round(math.fsum(ordered) / n),
        "quantiles": {f"p{p}": _round(quantile(p / 100)) for p in (5, 25, 50, 75, 95)},
        "histogram": {"edges": [_round(edge) for edge in edges], "counts": counts},
    }


def _round(value: float) -> float:
    """Floats to 6 decimals; integers stay integers."""
    return value if isinstance(value, int) else round(float(value), 6)


@dataclass
class _QueryStats:
    """What one pass over the queries learns."""

    count: int = 0
    scores: list[float] = field(default_factory=list)
    words: list[int] = field(default_factory=list)
    per_doc: Counter[str] = field(default_factory=Counter)
    keys: set[bytes] = field(default_factory=set)  # (doc id, query) digests
    format: str = "inpars"


@dataclass
class _TripleStats:
    count: int = 0
    queries: set[bytes] = field(default_factory=set)
    with_positive_in_top: set[bytes] = field(default_factory=set)
    neg_ranks: list[int] = field(default_factory=list)


def _pair_key(doc_id: str, query: str) -> bytes:
    return hashlib.blake2b(f"{doc_id}\x00{query}".encode(), digest_size=16).digest()


# --- configuration and provenance ---------------------------------------------------------


@dataclass(frozen=True)
class PublishConfig:
    """Everything :func:`publish` needs; the CLI flags map one to one."""

    queries: str  # filtered queries (inpars.filter output)
    output: str  # the dataset folder to create
    license: str  # the license of the source corpus: a Hub identifier or a name
    triples: str | None = None  # the triples TSV (inpars.triples --output)
    triples_jsonl: str | None = None  # default: the TSV with a .jsonl suffix
    name: str | None = None  # the card's title (pretty_name)
    corpus_name: str | None = None  # default: the generation manifest's corpus
    description: str | None = None
    license_link: str | None = None
    language: tuple[str, ...] = ("en",)
    repo_id: str | None = None  # the Hub repository, for the card's loading examples
    allow_missing_manifests: bool = False
    overwrite: bool = False

    @property
    def triples_jsonl_path(self) -> Path | None:
        if self.triples is None:
            return None
        return (
            Path(self.triples_jsonl)
            if self.triples_jsonl
            else Path(self.triples).with_suffix(".jsonl")
        )

    @property
    def hub_license(self) -> str:
        """The card's ``license:`` value: the given identifier, or ``other``."""
        return self.license.lower() if self.license.lower() in HUB_LICENSES else "other"

    def check(self) -> None:
        """Raises InparsError for settings or inputs that cannot work."""
        if not self.license.strip():
            raise InparsError("--license is required: the license of the source corpus")
        if not Path(self.queries).is_file():
            raise InputError("no such file", self.queries)
        inputs = [Path(self.queries)]
        if self.triples is not None:
            jsonl = self.triples_jsonl_path
            assert jsonl is not None
            for path in (Path(self.triples), jsonl):
                if not path.is_file():
                    raise InputError(
                        "no such file (pass the TSV that inpars.triples wrote as --triples; "
                        "its JSON Lines must be beside it, or name it with --triples-jsonl)",
                        path,
                    )
                inputs.append(path)
        output = Path(self.output).resolve()
        for path in inputs:
            if output == path.resolve() or output in path.resolve().parents:
                raise InparsError(f"--output must not be or contain an input ({path})")
        if output.exists() and not self.overwrite:
            raise InparsError(f"{self.output} exists; pass --overwrite to replace it")
        if self.repo_id is not None and not re.fullmatch(r"[\w.-]+/[\w.-]+", self.repo_id):
            raise InparsError(
                f"--push-to-hub needs a repository id USER/NAME, got {self.repo_id!r}"
            )


@dataclass
class Provenance:
    """The run manifests behind a dataset and what did not check out."""

    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> manifest
    notes: list[str] = field(default_factory=list)


def _find_manifest(path_text: str, relative_to: Path) -> Path | None:
    """The manifest beside a file a manifest names (as given, or relative to its folder)."""
    path = Path(path_text)
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, relative_to / path]
    for candidate in candidates:
        if manifest_path(candidate).is_file():
            return candidate
    return None


def _section(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    value = manifest.get(name)
    return value if isinstance(value, dict) else {}


def gather_provenance(config: PublishConfig) -> Provenance:
    """Finds the manifests of the stages behind the inputs and checks them against the files."""
    found = Provenance()
    queries = Path(config.queries)
    queries_sha = file_sha256(queries)
    path = manifest_path(queries)
    if not path.is_file():
        found.notes.append(
            f"no manifest beside {queries} ({path.name}): the queries were not written by "
            "inpars.filter (or its manifest was removed), so how they were made is not recorded"
        )
    elif (manifest := _read_or_note(path, found)) is not None:
        stage = manifest.get("stage")
        if stage == "filter":
            found.manifests["filter"] = manifest
            recorded = _section(manifest, "output").get("sha256")
            if recorded != queries_sha:
                found.notes.append(
                    f"{queries} is not the file inpars.filter wrote ({path.name} records another "
                    "SHA-256): it changed after filtering"
                )
            _gather_generate(manifest, path, found)
        elif stage == "generate":
            found.manifests["generate"] = manifest
            found.notes.append(
                f"{queries} holds generated queries that inpars.filter did not filter"
            )
            _check_complete(manifest, "generation", path, found)
        else:
            found.notes.append(f"{path} is not an inpars.filter manifest (stage {stage!r})")
    if config.triples is not None:
        _gather_triples(config, queries_sha, found)
    return found


def _gather_generate(filter_manifest: dict[str, Any], path: Path, found: Provenance) -> None:
    source = _section(filter_manifest, "input").get("path")
    if not isinstance(source, str):
        found.notes.append(f"{path} does not name the filter's input")
        return
    located = _find_manifest(source, path.parent)
    if located is None:
        found.notes.append(
            f"no generation manifest beside the filter's input {source} "
            f"({manifest_path(source).name}): the model and sampling are not recorded"
        )
        return
    generate_path = manifest_path(located)
    manifest = _read_or_note(generate_path, found)
    if manifest is None:
        return
    if manifest.get("stage") != "generate":
        found.notes.append(f"{generate_path} is not an inpars.generate manifest")
        return
    found.manifests["generate"] = manifest
    _check_complete(manifest, "generation", generate_path, found)
    recorded = _section(filter_manifest, "input").get("sha256")
    if located.is_file() and recorded is not None and file_sha256(located) != recorded:
        found.notes.append(
            f"{located} changed after it was filtered (its SHA-256 is not the one {path.name} "
            "records), so its manifest may describe other queries"
        )


def _gather_triples(config: PublishConfig, queries_sha: str, found: Provenance) -> None:
    assert config.triples is not None
    path = manifest_path(config.triples)
    if not path.is_file():
        found.notes.append(
            f"no manifest beside {config.triples} ({path.name}): how the negatives were mined "
            "is not recorded"
        )
        return
    manifest = _read_or_note(path, found)
    if manifest is None:
        return
    if manifest.get("stage") != "triples":
        found.notes.append(f"{path} is not an inpars.triples manifest")
        return
    found.manifests["triples"] = manifest
    _check_complete(manifest, "the triples run", path, found)
    if _section(manifest, "queries").get("sha256") != queries_sha:
        found.notes.append(
            f"the triples were made from other queries than {config.queries} ({path.name} "
            "records another SHA-256 for its --queries)"
        )
    outputs = _section(manifest, "outputs")
    jsonl = config.triples_jsonl_path
    for name, file in (("tsv", Path(config.triples)), ("jsonl", jsonl)):
        entry = outputs.get(name)
        recorded = entry.get("sha256") if isinstance(entry, dict) else None
        if recorded is not None and file is not None and recorded != file_sha256(file):
            found.notes.append(f"{file} changed after inpars.triples wrote it")


def _read_or_note(path: Path, found: Provenance) -> dict[str, Any] | None:
    """A manifest, or None with a note saying why it cannot be read."""
    try:
        return read_manifest(path)
    except InputError as exc:
        found.notes.append(str(exc))
        return None


def _check_complete(manifest: dict[str, Any], what: str, path: Path, found: Provenance) -> None:
    status = manifest.get("status")
    if status != "complete":
        found.notes.append(f"{what} did not complete ({path.name} says status {status!r})")


# --- building the folder ------------------------------------------------------------------


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
            if stage in provenance.manifests:
                atomic_write_json(
                    building / MANIFESTS_DIR / f"{stage}.manifest.json",
                    provenance.manifests[stage],
                )
        stats = build_stats(query_stats, triple_stats, provenance)
        atomic_write_json(building / STATS_FILE, stats)
        atomic_write_text(
            building / CARD_FILE, render_card(config, provenance, stats, triple_stats is not None)
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
    with JsonlWriter(target, append=False) as writer:
        batch: list[dict[str, Any]] = []
        for line, raw in read_jsonl(source):
            record = normalize(raw, line)
            doc_id, query = _check_query(record, source, line)
            if record.get("doc_id") != doc_id:
                record = {**record, "doc_id": doc_id}
            score = record.get("score")
            if score is not None:
                if isinstance(score, bool) or not isinstance(score, (int, float)):
                    raise InputError(
                        f"must be a number, got {type(score).__name__}", source, line, "score"
                    )
                stats.scores.append(float(score))
            stats.count += 1
            stats.words.append(len(query.split()))
            stats.per_doc[doc_id] += 1
            stats.keys.add(_pair_key(doc_id, query))
            batch.append(record)
            if len(batch) >= _WRITE_BATCH:
                writer.write_many(batch)
                batch = []
        writer.write_many(batch)
    if stats.count == 0:
        raise InputError("no queries to publish", source)
    stats.format = normalize.format or stats.format
    return stats


def _check_query(record: dict[str, Any], path: str, line: int) -> tuple[str, str]:
    doc_id = record.get("doc_id")
    if doc_id is None:
        raise InputError("missing doc_id", path, line, "doc_id")
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        raise InputError(
            f"must be a string or an integer, got {type(doc_id).__name__}", path, line, "doc_id"
        )
    query = record.get("query")
    if not isinstance(query, str):
        what = "missing" if query is None else f"must be a string, got {type(query).__name__}"
        raise InputError(what, path, line, "query")
    if not query.strip():
        raise InputError("empty query (run inpars.filter first)", path, line, "query")
    return str(doc_id), query


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


def build_stats(
    queries: _QueryStats, triples: _TripleStats | None, provenance: Provenance
) -> dict[str, Any]:
    """The contents of ``stats.json``."""
    per_doc = list(queries.per_doc.values())
    word_counts = Counter(queries.words)
    filter_manifest = provenance.manifests.get("filter", {})
    filter_summary = _section(filter_manifest, "summary")
    filter_config = _section(filter_manifest, "config")
    triples_manifest = provenance.manifests.get("triples", {})
    stats: dict[str, Any] = {
        "queries": queries.count,
        "documents": len(per_doc),
        "queries_per_document": {
            "min": min(per_doc),
            "max": max(per_doc),
            "mean": _round(queries.count / len(per_doc)),
        },
        "corpus_documents": _section(triples_manifest, "index").get("documents"),
        "source_format": queries.format,
        "filter": None,
        "score": None,
        "query_words": {
            **(describe(queries.words) or {}),
            "counts": {str(k): word_counts[k] for k in sorted(word_counts)},
        },
        "triples": None,
    }
    if filter_summary:
        rules = (
            "invalid",
            "empty",
            "too_short",
            "too_long",
            "copied",
            "duplicate",
            "over_doc_cap",
            "below_top_k",
        )
        stats["filter"] = {
            "read": filter_summary.get("read"),
            "kept": filter_summary.get("kept"),
            "dropped": {rule: filter_summary.get(rule) for rule in rules},
            "copies_checked": filter_summary.get("copies_checked"),
        }
    if queries.scores:
        name = filter_config.get("score") or filter_summary.get("score") or "score"
        stats["score"] = {"name": name, **(describe(queries.scores) or {})}
    if triples is not None:
        searched = len(triples.queries)
        stats["triples"] = {
            "triples": triples.count,
            "queries_with_triples": searched,
            "negatives_per_query": _round(triples.count / searched) if searched else 0.0,
            "positive_in_bm25_top": _round(len(triples.with_positive_in_top) / searched)
            if searched
            else 0.0,
            "negative_rank": describe(triples.neg_ranks),
        }
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


# --- the dataset card ---------------------------------------------------------------------


def _value(section: dict[str, Any], key: str, default: str = "not recorded") -> str:
    value = section.get(key)
    if value is None:
        return default
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "none"
    return str(value)


def _corpus_name(config: PublishConfig, provenance: Provenance) -> str:
    if config.corpus_name:
        return config.corpus_name
    for stage, key in (("generate", "corpus"), ("triples", "corpus")):
        manifest = provenance.manifests.get(stage, {})
        corpus = _section(manifest, "config").get(key) or manifest.get(key)
        if isinstance(corpus, str) and corpus:
            return Path(corpus.rstrip("/")).name or corpus
    return "an unnamed corpus"


def render_card(
    config: PublishConfig, provenance: Provenance, stats: dict[str, Any], has_triples: bool
) -> str:
    """The dataset card: Hugging Face YAML metadata, then the Markdown body."""
    from huggingface_hub import DatasetCardData

    corpus = _corpus_name(config, provenance)
    title = config.name or f"InPars synthetic queries for {corpus}"
    configs: list[dict[str, Any]] = [
        {
            "config_name": "queries",
            "data_files": [{"split": "train", "path": QUERIES_FILE}],
            "default": True,
        }
    ]
    if has_triples:
        triples_files = [{"split": "train", "path": TRIPLES_JSONL_FILE}]
        configs.append({"config_name": "triples", "data_files": triples_files})
    extra: dict[str, Any] = {}
    if config.hub_license == "other":
        extra["license_name"] = re.sub(r"[^a-z0-9.]+", "-", config.license.lower()).strip("-")
        if config.license_link:
            extra["license_link"] = config.license_link
    metadata = DatasetCardData(
        license=config.hub_license,
        language=list(config.language),
        task_categories=["text-retrieval"],
        task_ids=["document-retrieval"],
        size_categories=[size_category(stats["queries"])],
        pretty_name=title,
        tags=["synthetic", "inpars", "query-generation", "information-retrieval"],
        configs=configs,
        **extra,
    )
    body = _card_body(_Card(config, provenance, stats, has_triples, corpus, title))
    return f"---\n{metadata.to_yaml()}\n---\n\n{body}"


@dataclass(frozen=True)
class _Card:
    """What the sections of the dataset card are written from."""

    config: PublishConfig
    provenance: Provenance
    stats: dict[str, Any]
    has_triples: bool
    corpus: str
    title: str

    @property
    def generate(self) -> dict[str, Any]:
        return self.provenance.manifests.get("generate", {})

    @property
    def model(self) -> str:
        return _value(self.generate, "model")

    @property
    def license_text(self) -> str:
        text = self.config.license
        return f"[{text}]({self.config.license_link})" if self.config.license_link else text

    def stage_config(self, stage: str) -> dict[str, Any]:
        return _section(self.provenance.manifests.get(stage, {}), "config")


def _card_body(card: _Card) -> str:
    sections = [
        _card_overview(card),
        _card_fields(card),
        _card_method(card),
        ["", "## Statistics", "", *_stats_lines(card.stats)],
        _card_loading(card),
        _card_use_and_license(card),
    ]
    return "\n".join(line for section in sections for line in section)


def _card_overview(card: _Card) -> list[str]:
    config, stats, has_triples = card.config, card.stats, card.has_triples
    corpus, title, model, license_text = card.corpus, card.title, card.model, card.license_text
    versions = sorted(
        {str(m.get("inpars_version")) for m in card.provenance.manifests.values()} | {__version__}
    )
    out: list[str] = [f"# {title}", ""]
    out.append(
        f"Synthetic search queries for the documents of **{corpus}**, written by the language "
        f"model **{model}** and selected the [InPars](https://arxiv.org/abs/2202.05144) way: "
        "few-shot prompted generation, then filtering by the model's own token "
        "log-probabilities"
        + (", then BM25-mined negatives for training rerankers." if has_triples else ".")
        + f" Made with [inpars](https://github.com/inpars/inpars) {', '.join(versions)}."
    )
    if config.description:
        out += ["", config.description]
    out += [
        "",
        f"- **Queries:** {stats['queries']:,} for {stats['documents']:,} documents",
        f"- **Triples:** {stats['triples']['triples']:,}" if has_triples else "- **Triples:** none",
        f"- **Source corpus license:** {license_text}",
        "",
        "## Files",
        "",
        "| file | contents |",
        "|---|---|",
        f"| `{QUERIES_FILE}` | the filtered queries, one JSON object per line, best first |",
    ]
    if has_triples:
        out += [
            f"| `{TRIPLES_JSONL_FILE}` | (query, positive, negative) triples with document ids, "
            "ranks and scores |",
            f"| `{TRIPLES_TSV_FILE}` | the same triples as `query<TAB>positive text<TAB>negative "
            "text` (what monoT5 training reads) |",
        ]
    out += [
        f"| `{MANIFESTS_DIR}/*.manifest.json` | the run manifests of "
        f"{', '.join(s for s in STAGES if s in card.provenance.manifests) or 'no stage'} |",
        f"| `{STATS_FILE}` | the statistics below, in full |",
        f"| `{SUMS_FILE}` | SHA-256 of every file (`sha256sum -c {SUMS_FILE}`) |",
        "",
    ]
    return out


def _card_fields(card: _Card) -> list[str]:
    stats, has_triples = card.stats, card.has_triples
    out = [
        "## Fields",
        "",
        f"`{QUERIES_FILE}` ([`inpars.records.GeneratedQuery`]"
        "(https://github.com/inpars/inpars/blob/main/inpars/records.py) plus `score`):",
        "",
        "| field | meaning |",
        "|---|---|",
        "| `doc_id` | id of the corpus document the query was generated for (its positive) |",
        "| `query` | the generated query |",
        "| `score` | the filter's score of the query (see *How it was made*); higher is better |",
        "| `log_probs` | log-probability of each generated token under the model |",
        "| `tokens` | the generated tokens (same length as `log_probs`) |",
        "| `query_index`, `finish_reason` | which of the document's queries; `stop` or `length` |",
        "| `template`, `fewshot_ids` | the prompt template and its few-shot example ids |",
        "| `model`, `engine`, `temperature`, `top_p`, `max_new_tokens`, `seed` | how it was "
        "sampled |",
    ]
    if stats.get("source_format") not in (None, "inpars"):
        out += [
            "",
            f"These records were converted from the `{stats['source_format']}` format "
            "published by the InPars authors (see `inpars.published`): fields the original "
            "files had are kept, `question` became `query`, and `source_format` says where "
            "each record came from.",
        ]
    if has_triples:
        out += [
            "",
            f"`{TRIPLES_JSONL_FILE}` ([`inpars.records.Triple`]"
            "(https://github.com/inpars/inpars/blob/main/inpars/records.py)):",
            "",
            "| field | meaning |",
            "|---|---|",
            "| `query` | the query |",
            "| `pos_id` | the document it was generated for |",
            "| `neg_id` | a document sampled from the query's BM25 top results |",
            "| `neg_rank`, `bm25_score` | the negative's BM25 rank (1-based) and score |",
            "| `pos_rank` | the positive's rank in the same ranking (null: not in it) |",
            "| `query_score` | the query's filter score |",
        ]
    return out


def _card_method(card: _Card) -> list[str]:
    generate, model, has_triples = card.generate, card.model, card.has_triples
    gen_config = _section(generate, "config")
    template = _section(generate, "template")
    filter_config = card.stage_config("filter")
    triples_config = card.stage_config("triples")
    out: list[str] = []
    out += ["", "## How it was made", "", "**Generation** (`inpars.generate`):", ""]
    if generate:
        out += [
            f"- model: `{model}` via the `{_value(generate, 'engine')}` engine",
            f"- prompt template: `{_value(template, 'name')}`, few-shot examples "
            f"{_value(template, 'fewshot_ids')}",
            f"- corpus: `{_value(gen_config, 'corpus')}`; documents: "
            f"{_value(gen_config, 'max_docs', 'all')} (sample seeded by `seed`), truncated "
            f"to {_value(gen_config, 'max_doc_tokens')} tokens",
            f"- sampling: {_value(gen_config, 'num_queries_per_doc')} queries per document, "
            f"temperature {_value(gen_config, 'temperature')}, top-p "
            f"{_value(gen_config, 'top_p')}, at most {_value(gen_config, 'max_new_tokens')} "
            f"new tokens, seed {_value(gen_config, 'seed')}",
        ]
    else:
        out.append("- not recorded (no generation manifest)")
    out += ["", "**Filtering** (`inpars.filter`):", ""]
    if filter_config:
        out += [
            f"- score: `{_value(filter_config, 'score')}`; kept the top "
            f"{_value(filter_config, 'keep_top_k')}, at most "
            f"{_value(filter_config, 'max_per_doc', 'any number of')} per document",
            f"- dropped: queries of fewer than {_value(filter_config, 'min_words')} or more "
            f"than {_value(filter_config, 'max_words', 'unlimited')} words; exact duplicates "
            f"after normalisation: {'yes' if filter_config.get('dedup') else 'no'}; queries "
            "copying their document: "
            + (
                f"yes (threshold {_value(filter_config, 'copy_threshold')})"
                if filter_config.get("corpus") and filter_config.get("copy_threshold")
                else "not checked"
            ),
        ]
    else:
        out.append("- not recorded (no filter manifest)")
    if has_triples:
        out += ["", "**Negatives** (`inpars.triples`):", ""]
        if triples_config:
            out.append(
                f"- BM25 (Pyserini/Lucene, k1 {_value(triples_config, 'k1')}, b "
                f"{_value(triples_config, 'b')}, {_value(triples_config, 'stemmer')} stemmer), "
                f"{_value(triples_config, 'negatives_per_query')} negative(s) per query drawn "
                f"at random from the top {_value(triples_config, 'depth')}, seed "
                f"{_value(triples_config, 'seed')}; never the query's own document nor another "
                "document the same query was generated for"
            )
        else:
            out.append("- not recorded (no triples manifest)")
    if card.provenance.notes:
        out += ["", "**Provenance notes** (published with `--allow-missing-manifests`):", ""]
        out += [f"- {note}" for note in card.provenance.notes]
    return out


def _card_loading(card: _Card) -> list[str]:
    config, has_triples = card.config, card.has_triples
    out: list[str] = []
    out += ["", "## How to load", "", "With 🤗 Datasets, from this folder:", "", "```python"]
    out.append("from datasets import load_dataset")
    out.append("")
    out.append(f'queries = load_dataset("json", data_files="{QUERIES_FILE}", split="train")')
    if has_triples:
        out.append(
            f'triples = load_dataset("json", data_files="{TRIPLES_JSONL_FILE}", split="train")'
        )
    out.append("```")
    repo = config.repo_id or "USER/NAME"
    out += ["", "or from the Hub:", "", "```python", "from datasets import load_dataset", ""]
    out.append(f'queries = load_dataset("{repo}", "queries", split="train")')
    if has_triples:
        out.append(f'triples = load_dataset("{repo}", "triples", split="train")')
    out += ["```", "", "With inpars:", "", "```bash"]
    out.append(f"python -m inpars.publish verify .          # check {SUMS_FILE}")
    out.append(
        f"python -m inpars.triples --queries {QUERIES_FILE} --corpus CORPUS --output t.tsv"
        "   # new negatives"
    )
    out.append(
        f"python -m inpars.filter --input {QUERIES_FILE} --output fewer.jsonl --keep-top-k 1000"
    )
    out += ["```", "", "or `inpars.publish.load_bundle(folder)` in Python."]
    return out


def _card_use_and_license(card: _Card) -> list[str]:
    config, has_triples = card.config, card.has_triples
    corpus, model, license_text = card.corpus, card.model, card.license_text
    out: list[str] = []
    out += [
        "",
        "## Intended use",
        "",
        f"Training and studying rerankers and retrievers for {corpus} when no labelled "
        "queries exist, and research on synthetic training data for information retrieval. "
        "The queries are not real user queries and are not relevance judgments: do not use "
        "them as a test collection.",
        "",
        "## Limitations",
        "",
        "- The queries were written by a language model. They inherit its errors, biases and "
        "style, and a query may be unanswerable, off-topic, or not specific to its document.",
        "- Filtering keeps what the model found likely, which is not the same as relevant; "
        "short, generic and copied-from-the-document queries are favoured by some scores.",
        "- Each query has one positive, the document it was generated for; other relevant "
        "documents are unlabelled.",
    ]
    if has_triples:
        out.append(
            "- Negatives are sampled from BM25 results and are not judged: some are relevant "
            "(false negatives)."
        )
    out += [
        "- Only documents sampled for generation have queries; the corpus is not covered evenly.",
        f"- Language: {', '.join(config.language)}; the prompts and few-shot examples shape the "
        "queries' style.",
        "",
        "## License",
        "",
        f"The documents come from {corpus}, licensed {license_text}. This dataset contains "
        "queries derived from them"
        + (" and their texts (in the TSV)" if has_triples else "")
        + ", and is released under the same terms. The terms of the generating model "
        f"({model}) may add conditions on the use of its output; check them.",
        "",
        "## Checksums",
        "",
        f"`{SUMS_FILE}` lists the SHA-256 of every file. Check a downloaded copy with "
        f"`python -m inpars.publish verify FOLDER` or `sha256sum -c {SUMS_FILE}`.",
        "",
        "## Citation",
        "",
        "```bibtex",
        INPARS_CITATION,
        "```",
        "",
    ]
    return out


def _stats_lines(stats: dict[str, Any]) -> list[str]:
    rows = [
        ("queries", f"{stats['queries']:,}"),
        ("documents with queries", f"{stats['documents']:,}"),
        (
            "queries per document",
            "{min} to {max}, mean {mean}".format(**stats["queries_per_document"]),
        ),
    ]
    if stats.get("corpus_documents") is not None:
        rows.append(("documents in the corpus (BM25 index)", f"{stats['corpus_documents']:,}"))
    filtered = stats.get("filter")
    if filtered:
        rows.append(("generated queries read by the filter", f"{filtered['read']:,}"))
        for rule, count in filtered["dropped"].items():
            if rule == "copied" and not filtered.get("copies_checked"):
                rows.append(("dropped: copied", "not checked"))
            elif count is not None:
                rows.append((f"dropped: {rule.replace('_', ' ')}", f"{count:,}"))
        rows.append(("kept", f"{filtered['kept']:,}"))
    score = stats.get("score")
    if score:
        q = score["quantiles"]
        rows.append(
            (
                f"score ({score['name']})",
                f"min {score['min']}, p25 {q['p25']}, median {q['p50']}, p75 {q['p75']}, "
                f"max {score['max']}",
            )
        )
    words = stats["query_words"]
    rows.append(
        (
            "query length (words)",
            f"min {words['min']}, median {words['quantiles']['p50']}, mean {words['mean']}, "
            f"max {words['max']}",
        )
    )
    triples = stats.get("triples")
    if triples:
        rows.append(("triples", f"{triples['triples']:,}"))
        rows.append(("queries with triples", f"{triples['queries_with_triples']:,}"))
        rows.append(("positive in the BM25 top results", f"{triples['positive_in_bm25_top']:.1%}"))
        if triples.get("negative_rank"):
            rows.append(("median negative rank", f"{triples['negative_rank']['quantiles']['p50']}"))
    return ["| statistic | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


# --- reading and checking a published folder ----------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """A published dataset folder, read with inpars' own readers."""

    path: Path

    @property
    def queries_path(self) -> Path:
        return self.path / QUERIES_FILE

    @property
    def triples_jsonl_path(self) -> Path | None:
        path = self.path / TRIPLES_JSONL_FILE
        return path if path.is_file() else None

    @property
    def triples_tsv_path(self) -> Path | None:
        path = self.path / TRIPLES_TSV_FILE
        return path if path.is_file() else None

    def queries(self) -> Iterator[dict[str, Any]]:
        """The query records, streaming."""
        for _, record in read_generated_queries(self.queries_path):
            yield record

    def triples(self) -> Iterator[Triple]:
        """The triples, streaming (none when the folder has none)."""
        if self.triples_jsonl_path is None:
            return
        for _, record in read_jsonl(self.triples_jsonl_path):
            yield from_dict(Triple, record)

    def stats(self) -> dict[str, Any]:
        """``stats.json``."""
        path = self.path / STATS_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the statistics: {exc}", path) from None

    def manifests(self) -> dict[str, dict[str, Any]]:
        """The run manifests, by stage."""
        found = {}
        for stage in STAGES:
            path = self.path / MANIFESTS_DIR / f"{stage}.manifest.json"
            if path.is_file():
                found[stage] = read_manifest(path)
        return found


def load_bundle(folder: str | Path) -> Bundle:
    """A published folder (made by :func:`publish`, or downloaded from the Hub).

    Raises:
        InputError: when the folder lacks ``queries.jsonl``.
    """
    bundle = Bundle(Path(folder))
    if not bundle.queries_path.is_file():
        raise InputError(f"not an inpars dataset folder (no {QUERIES_FILE})", folder)
    return bundle


@dataclass
class VerifyResult:
    """The outcome of :func:`verify_bundle`."""

    checked: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)  # files SHA256SUMS does not name

    @property
    def ok(self) -> bool:
        return not self.mismatched and not self.missing


def read_checksums(path: Path) -> dict[str, str]:
    """``SHA256SUMS`` as {relative path: sha256}.

    Raises:
        InputError: for a missing file, a malformed line, or a path leaving the folder.
    """
    if not path.is_file():
        raise InputError(
            f"no {SUMS_FILE}: not a folder made by inpars.publish, or an incomplete download",
            path,
        )
    listed: dict[str, str] = {}
    for line, text in open_lines(path):
        if not text.strip():
            continue
        match = _SUMS_LINE.match(text)
        if match is None:
            raise InputError("expected '<64 hex digits>  <file>'", path, line)
        name = match.group(2)
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or not parts:
            raise InputError(f"unsafe path {name!r}: must stay inside the folder", path, line)
        listed[name] = match.group(1)
    return listed


def verify_bundle(folder: str | Path) -> VerifyResult:
    """Checks every file ``SHA256SUMS`` lists; also reports files it does not list.

    Files that Hub downloads add (``.gitattributes``, ``.cache/``) are not reported.
    """
    folder = Path(folder)
    listed = read_checksums(folder / SUMS_FILE)
    result = VerifyResult()
    for name, expected in listed.items():
        path = folder / name
        if not path.is_file():
            result.missing.append(name)
        elif file_sha256(path) != expected:
            result.mismatched.append(name)
        else:
            result.checked.append(name)
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or relative.as_posix() in listed or path.name == SUMS_FILE:
            continue
        if relative.parts[0] in _FOREIGN_DIRS or relative.as_posix() in _FOREIGN_FILES:
            continue
        result.unlisted.append(relative.as_posix())
    return result


# --- the Hugging Face Hub -----------------------------------------------------------------


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    timeout: float = 10.0,
    commit_message: str | None = None,
) -> str:
    """Uploads a verified dataset folder to a Hub dataset repository; returns the commit URL.

    Fails fast, before any upload, in offline mode (``HF_HUB_OFFLINE``), without a token, and
    when the hub does not answer within ``timeout`` seconds or rejects the token.

    Raises:
        InparsError: saying why nothing was (or may not have been) uploaded.
    """
    result = verify_bundle(folder)
    if not result.ok:
        raise InparsError(
            f"{folder} fails its checksums (changed: {', '.join(result.mismatched) or 'none'}; "
            f"missing: {', '.join(result.missing) or 'none'}); nothing was uploaded"
        )
    try:
        import huggingface_hub
        from huggingface_hub import HfApi, constants
    except ImportError:
        raise InparsError("uploading needs huggingface_hub: pip install huggingface_hub") from None
    if constants.HF_HUB_OFFLINE:
        raise InparsError(
            "HF_HUB_OFFLINE is set, so nothing was uploaded; unset it when online and run "
            f"python -m inpars.publish push {folder} --repo-id {repo_id}"
        )
    token = huggingface_hub.get_token()
    if not token:
        raise InparsError(
            "no Hugging Face token (set HF_TOKEN, or run `hf auth login`), so nothing was uploaded"
        )
    endpoint = constants.ENDPOINT
    _check_hub(endpoint, token, timeout, folder, repo_id)
    api = HfApi(endpoint=endpoint, token=token)
    message = commit_message or f"Upload dataset made with inpars {__version__}"
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="dataset",
            commit_message=message,
        )
    except Exception as exc:  # the hub client raises many kinds (HTTP, network, xet)
        raise InparsError(
            f"uploading to {endpoint}/datasets/{repo_id} failed ({type(exc).__name__}: {exc}); "
            "no commit was confirmed, so do not count on anything being published"
        ) from None
    return str(getattr(commit, "commit_url", None) or f"{endpoint}/datasets/{repo_id}")


def _check_hub(endpoint: str, token: str, timeout: float, folder: str | Path, repo_id: str) -> None:
    """Asks the hub who the token belongs to: proves it answers, and accepts the token."""
    import httpx

    retry = f"python -m inpars.publish push {folder} --repo-id {repo_id}"
    try:
        response = httpx.get(
            f"{endpoint.rstrip('/')}/api/whoami-v2",
            headers={"authorization": f"Bearer {token}"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise InparsError(
            f"cannot reach the Hugging Face Hub at {endpoint} ({type(exc).__name__}: {exc}); "
            f"nothing was uploaded. When online, run: {retry}"
        ) from None
    if response.status_code == 401:
        raise InparsError(f"{endpoint} rejected the Hugging Face token (401); nothing was uploaded")
    if response.status_code >= 400:
        raise InparsError(
            f"{endpoint} answered {response.status_code} to a token check; nothing was "
            f"uploaded. Try again later: {retry}"
        )


# --- command line -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpars.publish",
        description="Bundle a run into a dataset folder: the filtered queries, the triples "
        "(JSON Lines with ids, and TSV), the run manifests of every stage, statistics, a "
        "Hugging Face dataset card (README.md) and SHA256SUMS. Optionally upload it to the "
        "Hugging Face Hub.",
        epilog="Other commands: 'python -m inpars.publish verify DIR' checks a folder's "
        "SHA256SUMS (e.g. after downloading it); 'python -m inpars.publish push DIR --repo-id "
        "USER/NAME' uploads a folder made earlier.",
    )
    parser.add_argument("--queries", required=True, help="the filtered queries (inpars.filter)")
    parser.add_argument(
        "--triples", help="the triples TSV written by inpars.triples (its .jsonl beside it)"
    )
    parser.add_argument("--triples-jsonl", help="the triples JSON Lines, if not beside the TSV")
    parser.add_argument("--output", required=True, help="the dataset folder to create")
    parser.add_argument(
        "--license",
        required=True,
        help="the license of the source corpus, written into the card: a Hugging Face "
        "identifier (cc-by-4.0, cc-by-sa-4.0, odc-by, apache-2.0, ...) or a name, which is "
        "written as 'other' with that name (add --license-link)",
    )
    parser.add_argument("--license-link", help="URL of the license text")
    parser.add_argument("--name", help="the dataset's title (default: from the corpus)")
    parser.add_argument("--corpus-name", help="the corpus, in words (default: from the manifests)")
    parser.add_argument("--description", help="a paragraph for the card")
    parser.add_argument(
        "--language",
        nargs="+",
        default=["en"],
        help="ISO 639-1 codes of the queries' language(s) (default: en)",
    )
    parser.add_argument(
        "--allow-missing-manifests",
        action="store_true",
        help="publish even when a stage's manifest is missing or does not match the files "
        "(the card lists what is not recorded)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    parser.add_argument(
        "--push-to-hub",
        metavar="REPO_ID",
        help="then upload the folder to this Hugging Face dataset repository (needs a token: "
        "HF_TOKEN or `hf auth login`)",
    )
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the Hub to answer before giving up (default: %(default)s)",
    )
    return parser


def build_verify_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpars.publish verify",
        description="Check the SHA-256 of every file a dataset folder's SHA256SUMS lists. Exit "
        "status 0 when all match, 1 when a file is missing or differs.",
    )
    parser.add_argument("folder", help="a dataset folder (made by inpars.publish or downloaded)")
    return parser


def build_push_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpars.publish push",
        description="Verify a dataset folder and upload it to the Hugging Face Hub.",
    )
    parser.add_argument("folder", help="a folder made by python -m inpars.publish")
    parser.add_argument("--repo-id", required=True, help="the dataset repository, USER/NAME")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default: 10)")
    return parser


def config_from_args(args: argparse.Namespace) -> PublishConfig:
    return PublishConfig(
        queries=args.queries,
        output=args.output,
        license=args.license,
        triples=args.triples,
        triples_jsonl=args.triples_jsonl,
        name=args.name,
        corpus_name=args.corpus_name,
        description=args.description,
        license_link=args.license_link,
        language=tuple(args.language),
        repo_id=args.push_to_hub,
        allow_missing_manifests=args.allow_missing_manifests,
        overwrite=args.overwrite,
    )


def print_summary(summary: PublishSummary, console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"inpars.publish → {summary.output}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("queries", f"{summary.queries:,}")
    table.add_row("documents", f"{summary.documents:,}")
    table.add_row("triples", f"{summary.triples:,}")
    table.add_row("manifests", ", ".join(summary.stages) or "none")
    table.add_row("files", f"{summary.files:,} ({summary.bytes / 1e6:,.1f} MB)")
    table.add_row("seconds", f"{summary.seconds:,.1f}")
    console.print(table)
    for note in summary.notes:
        console.print(f"[yellow]provenance note:[/] {note}")


def print_verify(result: VerifyResult, folder: str, console: Any) -> None:
    for name in result.missing:
        console.print(f"[bold red]missing:[/] {name}")
    for name in result.mismatched:
        console.print(f"[bold red]checksum mismatch:[/] {name}")
    for name in result.unlisted:
        console.print(f"[yellow]not in {SUMS_FILE}:[/] {name}")
    if result.ok:
        console.print(f"[green]OK[/]: {len(result.checked)} files in {folder} match {SUMS_FILE}")
    else:
        console.print(
            f"[bold red]FAILED[/]: {len(result.mismatched)} changed, {len(result.missing)} "
            f"missing, {len(result.checked)} OK"
        )


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    console = Console(stderr=True)
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else None
    try:
        if command == "verify":
            args = build_verify_parser().parse_args(argv[1:])
            result = verify_bundle(args.folder)
            print_verify(result, args.folder, console)
            return 0 if result.ok else 1
        if command == "push":
            args = build_push_parser().parse_args(argv[1:])
            url = push_to_hub(args.folder, args.repo_id, private=args.private, timeout=args.timeout)
            console.print(f"[green]uploaded[/]: {url}")
            return 0
        args = build_parser().parse_args(argv)
        summary = publish(config_from_args(args))
    except InparsError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: nothing was written[/]")
        return 130
    print_summary(summary, console)
    if args.push_to_hub:
        try:
            url = push_to_hub(
                summary.output, args.push_to_hub, private=args.private, timeout=args.timeout
            )
        except InparsError as exc:
            console.print(
                f"[bold red]error:[/] {exc}\nThe dataset folder {summary.output} is complete."
            )
            return 3
        console.print(f"[green]uploaded[/]: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
