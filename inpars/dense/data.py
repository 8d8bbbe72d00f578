"""Reading training data: GenQ pairs or triples, GPL labels, and the documents' texts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from inpars.corpus import CorpusReader
from inpars.dense.config import GenQConfig, GplTrainConfig, _is_jsonl
from inpars.errors import InputError
from inpars.io import read_jsonl
from inpars.records import MarginLabel


def _checked_id(record: dict[str, Any], key: str, path: str, line: int) -> str:
    value = record.get(key)
    if value is None:
        raise InputError(f"missing {key}", path, line, key)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(
            f"must be a string or an integer, got {type(value).__name__}", path, line, key
        )
    return str(value)


def _checked_text(record: dict[str, Any], key: str, path: str, line: int) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        what = "missing" if value is None else f"must be a string, got {type(value).__name__}"
        raise InputError(what, path, line, key)
    if not value.strip():
        raise InputError("empty", path, line, key)
    return value


def _checked_number(record: dict[str, Any], key: str, path: str, line: int) -> float:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"must be a finite number, got {value!r}", path, line, key)
    return float(value)


def _optional_number(record: dict[str, Any], key: str, path: str, line: int) -> float:
    return _checked_number(record, key, path, line) if record.get(key) is not None else 0.0


def document_texts(
    corpus: str | CorpusReader, wanted: dict[str, tuple[str, int, str]]
) -> dict[str, str]:
    """The contents of the ``wanted`` documents, in one streaming pass over the corpus (a
    path, or a reader with its format and fields).

    ``wanted`` maps each doc id to where it was first named (file, line, field).

    Raises:
        InputError: for an id the corpus lacks, naming that file, line and field.
    """
    from inpars.corpus import read_corpus

    reader = read_corpus(corpus) if isinstance(corpus, (str, Path)) else corpus
    found: dict[str, str] = {}
    for doc in reader:
        if doc.id in wanted:
            found[doc.id] = doc.contents
    for doc_id, (path, line, key) in wanted.items():
        if doc_id not in found:
            raise InputError(
                f"{key} {doc_id!r} is not in the corpus {reader.path} (no such id, or a document "
                "with empty title and text)",
                path,
                line,
                key,
            )
    return found


def genq_columns(config: GenQConfig) -> dict[str, list[str]]:
    """The GenQ training columns: ``query``, ``positive`` (and ``negative`` from triples).

    Repeated (query, document) pairs are kept once.
    """
    from inpars.train import read_triples

    if config.triples is not None and not _is_jsonl(config.triples):
        rows = list(dict.fromkeys(triple for _, triple in read_triples(config.triples)))
        if not rows:
            raise InputError("no triples", config.triples)
        return {
            "query": [r[0] for r in rows],
            "positive": [r[1] for r in rows],
            "negative": [r[2] for r in rows],
        }
    wanted: dict[str, tuple[str, int, str]] = {}
    keyed: list[tuple[str, ...]] = []
    if config.triples is not None:
        path = config.triples
        for line, record in read_jsonl(path):
            query = _checked_text(record, "query", path, line)
            pos_id = _checked_id(record, "pos_id", path, line)
            neg_id = _checked_id(record, "neg_id", path, line)
            wanted.setdefault(pos_id, (path, line, "pos_id"))
            wanted.setdefault(neg_id, (path, line, "neg_id"))
            keyed.append((query, pos_id, neg_id))
    else:
        from inpars.triples import read_query_rows

        path = str(config.queries)
        for row in read_query_rows(path):
            wanted.setdefault(row.doc_id, (path, row.line, "doc_id"))
            keyed.append((row.query, row.doc_id))
    keyed = list(dict.fromkeys(keyed))
    if not keyed:
        raise InputError("no training examples", path)
    texts = document_texts(config.corpus_reader(), wanted)
    columns = {"query": [k[0] for k in keyed], "positive": [texts[k[1]] for k in keyed]}
    if config.triples is not None:
        columns["negative"] = [texts[k[2]] for k in keyed]
    return columns


def read_labels(path: str | Path) -> list[tuple[int, MarginLabel]]:
    """The checked records of a labels file (gpl-label output), with their line numbers.

    Raises:
        InputError: for a record without a query, ids or a finite margin.
    """
    path = str(path)
    labels = []
    for line, record in read_jsonl(path):
        label = MarginLabel(
            query=_checked_text(record, "query", path, line),
            pos_id=_checked_id(record, "pos_id", path, line),
            neg_id=_checked_id(record, "neg_id", path, line),
            margin=_checked_number(record, "margin", path, line),
            pos_score=_optional_number(record, "pos_score", path, line),
            neg_score=_optional_number(record, "neg_score", path, line),
            retriever=str(record.get("retriever") or ""),
            neg_rank=record.get("neg_rank") if isinstance(record.get("neg_rank"), int) else None,
        )
        labels.append((line, label))
    if not labels:
        raise InputError("no labels", path)
    return labels


def gpl_columns(config: GplTrainConfig) -> dict[str, list[Any]]:
    """The GPL training columns: ``query``, ``positive``, ``negative`` texts and ``label``."""
    labels = read_labels(config.labels)
    wanted: dict[str, tuple[str, int, str]] = {}
    for line, label in labels:
        wanted.setdefault(label.pos_id, (config.labels, line, "pos_id"))
        wanted.setdefault(label.neg_id, (config.labels, line, "neg_id"))
    texts = document_texts(config.corpus_reader(), wanted)
    return {
        "query": [label.query for _, label in labels],
        "positive": [texts[label.pos_id] for _, label in labels],
        "negative": [texts[label.neg_id] for _, label in labels],
        "label": [label.margin for _, label in labels],
    }
