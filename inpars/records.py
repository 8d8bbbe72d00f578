"""The record schemas of inpars' artifacts, defined once and used by every stage.

Each artifact file is JSON Lines with one record per line; a record's JSON keys are exactly
the dataclass's field names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from inpars.errors import InputError

T = TypeVar("T")


@dataclass(frozen=True)
class Document:
    """One document of a corpus."""

    id: str
    text: str
    title: str = ""

    @property
    def contents(self) -> str:
        """Title and text joined by one space (just the text when there is no title).

        This is the one way inpars joins them, in prompts, BM25 indexes and rerankers alike.
        """
        title = self.title.strip()
        text = self.text.strip()
        if title and text:
            return f"{title} {text}"
        return title or text


@dataclass(frozen=True)
class Query:
    """One query of a test collection (BEIR ``queries.jsonl``, a TREC topics file, ...)."""

    id: str
    text: str


@dataclass
class GeneratedQuery:
    """One query generated for one document (a line of `inpars.generate`'s output)."""

    doc_id: str
    query: str
    log_probs: list[float]
    tokens: list[str]
    # 0 .. num_queries_per_doc - 1 within the document; with --passage-tokens, unique within
    # the document across its passages: the queries of passage p are p * n .. p * n + n - 1.
    query_index: int
    finish_reason: str  # "stop" (newline or end of text) or "length" (hit max_new_tokens)
    template: str
    fewshot_ids: list[str]
    model: str
    engine: str
    temperature: float
    top_p: float
    max_new_tokens: int
    seed: int | None
    prompt_tokens: int = 0
    prompt: str | None = None  # only with --save-prompts
    # Only with --inpars-compat: the InPars toolkit's own fields, for scripts written for it.
    prompt_text: str | None = None  # the prompt (the toolkit's name)
    fewshot_examples: list[str] | None = None  # the prompt's example ids (fewshot_ids)
    text: str | None = None  # the document, title and text (Document.contents)
    # Only with --passage-tokens (inpars.passages): the window of the document the query was
    # generated from, its span in the generator's tokens (end exclusive; words when the engine
    # knows no tokenizer) and how many windows the document was given.
    passage_index: int | None = None
    passage_start: int | None = None
    passage_end: int | None = None
    num_passages: int | None = None


@dataclass
class Triple:
    """One training triple: a query, its positive document and a BM25-mined negative.

    A line of ``inpars.triples``' JSON Lines output; the TSV output holds the same triple as
    ``query<TAB>positive text<TAB>negative text``.
    """

    query: str
    pos_id: str  # the document the query was generated from
    neg_id: str  # a document sampled from the query's BM25 top --depth
    neg_rank: int  # 1-based rank of the negative in that BM25 ranking
    bm25_score: float  # Lucene's BM25 score of the negative for the query
    pos_rank: int | None = None  # rank of the positive in the same ranking (None: not in it)
    query_score: float | None = None  # the filter's score of the query, when it had one


@dataclass
class MarginLabel:
    """One GPL training example: a query, its positive, a mined negative and a teacher margin.

    A line of ``python -m inpars.dense gpl-label``'s JSON Lines output; ``margin`` is
    ``pos_score - neg_score``, the cross-encoder teacher's scores of (query, positive) and
    (query, negative), which MarginMSE training asks the bi-encoder to reproduce.
    """

    query: str
    pos_id: str  # the document the query was generated from
    neg_id: str  # a document mined by ``retriever``, never a positive of the query
    margin: float
    pos_score: float
    neg_score: float
    retriever: str = ""  # the dense model that mined the negative, or "bm25"
    neg_rank: int | None = None  # 1-based rank of the negative in that retriever's ranking


@dataclass(frozen=True)
class RunEntry:
    """One line of a TREC run: ``query_id Q0 doc_id rank score tag``."""

    query_id: str
    doc_id: str
    rank: int  # 1-based
    score: float
    tag: str = "inpars"


# Optional fields written only when set (--save-prompts, --inpars-compat, --passage-tokens).
_OMITTED_WHEN_NONE = (
    "prompt",
    "prompt_text",
    "fewshot_examples",
    "text",
    "passage_index",
    "passage_start",
    "passage_end",
    "num_passages",
)


def checked_query(
    record: dict[str, Any], path: str | Path, line: int, *, allow_empty: bool = True
) -> tuple[str, str]:
    """The ``(doc_id, query)`` of a generated-query record, checked: ``doc_id`` a string or an
    integer (returned as a string), ``query`` a string (non-blank unless ``allow_empty``).

    Raises:
        InputError: naming the file, line and field of the first problem.
    """
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
    if not allow_empty and not query.strip():
        raise InputError("empty query (run inpars.filter first)", path, line, "query")
    return str(doc_id), query


def to_dict(record: Any) -> dict[str, Any]:
    """A record as a JSON-ready dict (fields that are None and optional are left out)."""
    data = dataclasses.asdict(record)
    for name in _OMITTED_WHEN_NONE:
        if name in data and data[name] is None:
            del data[name]
    return data


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Builds a record from a dict, ignoring keys the schema does not know."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


__all__ = [
    "Document",
    "GeneratedQuery",
    "MarginLabel",
    "Query",
    "RunEntry",
    "Triple",
    "checked_query",
    "from_dict",
    "to_dict",
]
