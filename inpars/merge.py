"""Merge the parts of a sharded run into the file an unsharded run writes.

Command line (:mod:`inpars.cli.merge`)::

    python -m inpars.merge --output queries.jsonl queries.0.jsonl queries.1.jsonl queries.2.jsonl

The parts are the ``--output`` files of ``inpars.generate``, ``inpars.triples`` (the TSV;
its JSON Lines comes along) or ``inpars.rerank`` runs made with ``--shard 0/N`` ..
``--shard N-1/N`` (:mod:`inpars.shards`), given in any order. Before anything is written,
the merge checks that:

- every part was written by the same stage and is complete (its manifest says so);
- the parts are exactly shards 0..N-1 of one N, each once;
- they were made with the same settings and inputs (the manifests' ``settings`` but the
  shard, and ``inputs`` by fingerprint: :func:`inpars.artifacts.differences`, the rule a
  resumed run obeys);
- every line of every part lands in the merged file, in its place.

The merged file is in the order an unsharded run writes (each stage's canonical order):

- generate: the documents in corpus order (the selection's order, for ``--max-docs`` and
  ``--doc-ids``), each document's queries by query index; an unsharded run rewrites its
  output in this order when it completes (:func:`order_generated`);
- triples: the order of the queries file (a record's triples where it first occurs), in
  the TSV and the JSON Lines alike;
- rerank: the order of the queries file.

Dense embeddings folders encoded with ``python -m inpars.search --shard I/N`` are merged by
the same command into the corpus's embeddings folder (:mod:`inpars.embedding_shards`).

The merge rereads the corpus (generate) or the queries file (triples, rerank) to know that
order; ``--corpus`` and ``--queries`` give it where the parts' recorded paths do not hold
here. It writes the merged output atomically, with the manifest an unsharded run would
have (complete: the same command then finds nothing to do), plus ``merged_from``: the
parts, their sizes and SHA-256.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from inpars.artifacts import (
    corpus_fingerprint,
    differences,
    file_entry,
    file_sha256,
    read_producer,
    write_manifest,
)
from inpars.embedding_shards import is_embeddings_part, merge_embeddings
from inpars.errors import InparsError
from inpars.shards import Shard, parse_shard, shard_of

_STAGES = ("generate", "triples", "rerank")


# --- blocks of lines --------------------------------------------------------------------


class _Blocks:
    """A file read as runs of consecutive lines with the same key, with one block of look-ahead."""

    def __init__(self, handle: IO[bytes], key_of: Callable[[bytes], Any], name: str) -> None:
        self._lines = iter(handle)
        self._key_of = key_of
        self.name = name
        self._next_line: bytes | None = next(self._lines, None)
        self.key: Any = None if self._next_line is None else key_of(self._next_line)

    @property
    def exhausted(self) -> bool:
        return self._next_line is None

    def take(self) -> bytes:
        """The current block's bytes; moves on to the next block."""
        key, chunk = self.key, []
        while self._next_line is not None and self.key == key:
            chunk.append(self._next_line)
            self._next_line = next(self._lines, None)
            self.key = None if self._next_line is None else self._key_of(self._next_line)
        return b"".join(chunk)


def _generated_key(line: bytes) -> str:
    return str(json.loads(line)["doc_id"])


def _triple_key(line: bytes) -> tuple[str, str]:
    record = json.loads(line)
    return record["query"], record["pos_id"]


def _run_key(line: bytes) -> str:
    return line.split(maxsplit=1)[0].decode("utf-8")


@contextmanager
def _atomic_output(path: Path) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` (fsynced) only when the block completes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.merging-{os.getpid()}")
    try:
        with tmp.open("wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def order_generated(output: Path, doc_ids: Iterable[str]) -> None:
    """Rewrites a generate output in the order of ``doc_ids`` (its canonical order).

    Each document's lines are consecutive (a document is written whole, in one batch) and
    keep their order. One pass maps each document to its byte range (memory: one entry per
    document, ~150 bytes), a second copies the ranges in order into a file that replaces
    the output atomically.

    Raises:
        InparsError: when the output holds a document that ``doc_ids`` does not list.
    """
    if not output.exists():
        return
    ranges: dict[str, tuple[int, int]] = {}
    with output.open("rb") as handle:
        blocks, offset = _Blocks(handle, _generated_key, str(output)), 0
        while not blocks.exhausted:
            doc_id, chunk = blocks.key, blocks.take()
            if doc_id in ranges:
                raise InparsError(f"{output}: the queries of document {doc_id!r} are not together")
            ranges[doc_id] = (offset, len(chunk))
            offset += len(chunk)
    with output.open("rb") as source, _atomic_output(output) as out:
        for doc_id in doc_ids:
            found = ranges.pop(doc_id, None)
            if found is not None:
                source.seek(found[0])
                out.write(source.read(found[1]))
        if ranges:
            raise InparsError(
                f"{output}: holds queries of {len(ranges)} document(s) outside this run's "
                f"selection, e.g. {next(iter(ranges))!r}"
            )


def _interleave(
    order: Iterable[tuple[Any, int]],
    parts: list[_Blocks],
    outputs: list[IO[bytes]],
    *,
    required: bool,
    companions: list[IO[bytes]] | None = None,
) -> None:
    """Writes each (key, shard)'s block from part ``shard``, in ``order``.

    ``required``: every key must have a block (generate); otherwise a key without one is a
    query that produced nothing. ``companions``: files whose lines pair one to one with the
    parts' lines (the triples TSV), copied alongside into ``outputs[1]``.
    """
    for key, shard in order:
        part = parts[shard]
        if part.key == key:
            chunk = part.take()
            outputs[0].write(chunk)
            if companions is not None:
                outputs[1].write(_take_lines(companions[shard], chunk.count(b"\n")))
        elif required:
            raise InparsError(f"{part.name}: has no lines for {key!r}, which its shard holds")
    for part in parts:
        if not part.exhausted:
            raise InparsError(
                f"{part.name}: holds {part.key!r}, which is not in this shard or not in the "
                "order of the input; were the parts made from the same input?"
            )


def _take_lines(handle: IO[bytes], count: int) -> bytes:
    lines = [handle.readline() for _ in range(count)]
    if not all(line.endswith(b"\n") for line in lines):
        raise InparsError(f"{handle.name}: has fewer lines than its JSON Lines")
    return b"".join(lines)


# --- the parts --------------------------------------------------------------------------


@dataclass
class Part:
    """One part as its manifest (:mod:`inpars.artifacts`) describes it."""

    path: Path
    stage: str
    shard: Shard
    settings: dict[str, Any]  # the manifest's settings but the shard: equal across parts
    record: dict[str, Any]  # the whole manifest


def _load_part(path: Path) -> Part:
    record = read_producer(path)
    if record is None:
        raise InparsError(f"{path}: no manifest beside it; is it a part?")
    complete = record.get("status") == "complete"
    stage = record.get("stage")
    if stage not in _STAGES:
        raise InparsError(f"{path}: a {stage!r} output; merge combines generate, triples, rerank")
    if not path.exists():
        raise InparsError(f"{path}: missing (its manifest is there)")
    if not complete:
        raise InparsError(f"{path}: is not complete; rerun its command to finish it")
    settings = dict(record.get("settings") or {})
    shard = parse_shard(settings.pop("shard", None))
    if shard is None:
        raise InparsError(f"{path}: was not made with --shard; it is a whole run already")
    for name, entry in (record.get("outputs") or {}).items():
        target = path if name == "tsv" else Path(entry["path"])
        if not target.exists() or file_sha256(target) != entry.get("sha256"):
            raise InparsError(f"{target}: changed since its run completed (SHA-256 differs)")
    return Part(path, str(stage), shard, settings, record)


def check_parts(paths: Iterable[str | Path]) -> list[Part]:
    """The parts, sorted by shard index, once they are shown to be one complete run.

    Raises:
        InparsError: naming the part and what is wrong: missing, incomplete, another stage,
            other settings, a shard missing or given twice, or shards of different N.
    """
    parts = [_load_part(Path(p)) for p in paths]
    if not parts:
        raise InparsError("no parts given")
    first = parts[0]
    for part in parts[1:]:
        if part.stage != first.stage:
            raise InparsError(f"{part.path}: a {part.stage} part; {first.path} is {first.stage}")
        if part.shard.count != first.shard.count:
            raise InparsError(
                f"{part.path}: is shard {part.shard} but {first.path} is shard {first.shard}: "
                "parts of one run share N"
            )
        found = differences(
            {**part.record, "settings": part.settings},
            first.stage,
            first.settings,
            first.record.get("inputs") or {},
        )
        if found:
            raise InparsError(
                f"{part.path}: made with other settings or inputs than {first.path} "
                f"({'; '.join(found)})"
            )
    count = first.shard.count
    by_index: dict[int, Part] = {}
    for part in parts:
        if part.shard.index in by_index:
            raise InparsError(
                f"shard {part.shard} given twice: {by_index[part.shard.index].path}, {part.path}"
            )
        by_index[part.shard.index] = part
    missing = [str(i) for i in range(count) if i not in by_index]
    if missing:
        raise InparsError(f"shard(s) {', '.join(missing)} of {count} missing: give all {count}")
    return [by_index[i] for i in range(count)]


# --- per stage --------------------------------------------------------------------------


def _merged_from(parts: list[Part]) -> list[dict[str, Any]]:
    return [{**file_entry(p.path), "shard": str(p.shard)} for p in parts]


def _summed(dicts: list[dict[str, Any]]) -> dict[str, Any]:
    """Numbers summed over the parts (what the whole run did); other values from the first."""
    total = dict(dicts[0])
    for other in dicts[1:]:
        for key, value in other.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    return total


def merge_generate(parts: list[Part], output: Path, corpus: str | None = None) -> None:
    from inpars.generate import GenerateConfig, _documents

    record = parts[0].record
    fields = {f.name for f in dataclasses.fields(GenerateConfig)}
    config = GenerateConfig(**{k: v for k, v in record["config"].items() if k in fields})
    config = dataclasses.replace(config, output=str(output), shard=None)
    if corpus is not None:
        config = dataclasses.replace(config, corpus=corpus)
    expected = record["inputs"]["corpus"]["fingerprint"]
    if corpus_fingerprint(config.corpus_reader())[0] != expected:
        raise InparsError(
            f"{config.corpus}: is not the corpus the parts were made from (its fingerprint "
            "differs); give the right one with --corpus"
        )
    count = parts[0].shard.count
    order = ((doc.id, shard_of(doc.id, count)) for doc in _documents(config))
    with ExitStack() as stack:
        blocks = [
            _Blocks(stack.enter_context(p.path.open("rb")), _generated_key, str(p.path))
            for p in parts
        ]
        out = stack.enter_context(_atomic_output(output))
        _interleave(order, blocks, [out], required=True)
    _write_merged(
        parts,
        [output],
        config={**record["config"], "output": str(output), "shard": None},
        last_invocation=_summed([p.record.get("last_invocation") or {} for p in parts]),
    )


def merge_triples(parts: list[Part], output: Path, queries: str | None = None) -> None:
    from inpars.triples import read_query_rows

    record = parts[0].record
    queries = queries or record["inputs"]["queries"]["path"]
    if file_sha256(queries) != record["inputs"]["queries"]["sha256"]:
        raise InparsError(
            f"{queries}: is not the queries file the parts were made from (SHA-256 differs); "
            "give the right one with --queries"
        )
    count = parts[0].shard.count
    jsonl = output.with_suffix(".jsonl")
    order = (((r.query, r.doc_id), shard_of(r.doc_id, count)) for r in read_query_rows(queries))
    with ExitStack() as stack:
        blocks, tsvs = [], []
        for part in parts:
            config = part.record["config"]
            part_jsonl = Path(config.get("jsonl") or part.path.with_suffix(".jsonl"))
            handle = stack.enter_context(part_jsonl.open("rb"))
            blocks.append(_Blocks(handle, _triple_key, str(part_jsonl)))
            tsvs.append(stack.enter_context(part.path.open("rb")))
        out_jsonl = stack.enter_context(_atomic_output(jsonl))
        out_tsv = stack.enter_context(_atomic_output(output))
        _interleave(order, blocks, [out_jsonl, out_tsv], required=False, companions=tsvs)
        for tsv in tsvs:
            if tsv.read(1):
                raise InparsError(f"{tsv.name}: has more lines than its JSON Lines")
    _write_merged(
        parts,
        [output, jsonl],
        outputs={"tsv": file_entry(output), "jsonl": file_entry(jsonl)},
        config={**record["config"], "output": str(output), "jsonl": None, "shard": None},
        summary=_summed([p.record.get("summary") or {} for p in parts]),
    )


def _write_merged(parts: list[Part], files: list[Path], **sections: Any) -> None:
    """The manifest of an unsharded run's complete output, plus ``merged_from``."""
    record = parts[0].record
    write_manifest(
        files[0],
        record["stage"],
        "complete",
        **{
            **{k: v for k, v in record.items() if k not in ("stage", "status", "written_at")},
            "settings": {**parts[0].settings, "shard": None},
            "committed": {f.name: f.stat().st_size for f in files},
            **sections,
            "merged_from": _merged_from(parts),
        },
    )


def merge_rerank(parts: list[Part], output: Path, queries: str | None = None) -> None:
    from inpars.corpus import read_queries

    count = parts[0].shard.count
    queries = queries or parts[0].record["inputs"]["queries"]["path"]
    order = ((q.id, shard_of(q.id, count)) for q in read_queries(queries))
    with ExitStack() as stack:
        blocks = [
            _Blocks(stack.enter_context(p.path.open("rb")), _run_key, str(p.path)) for p in parts
        ]
        out = stack.enter_context(_atomic_output(output))
        _interleave(order, blocks, [out], required=False)
    _write_merged(parts, [output], counts=_summed([p.record.get("counts") or {} for p in parts]))


def merge(
    parts: Iterable[str | Path],
    output: str | Path,
    *,
    corpus: str | None = None,
    queries: str | None = None,
) -> list[Part]:
    """Checks the parts (:func:`check_parts`) and writes the merged output; returns the parts.

    Parts that are embeddings folders are merged by :func:`merge_embeddings` (and ``[]`` is
    returned).
    """
    parts = list(parts)
    if parts and all(is_embeddings_part(p) for p in parts):
        merge_embeddings(parts, output, corpus)
        return []
    checked = check_parts(parts)
    output = Path(output)
    if any(p.path.resolve() == output.resolve() for p in checked):
        raise InparsError(f"{output}: is one of the parts; write the merge elsewhere")
    stage = checked[0].stage
    if stage == "generate":
        merge_generate(checked, output, corpus)
    elif stage == "triples":
        merge_triples(checked, output, queries)
    else:
        merge_rerank(checked, output, queries)
    return checked


if __name__ == "__main__":
    from inpars.cli.merge import main

    sys.exit(main())
