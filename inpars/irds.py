"""ir_datasets as a source: ``irds:<dataset id>`` wherever a corpus, queries or qrels are read.

``irds:beir/scifact/test``, ``irds:msmarco-passage/dev/small``, ``irds:cord19/trec-covid``:
the ids of `ir_datasets <https://ir-datasets.com>`_, which downloads (once, into
``~/.ir_datasets``, or ``$IR_DATASETS_HOME``) and checks each collection itself. Documents
stream from ``docs_iter()``; their fields map to :class:`~inpars.records.Document` like a JSON
Lines record's:

* id: ``doc_id``;
* text: the ``--text-field`` when given, else the first field of ``text``, ``body``,
  ``abstract``, ``contents``, ``passage`` that the dataset has;
* title: the ``--title-field`` when given, else ``title`` where the dataset has one.

Queries take ``query_id`` and the first of ``text``, ``query``, ``title`` (TREC topics keep
their short ``title`` only when no ``text`` exists); qrels take ``query_id``, ``doc_id`` and
``relevance``. Errors name the dataset id as the file and the document's position in
``docs_iter()`` as the line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from inpars.errors import InputError

PREFIX = "irds:"
TEXT_FIELDS = ("text", "body", "abstract", "contents", "passage")
TITLE_FIELDS = ("title",)
QUERY_TEXT_FIELDS = ("text", "query", "title")


def is_irds(source: object) -> bool:
    """Whether ``source`` names an ir_datasets dataset (``irds:<id>``)."""
    return str(source).startswith(PREFIX)


def dataset_id(source: object) -> str:
    """The ir_datasets id in ``irds:<id>``."""
    return str(source)[len(PREFIX) :]


def load(source: object) -> Any:
    """The ir_datasets dataset that ``source`` (``irds:<id>``) names.

    Raises:
        InputError: when the id is empty or ir_datasets does not know it.
    """
    import ir_datasets

    name = dataset_id(source)
    if not name:
        raise InputError("no dataset id after 'irds:' (e.g. irds:beir/scifact/test)", source)
    try:
        return ir_datasets.load(name)
    except KeyError:
        raise InputError(
            f"ir_datasets has no dataset {name!r} (the catalogue: https://ir-datasets.com)",
            source,
        ) from None


def _require(dataset: Any, part: str, source: object) -> None:
    if not getattr(dataset, f"has_{part}")():
        raise InputError(f"this ir_datasets dataset has no {part}", source)


def _pick(fields: tuple[str, ...], configured: str | None, defaults: tuple[str, ...]) -> str | None:
    if configured is not None:
        return configured if configured in fields else None
    return next((name for name in defaults if name in fields), None)


def document_rows(
    source: object, text_field: str | None = None, title_field: str | None = None
) -> Iterator[tuple[int, str, str, str]]:
    """(position, doc id, title, text) of each document, in ``docs_iter()`` order.

    Raises:
        InputError: when the dataset has no documents, or no field to take the text from
            (the message lists the fields it has).
    """
    dataset = load(source)
    _require(dataset, "docs", source)
    fields = tuple(dataset.docs_cls()._fields)
    text_key = _pick(fields, text_field, TEXT_FIELDS)
    title_key = _pick(fields, title_field, TITLE_FIELDS)
    if text_key is None or (title_field is not None and title_key is None):
        wanted = text_field if text_key is None else title_field
        raise InputError(
            f"its documents have no field {wanted or ' or '.join(TEXT_FIELDS)!r} "
            f"(they have {', '.join(fields)}); pass --text-field / --title-field",
            source,
            field="text" if text_key is None else "title",
        )
    for position, doc in enumerate(dataset.docs_iter(), start=1):
        title = getattr(doc, title_key) if title_key else ""
        yield position, str(doc.doc_id), _as_text(title), _as_text(getattr(doc, text_key))


def query_rows(source: object) -> Iterator[tuple[int, str, str]]:
    """(position, query id, text) of each query, in ``queries_iter()`` order."""
    dataset = load(source)
    _require(dataset, "queries", source)
    fields = tuple(dataset.queries_cls()._fields)
    text_key = _pick(fields, None, QUERY_TEXT_FIELDS)
    if text_key is None:
        raise InputError(
            f"its queries have no text field ({' or '.join(QUERY_TEXT_FIELDS)}; they have "
            f"{', '.join(fields)})",
            source,
        )
    for position, query in enumerate(dataset.queries_iter(), start=1):
        yield position, str(query.query_id), _as_text(getattr(query, text_key))


def qrels(source: object) -> dict[str, dict[str, int]]:
    """The dataset's judgments as ``{query id: {doc id: relevance}}``."""
    dataset = load(source)
    _require(dataset, "qrels", source)
    judged: dict[str, dict[str, int]] = {}
    for qrel in dataset.qrels_iter():
        judged.setdefault(str(qrel.query_id), {})[str(qrel.doc_id)] = int(qrel.relevance)
    return judged


def _as_text(value: Any) -> str:
    """A field's value as text (some datasets hold None or numbers in optional fields)."""
    return "" if value is None else str(value)


__all__ = ["PREFIX", "dataset_id", "document_rows", "is_irds", "load", "qrels", "query_rows"]
