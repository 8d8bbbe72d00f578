"""Sharded dense encoding: N processes (GPUs, machines) each encode part of a corpus.

``python -m inpars.search --corpus C --embeddings part0 --shard 0/3`` (no queries) encodes
only the documents of shard 0 of 3 (:mod:`inpars.shards`, by document id) into the
embeddings folder ``part0``, and records in it ``inpars-shard.json``: the shard, the corpus
file's size and SHA-256, the model, and that the part is complete. ``python -m inpars.merge
--output full part0 part1 part2`` then writes the embeddings folder of the whole corpus, rows
in corpus order, that ``inpars.search --embeddings full`` (same corpus, same model) finds up to
date and searches without encoding anything.

The merged rows are the parts' rows: equal to an unsharded encoding up to the float noise of
batching (documents share a batch with other neighbours; with padding and fused kernels an
embedding can move in the last bits), not byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpars.artifacts import corpus_fingerprint, file_entry, file_sha256, read_manifest
from inpars.corpus import CorpusReader, read_corpus
from inpars.errors import InparsError
from inpars.io import atomic_write_json, atomic_write_text
from inpars.records import Document
from inpars.shards import Shard, parse_shard, shard_of

SHARD_FILE = "inpars-shard.json"


@dataclass
class ShardDocuments:
    """The documents of ``reader`` in ``shard``, in corpus order; re-iterable like the reader."""

    reader: CorpusReader
    shard: Shard

    def __iter__(self) -> Iterator[Document]:
        return (doc for doc in self.reader if doc.id in self.shard)


def encode_shard(
    corpus: str | CorpusReader,
    folder: str | Path,
    shard: str,
    encoder: Any,
    *,
    batch_size: int = 64,
    chunk_size: int = 4096,
    rebuild: bool = False,
    progress: Any = None,
) -> int:
    """Encodes shard ``shard`` of ``corpus`` into ``folder``; returns its document count.

    Resumable like any embeddings folder (:func:`inpars.search.ensure_embeddings`); a folder
    holding another shard's rows has another corpus fingerprint and is encoded again.
    """
    from inpars.search import ensure_embeddings

    parsed = parse_shard(shard)
    if parsed is None:
        raise InparsError("encode_shard needs a shard I/N")
    folder = Path(folder)
    (folder / SHARD_FILE).unlink(missing_ok=True)
    reader = corpus if isinstance(corpus, CorpusReader) else read_corpus(corpus)
    index = ensure_embeddings(
        ShardDocuments(reader, parsed),
        encoder,
        folder,
        batch_size=batch_size,
        chunk_size=chunk_size,
        rebuild=rebuild,
        progress=progress,
    )
    atomic_write_json(
        folder / SHARD_FILE,
        {
            "shard": str(parsed),
            "corpus": str(reader.path if isinstance(corpus, CorpusReader) else corpus),
            # how it was read, so that the merge rereads the same documents
            "corpus_format": reader.format,
            "id_field": reader.id_field,
            "text_field": reader.text_field,
            "title_field": reader.title_field,
            "corpus_file": file_entry(reader.file),
            "model": encoder.name,
            "model_fingerprint": index.model_fingerprint,
            "documents": len(index),
            "status": "complete",
        },
    )
    return len(index)


@dataclass
class _EmbeddingPart:
    path: Path
    shard: Shard
    record: dict[str, Any]
    doc_ids: list[str]
    embeddings: Any


def is_embeddings_part(path: str | Path) -> bool:
    """Whether ``path`` is an embeddings folder written by a sharded encoding."""
    return Path(path).is_dir() and (Path(path) / SHARD_FILE).exists()


def _load(path: Path) -> _EmbeddingPart:
    import numpy as np

    from inpars.search import DOC_IDS_FILE, EMBEDDINGS_FILE, read_embeddings_metadata

    record = read_manifest(path / SHARD_FILE)
    meta = read_embeddings_metadata(path)
    if record.get("status") != "complete" or not meta or not meta.get("complete"):
        raise InparsError(f"{path}: is not complete; rerun its command to finish it")
    shard = parse_shard(record.get("shard"))
    if shard is None:
        raise InparsError(f"{path}: {SHARD_FILE} names no shard")
    doc_ids = json.loads((path / DOC_IDS_FILE).read_text(encoding="utf-8"))
    embeddings = np.load(path / EMBEDDINGS_FILE, mmap_mode="r")
    if len(doc_ids) != embeddings.shape[0] or meta.get("model_fingerprint") != record.get(
        "model_fingerprint"
    ):
        raise InparsError(f"{path}: its files do not agree with each other; encode it again")
    return _EmbeddingPart(path, shard, record, doc_ids, embeddings)


def merge_embeddings(parts: list[str | Path], output: str | Path, corpus: str | None) -> int:
    """Writes the whole corpus's embeddings folder from its shards; returns the row count.

    Raises:
        InparsError: for an incomplete part, parts of another model, corpus or N, a shard
            missing or twice, or a corpus that is not the one the parts were encoded from.
    """
    import numpy as np

    from inpars.search import (
        DOC_IDS_FILE,
        EMBEDDINGS_FILE,
        EMBEDDINGS_FORMAT,
        METADATA_FILE,
    )

    loaded = [_load(Path(p)) for p in parts]
    first = loaded[0]
    count = first.shard.count
    for part in loaded[1:]:
        for key in ("model_fingerprint", "corpus_file"):
            mine, theirs = part.record.get(key), first.record.get(key)
            if key == "corpus_file":  # the same bytes, wherever each machine kept them
                mine, theirs = (mine or {}).get("sha256"), (theirs or {}).get("sha256")
            if mine != theirs:
                raise InparsError(
                    f"{part.path}: made with another {key.split('_')[0]} than {first.path}"
                )
        if part.shard.count != count:
            raise InparsError(
                f"{part.path}: is shard {part.shard} but {first.path} is shard {first.shard}: "
                "parts of one run share N"
            )
    by_index = {p.shard.index: p for p in loaded}
    if len(by_index) != len(loaded):
        raise InparsError("a shard is given twice")
    missing = [str(i) for i in range(count) if i not in by_index]
    if missing:
        raise InparsError(f"shard(s) {', '.join(missing)} of {count} missing: give all {count}")
    recorded = first.record
    reader = read_corpus(
        corpus or recorded["corpus"],
        format=None if corpus else recorded.get("corpus_format"),
        id_field=recorded.get("id_field"),
        text_field=recorded.get("text_field"),
        title_field=recorded.get("title_field"),
    )
    if file_sha256(reader.file) != first.record["corpus_file"]["sha256"]:
        raise InparsError(
            f"{reader.file}: is not the corpus the parts were encoded from (SHA-256 differs); "
            "give the right one with --corpus"
        )
    corpus_fp, total = corpus_fingerprint(reader)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    for name in (METADATA_FILE, DOC_IDS_FILE, EMBEDDINGS_FILE):
        (output / name).unlink(missing_ok=True)
    dimension = first.embeddings.shape[1]
    merged = np.lib.format.open_memmap(
        output / EMBEDDINGS_FILE, mode="w+", dtype=np.float32, shape=(total, dimension)
    )
    rows = [0] * count
    doc_ids: list[str] = []
    for position, doc in enumerate(reader):
        s = shard_of(doc.id, count)
        part = by_index[s]
        if rows[s] >= len(part.doc_ids) or part.doc_ids[rows[s]] != doc.id:
            raise InparsError(f"{part.path}: has no row for document {doc.id!r} of its shard")
        merged[position] = part.embeddings[rows[s]]
        rows[s] += 1
        doc_ids.append(doc.id)
    for s, part in by_index.items():
        if rows[s] != len(part.doc_ids):
            raise InparsError(f"{part.path}: holds documents the corpus does not")
    merged.flush()
    del merged
    atomic_write_text(output / DOC_IDS_FILE, json.dumps(doc_ids, ensure_ascii=False))
    meta = read_manifest(first.path / METADATA_FILE)
    atomic_write_json(
        output / METADATA_FILE,
        {
            **meta,
            "format": EMBEDDINGS_FORMAT,
            "corpus_fingerprint": corpus_fp,
            "documents": total,
            "done": total,
            "complete": True,
            "merged_from": [{"path": str(p.path), "shard": str(p.shard)} for p in loaded],
        },
    )
    return total


__all__ = ["SHARD_FILE", "ShardDocuments", "encode_shard", "is_embeddings_part", "merge_embeddings"]
