"""Readers for document collections, queries and relevance judgments, shared by every stage.

Corpus formats (see :data:`CORPUS_FORMATS`), detected from the path unless given:

``beir``
    A folder holding ``corpus.jsonl`` (or ``corpus.jsonl.gz``), one object per line with
    ``_id``, ``title`` and ``text``.
``jsonl``
    Any JSON Lines file (``.jsonl``, ``.json``, optionally ``.gz``). The id field defaults to
    the first present of ``_id``, ``id``, ``docid``, ``doc_id``; the text field to the first
    present of ``text``, ``contents``, ``body``; the optional title field to ``title``. All
    three names can be configured.
``tsv``
    MS MARCO collection style (``.tsv``, optionally ``.gz``), no quoting: two columns are
    ``id<TAB>text``, three are ``id<TAB>title<TAB>text``. A first line that looks like a
    header (``id<TAB>text``, ``docid<TAB>title<TAB>text``, ...) is skipped. Field names are
    not configurable: columns are positional.
``csv``
    Comma-separated (``.csv``, optionally ``.gz``) with a required header row; field names as
    for ``jsonl``. Quoted commas and newlines work.
``irds``
    ``irds:<id>``: a dataset of `ir_datasets <https://ir-datasets.com>`_, e.g.
    ``irds:beir/scifact/test``; fields as :mod:`inpars.irds` maps them. Queries and qrels
    read the same way (``read_queries("irds:beir/scifact/test")``).

The corpus path ``sample`` (when no such local file or folder exists) names the bundled
sample corpus, :data:`SAMPLE_CORPUS`: ``--corpus sample`` works out of the box.

Every reader streams. Bad input raises :class:`~inpars.errors.InputError` naming the file,
the line and the field. One rule in every format: the text field is required (a JSON record
without it, or a CSV header without its column, is an error) and the title is optional; a
text that is present but empty (``""``, or ``null`` in JSON, an empty column in TSV or CSV)
is allowed, and a document whose title and text are both empty is skipped, counted and
reported in one :class:`CorpusWarning` at the end of each pass.
"""

from __future__ import annotations

import csv
import random
import warnings
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inpars import irds
from inpars.errors import InparsError, InparsWarning, InputError
from inpars.io import open_lines, read_jsonl
from inpars.records import Document, Query

CORPUS_FORMATS = ("beir", "jsonl", "tsv", "csv", "irds")

SAMPLE_CORPUS: Path = Path(__file__).resolve().parent / "data" / "sample"
"""The bundled sample corpus: a BEIR folder with the 27 Amendments to the US Constitution."""

SAMPLE_NAME = "sample"
"""The corpus path that names :data:`SAMPLE_CORPUS` when no such local path exists."""

ID_FIELDS = ("_id", "id", "docid", "doc_id")
"""Field names tried, in order, for a document's id when none is configured."""

TEXT_FIELDS = ("text", "contents", "body")
"""Field names tried, in order, for a document's text when none is configured."""

TITLE_FIELDS = ("title",)
"""Field names tried for a document's (optional) title when none is configured."""

QUERY_ID_FIELDS = ("_id", "id", "qid", "query_id")
"""Field names tried, in order, for a query's id in a JSON Lines queries file."""

QUERY_TEXT_FIELDS = ("text", "query")
"""Field names tried, in order, for a query's text in a JSON Lines queries file."""

# How many ids an error or warning lists before saying "and N more".
_MAX_LISTED = 10
_MAX_WARNED = 5

# First column / last column names that mark line 1 of a TSV collection as a header.
_TSV_HEADER_IDS = frozenset({"_id", "id", "docid", "doc_id", "pid"})
_TSV_HEADER_TEXTS = frozenset({"text", "contents", "body", "passage"})

# Relevance judgments: qrels/<split>.tsv inside a BEIR folder.
_BEIR_QRELS = Path("qrels") / "test.tsv"


class CorpusWarning(InparsWarning):
    """A problem in a corpus or queries file that was worked around (e.g. empty documents)."""


def _name_without_gz(path: Path) -> str:
    """The file name in lower case without a trailing ``.gz``."""
    name = path.name.lower()
    return name[: -len(".gz")] if name.endswith(".gz") else name


def _beir_file(directory: Path, stem: str) -> Path | None:
    """``directory/stem`` or ``directory/stem.gz``, whichever exists first, else None."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def resolve_corpus_path(path: str | Path) -> Path:
    """The path itself, or :data:`SAMPLE_CORPUS` for ``"sample"`` when no such path exists."""
    path = Path(path)
    if str(path) == SAMPLE_NAME and not path.exists():
        return SAMPLE_CORPUS
    return path


def detect_format(path: str | Path) -> str:
    """The corpus format (one of :data:`CORPUS_FORMATS`) that a path's name implies.

    Raises:
        InputError: when the path does not exist or its format cannot be told.
    """
    if irds.is_irds(path):
        return "irds"
    path = resolve_corpus_path(path)
    if not path.exists():
        raise InputError("no such file or directory", path)
    if path.is_dir():
        if _beir_file(path, "corpus.jsonl") is not None:
            return "beir"
        raise InputError(
            "directory has no corpus.jsonl or corpus.jsonl.gz (expected a BEIR dataset folder)",
            path,
        )
    name = _name_without_gz(path)
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    if name.endswith(".tsv"):
        return "tsv"
    if name.endswith(".csv"):
        return "csv"
    raise InputError(
        "unknown corpus format (expected a BEIR folder or a .jsonl, .json, .tsv or .csv file, "
        "optionally .gz); pass --corpus-format {" + ",".join(CORPUS_FORMATS) + "}",
        path,
    )


def pick_field(
    record: dict[str, Any], configured: str | None, defaults: Iterable[str]
) -> str | None:
    """The configured field name, or the first default present in the record; None if absent."""
    if configured is not None:
        return configured if configured in record else None
    for name in defaults:
        if name in record:
            return name
    return None


def _coerce_id(value: Any, path: Path, line: int, field_name: str) -> str:
    """A JSON/CSV id value as a non-empty string; only strings and integers are ids."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(
            f"id must be a string or an integer, got {type(value).__name__}: {value!r:.60}",
            path,
            line,
            field_name,
        )
    text = str(value).strip()
    if not text:
        raise InputError("empty id", path, line, field_name)
    return text


def _coerce_text(value: Any, path: Path, line: int, field_name: str) -> str:
    """A JSON text value as a string (null counts as empty)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(
            f"must be a string, got {type(value).__name__}: {value!r:.60}", path, line, field_name
        )
    return value


def _field_text(record: dict[str, Any], key: str | None, path: Path, line: int) -> str:
    """The string value of ``record[key]``; empty when the field is absent (``key`` None)."""
    return "" if key is None else _coerce_text(record[key], path, line, key)


def _listed(ids: list[str], limit: int) -> str:
    """Up to ``limit`` ids quoted and comma-separated, with "and N more" for the rest."""
    shown = ", ".join(repr(i) for i in ids[:limit])
    return shown if len(ids) <= limit else f"{shown} and {len(ids) - limit} more"


def _expected_fields(configured: str | None, defaults: tuple[str, ...]) -> str:
    """For messages: the field name(s) looked for."""
    names = (configured,) if configured is not None else defaults
    return " or ".join(repr(n) for n in names)


@dataclass
class _Row:
    """One raw document of a corpus file, before the empty-text and duplicate checks."""

    line: int
    id: str
    title: str
    text: str
    id_field: str  # the field (or column) the id came from, for messages


@dataclass
class CorpusReader:
    """A document collection on disk, read as a stream of :class:`Document`.

    Iterable and re-iterable: each iteration is a new streaming pass over the file, which
    checks ids (present, string or integer, unique) and skips documents with empty title and
    text. ``documents`` and ``skipped_empty`` count the current (or last) pass.
    """

    path: Path
    format: str | None = None
    id_field: str | None = None
    text_field: str | None = None
    title_field: str | None = None
    skipped_empty: int = field(default=0, init=False)
    documents: int = field(default=0, init=False)
    file: Path = field(init=False, repr=False)  # the data file: corpus.jsonl in a BEIR folder

    def __post_init__(self) -> None:
        self.path = resolve_corpus_path(self.path)
        if self.format is None:
            self.format = detect_format(self.path)
        elif self.format not in CORPUS_FORMATS:
            raise InparsError(
                f"unknown corpus format {self.format!r}; expected one of "
                + ", ".join(CORPUS_FORMATS)
            )
        elif self.format == "irds" and not irds.is_irds(self.path):
            raise InparsError(f"the irds corpus format takes irds:<id>, not {self.path}")
        elif self.format != "irds" and not self.path.exists():
            raise InputError("no such file or directory", self.path)
        self.file = self._data_file()

    def _data_file(self) -> Path:
        """The file holding the documents (``corpus.jsonl`` inside a BEIR folder)."""
        if self.format == "irds" or not self.path.is_dir():
            return self.path
        if self.format not in ("beir", "jsonl"):
            raise InputError(
                f"is a directory; the {self.format} corpus format needs a file", self.path
            )
        found = _beir_file(self.path, "corpus.jsonl")
        if found is None:
            raise InputError("directory has no corpus.jsonl or corpus.jsonl.gz", self.path)
        return found

    @property
    def id_field_name(self) -> str:
        """The id field named in error messages."""
        if self.format in ("beir", "jsonl", "csv"):
            return self.id_field or ID_FIELDS[0]
        return "doc_id" if self.format == "irds" else "id"

    def __iter__(self) -> Iterator[Document]:
        return self._documents(warn=True)

    def all_documents(self) -> Iterator[Document]:
        """One pass over every document, empty ones included (as empty text), no warning.

        For writers that must reproduce the whole corpus, such as :mod:`inpars.expand`.
        """
        return self._documents(warn=False, keep_empty=True)

    def iter_ids(self) -> Iterator[str]:
        """The ids of the documents one pass would yield, in corpus order (no warning)."""
        return (doc.id for doc in self._documents(warn=False))

    def _documents(self, *, warn: bool, keep_empty: bool = False) -> Iterator[Document]:
        """One pass: checked, de-duplicated documents; empty ones only with ``keep_empty``."""
        self.documents = 0
        self.skipped_empty = 0
        seen: set[str] = set()
        skipped: list[str] = []
        for row in self._rows():
            if row.id in seen:
                raise InputError(
                    f"duplicate id {row.id!r} (first on line {self._first_line(row.id)}, "
                    f"again on line {row.line})",
                    self.file,
                    row.line,
                    row.id_field,
                )
            # Only ids are kept, never texts: a set of ids fits in memory for big corpora.
            seen.add(row.id)
            if not row.title.strip() and not row.text.strip():
                self.skipped_empty += 1
                if len(skipped) < _MAX_WARNED:
                    skipped.append(row.id)
                if keep_empty:
                    yield Document(id=row.id, text="", title="")
                continue
            self.documents += 1
            yield Document(id=row.id, text=row.text, title=row.title)
        if warn and self.skipped_empty:
            more = ", ..." if self.skipped_empty > len(skipped) else ""
            warnings.warn(
                CorpusWarning(
                    f"{self.file}: skipped {self.skipped_empty} document(s) with empty title "
                    f"and text (ids {', '.join(repr(i) for i in skipped)}{more})"
                ),
                stacklevel=2,
            )

    def _first_line(self, doc_id: str) -> int:
        """The line where ``doc_id`` first occurs (a second scan, only for error messages)."""
        for row in self._rows():
            if row.id == doc_id:
                return row.line
        return 0  # unreachable when called for an id already seen

    def _rows(self) -> Iterator[_Row]:
        """The raw rows of the corpus file in the reader's format."""
        if self.format in ("beir", "jsonl"):
            return self._json_rows()
        if self.format == "tsv":
            return self._tsv_rows()
        if self.format == "irds":
            return self._irds_rows()
        return self._csv_rows()

    def _irds_rows(self) -> Iterator[_Row]:
        rows = irds.document_rows(self.path, self.text_field, self.title_field)
        for position, doc_id, title, text in rows:
            yield _Row(position, doc_id, title, text, "doc_id")

    def _json_rows(self) -> Iterator[_Row]:
        for line, record in read_jsonl(self.file):
            id_key = pick_field(record, self.id_field, ID_FIELDS)
            if id_key is None:
                raise InputError(
                    f"missing id field (expected {_expected_fields(self.id_field, ID_FIELDS)})",
                    self.file,
                    line,
                    self.id_field_name,
                )
            doc_id = _coerce_id(record[id_key], self.file, line, id_key)
            text_key = pick_field(record, self.text_field, TEXT_FIELDS)
            title_key = pick_field(record, self.title_field, TITLE_FIELDS)
            if text_key is None:
                raise InputError(
                    "missing text field (expected "
                    f"{_expected_fields(self.text_field, TEXT_FIELDS)}; a document without "
                    'text has it empty: "text": "")',
                    self.file,
                    line,
                    self.text_field or TEXT_FIELDS[0],
                )
            text = _coerce_text(record[text_key], self.file, line, text_key)
            title = _field_text(record, title_key, self.file, line)
            yield _Row(line, doc_id, title, text, id_key)

    def _tsv_rows(self) -> Iterator[_Row]:
        first = True
        for line, raw in open_lines(self.file):
            if not raw.strip():
                continue
            columns = raw.split("\t")
            if first:
                first = False
                if (
                    len(columns) in (2, 3)
                    and columns[0].strip().lower() in _TSV_HEADER_IDS
                    and columns[-1].strip().lower() in _TSV_HEADER_TEXTS
                ):
                    continue
            if len(columns) == 2:
                raw_id, title, text = columns[0], "", columns[1]
            elif len(columns) == 3:
                raw_id, title, text = columns
            else:
                raise InputError(
                    "expected 2 tab-separated columns (id, text) or 3 (id, title, text), "
                    f"found {len(columns)}",
                    self.file,
                    line,
                )
            doc_id = raw_id.strip()
            if not doc_id:
                raise InputError("empty id", self.file, line, "id")
            yield _Row(line, doc_id, title, text, "id")

    def _csv_rows(self) -> Iterator[_Row]:
        # Documents can be longer than the csv module's default 128 KiB field limit.
        csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
        current = [0]  # the physical line the csv reader last consumed

        def physical_lines() -> Iterator[str]:
            # csv needs the newlines back to keep line breaks inside quoted fields.
            for number, text in open_lines(self.file):
                current[0] = number
                yield text + "\n"

        reader = csv.reader(physical_lines())
        header = self._csv_next(reader, current, header=True)
        if header is None:
            raise InputError("empty file; a CSV corpus needs a header row", self.file, 1)
        header_line = current[0]
        names = [name.strip() for name in header]
        columns = {name: index for index, name in reversed(list(enumerate(names)))}
        id_col = self._csv_column(columns, self.id_field, ID_FIELDS)
        text_col = self._csv_column(columns, self.text_field, TEXT_FIELDS)
        title_col = self._csv_column(columns, self.title_field, TITLE_FIELDS)
        if id_col is None:
            raise InputError(
                "CSV header has no id column (expected "
                f"{_expected_fields(self.id_field, ID_FIELDS)}; columns are "
                f"{', '.join(repr(n) for n in names)})",
                self.file,
                header_line,
                self.id_field_name,
            )
        if text_col is None:
            raise InputError(
                "CSV header has no text column (expected "
                f"{_expected_fields(self.text_field, TEXT_FIELDS)}; columns are "
                f"{', '.join(repr(n) for n in names)})",
                self.file,
                header_line,
                self.text_field or TEXT_FIELDS[0],
            )
        id_name = names[id_col]
        while True:
            start = current[0] + 1
            row = self._csv_next(reader, current, header=False)
            if row is None:
                return
            if not row:
                continue  # a blank line
            if len(row) != len(names):
                raise InputError(
                    f"expected {len(names)} columns as in the header, found {len(row)}",
                    self.file,
                    start,
                )
            doc_id = row[id_col].strip()
            if not doc_id:
                raise InputError("empty id", self.file, start, id_name)
            text = row[text_col]
            title = "" if title_col is None else row[title_col]
            yield _Row(start, doc_id, title, text, id_name)

    def _csv_next(self, reader: Any, current: list[int], *, header: bool) -> list[str] | None:
        """The next CSV record (the next non-blank one for the header); None at the end."""
        try:
            while True:
                row = next(reader)
                if row or not header:
                    return row
        except StopIteration:
            return None
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", self.file, current[0]) from None

    @staticmethod
    def _csv_column(
        columns: dict[str, int], configured: str | None, defaults: tuple[str, ...]
    ) -> int | None:
        """The index of the configured column, or of the first default present; else None."""
        if configured is not None:
            return columns.get(configured)
        for name in defaults:
            if name in columns:
                return columns[name]
        return None


def read_corpus(
    path: str | Path,
    format: str | None = None,
    id_field: str | None = None,
    text_field: str | None = None,
    title_field: str | None = None,
) -> CorpusReader:
    """A reader over the corpus at ``path`` (``"sample"``: the bundled sample corpus).

    Checks at once that the path exists and that its format is known; documents are read
    only when the reader is iterated.
    """
    return CorpusReader(
        Path(path),
        format=format,
        id_field=id_field,
        text_field=text_field,
        title_field=title_field,
    )


@dataclass(kw_only=True)
class CorpusFields:
    """How a stage's config reads its ``corpus``: the format and the id, text and title fields.

    A base of every config that reads a corpus, so that they all take the same settings
    (``--corpus-format``, ``--id-field``, ``--text-field``, ``--title-field``) and read it
    the same way, with :meth:`corpus_reader`. ``None`` means: from the file's name and the
    format's usual fields.
    """

    corpus_format: str | None = None
    id_field: str | None = None
    text_field: str | None = None
    title_field: str | None = None

    def corpus_reader(self, path: str | Path | None = None) -> CorpusReader:
        """A reader of the config's ``corpus`` with these settings.

        ``path``: another corpus with the same fields, such as its expansion by
        :mod:`inpars.expand`; its format is told from its name.
        """
        corpus = path if path is not None else getattr(self, "corpus", None)
        if corpus is None:
            raise InparsError("this needs a corpus (--corpus)")
        return read_corpus(
            corpus,
            format=self.corpus_format if path is None else None,
            id_field=self.id_field,
            text_field=self.text_field,
            title_field=self.title_field,
        )


def read_doc_ids(path: str | Path) -> list[str]:
    """Document ids listed one per line; blank lines and ``#`` comments are ignored.

    Surrounding whitespace is stripped and repeated ids are dropped, keeping the first.
    """
    ids: dict[str, None] = {}
    for _, line in open_lines(path):
        doc_id = line.strip()
        if doc_id and not doc_id.startswith("#"):
            ids.setdefault(doc_id, None)
    return list(ids)


def _reservoir(ids: Iterable[str], n: int, seed: int) -> list[str]:
    """A uniform sample of ``n`` ids (all of them if fewer), seeded (Algorithm R)."""
    rng = random.Random(seed)
    sample: list[str] = []
    for index, doc_id in enumerate(ids):
        if index < n:
            sample.append(doc_id)
        else:
            slot = rng.randrange(index + 1)
            if slot < n:
                sample[slot] = doc_id
    return sample


def _check_count(name: str, n: int | None) -> None:
    if n is not None and n < 0:
        raise InparsError(f"{name} must be zero or more, got {n}")


def sample_doc_ids(reader: CorpusReader, n: int, seed: int) -> set[str]:
    """The ids of ``n`` documents drawn uniformly at random (all ids if ``n`` >= corpus size).

    One streaming pass reading only ids (reservoir sampling): the same corpus, ``n`` and
    ``seed`` always give the same sample.
    """
    _check_count("the sample size", n)
    return set(_reservoir(reader.iter_ids(), n, seed))


def select_documents(
    reader: CorpusReader,
    *,
    max_docs: int | None = None,
    doc_ids: Collection[str] | None = None,
    seed: int = 0,
) -> Iterator[Document]:
    """The documents to work on, streamed in corpus order.

    With ``doc_ids``, only those documents; with ``max_docs``, a seeded uniform sample of that
    many (from ``doc_ids`` when both are given); with neither, the whole corpus. The choice is
    made by an id-only pass done right away, before this function returns, so that a bad id
    list fails before any long work starts.

    Raises:
        InputError: when some of ``doc_ids`` are not in the corpus (or are documents with empty
            text, which are skipped), listing up to 10 of them.
    """
    _check_count("max_docs", max_docs)
    if doc_ids is None and max_docs is None:
        return iter(reader)
    chosen = _choose_ids(reader, max_docs, doc_ids, seed)
    return _stream_chosen(reader, chosen)


def _choose_ids(
    reader: CorpusReader,
    max_docs: int | None,
    doc_ids: Collection[str] | None,
    seed: int,
) -> set[str]:
    """One id-only pass: checks ``doc_ids`` against the corpus and draws the sample."""
    wanted = None if doc_ids is None else {str(i) for i in doc_ids}
    present: list[str] = []
    empty: set[str] = set()
    for doc in reader._documents(warn=True, keep_empty=True):
        if wanted is not None and doc.id not in wanted:
            continue
        if not doc.text and not doc.title:
            empty.add(doc.id)
            continue
        present.append(doc.id)
    if wanted is not None:
        found = set(present)
        missing = [i for i in dict.fromkeys(str(i) for i in doc_ids) if i not in found]
        if missing:
            absent = [i for i in missing if i not in empty]
            parts = []
            if absent:
                parts.append(
                    f"{len(absent)} of the {len(wanted)} requested document ids are not in the "
                    f"corpus: {_listed(absent, _MAX_LISTED)}"
                )
            blank = [i for i in missing if i in empty]
            if blank:
                parts.append(
                    f"{len(blank)} requested document(s) have empty title and text: "
                    f"{_listed(blank, _MAX_LISTED)}"
                )
            raise InputError("; ".join(parts), reader.file)
    if max_docs is None:
        return set(present)
    return set(_reservoir(present, max_docs, seed))


def _stream_chosen(reader: CorpusReader, chosen: set[str]) -> Iterator[Document]:
    """The chosen documents in corpus order; stops reading once all have been found."""
    remaining = len(chosen)
    if remaining == 0:
        return
    documents = reader._documents(warn=False)
    try:
        for doc in documents:
            if doc.id in chosen:
                yield doc
                remaining -= 1
                if remaining == 0:
                    break
    finally:
        documents.close()


def _queries_file(path: Path) -> Path:
    """The queries file at ``path`` (``queries.jsonl`` inside a BEIR folder)."""
    if not path.exists():
        raise InputError("no such file or directory", path)
    if path.is_dir():
        found = _beir_file(path, "queries.jsonl")
        if found is None:
            raise InputError("directory has no queries.jsonl or queries.jsonl.gz", path)
        return found
    return path


def read_queries(path: str | Path) -> Iterator[Query]:
    """Streams queries from a BEIR ``queries.jsonl`` (or its folder) or a TSV topics file.

    JSON Lines (``.jsonl``/``.json``, optionally ``.gz``): id from ``_id`` (or ``id``, ``qid``,
    ``query_id``), text from ``text`` (or ``query``). Anything else is read as TSV with two
    columns, ``qid<TAB>text`` (TREC / MS MARCO topics). Duplicate ids raise InputError;
    queries with empty text are skipped with one :class:`CorpusWarning`. The path is checked
    when this is called, the file read as the result is iterated.
    """
    if irds.is_irds(path):
        rows = ((n, query_id, text, "query_id") for n, query_id, text in irds.query_rows(path))
        return _checked_queries(Path(str(path)), rows)
    file = _queries_file(Path(path))
    name = _name_without_gz(file)
    rows = _json_query_rows(file) if name.endswith((".jsonl", ".json")) else _tsv_query_rows(file)
    return _checked_queries(file, rows)


def _json_query_rows(file: Path) -> Iterator[tuple[int, str, str, str]]:
    """(line, id, text, id field name) of each query in a JSON Lines file."""
    for line, record in read_jsonl(file):
        id_key = pick_field(record, None, QUERY_ID_FIELDS)
        if id_key is None:
            raise InputError(
                f"missing id field (expected {_expected_fields(None, QUERY_ID_FIELDS)})",
                file,
                line,
                QUERY_ID_FIELDS[0],
            )
        text_key = pick_field(record, None, QUERY_TEXT_FIELDS)
        if text_key is None:
            raise InputError(
                f"missing text field (expected {_expected_fields(None, QUERY_TEXT_FIELDS)})",
                file,
                line,
                QUERY_TEXT_FIELDS[0],
            )
        query_id = _coerce_id(record[id_key], file, line, id_key)
        yield line, query_id, _coerce_text(record[text_key], file, line, text_key), id_key


def _tsv_query_rows(file: Path) -> Iterator[tuple[int, str, str, str]]:
    """(line, id, text, id field name) of each query in a ``qid<TAB>text`` file."""
    for line, raw in open_lines(file):
        if not raw.strip():
            continue
        columns = raw.split("\t")
        if len(columns) != 2:
            raise InputError(
                f"expected 2 tab-separated columns (query id, text), found {len(columns)}",
                file,
                line,
            )
        query_id = columns[0].strip()
        if not query_id:
            raise InputError("empty id", file, line, "query id")
        yield line, query_id, columns[1], "query id"


def _checked_queries(file: Path, rows: Iterator[tuple[int, str, str, str]]) -> Iterator[Query]:
    """Queries from raw rows, refusing duplicate ids and skipping empty texts."""
    seen: dict[str, int] = {}  # queries files are small: keep each id's line for messages
    skipped: list[str] = []
    for line, query_id, text, id_key in rows:
        if query_id in seen:
            raise InputError(
                f"duplicate query id {query_id!r} (first on line {seen[query_id]}, "
                f"again on line {line})",
                file,
                line,
                id_key,
            )
        seen[query_id] = line
        if not text.strip():
            skipped.append(query_id)
            continue
        yield Query(id=query_id, text=text.strip())
    if skipped:
        warnings.warn(
            CorpusWarning(
                f"{file}: skipped {len(skipped)} query(ies) with empty text "
                f"(ids {_listed(skipped, _MAX_WARNED)})"
            ),
            stacklevel=2,
        )


def _qrels_file(path: Path) -> Path:
    """The qrels file at ``path`` (``qrels/test.tsv`` inside a BEIR folder)."""
    if not path.exists():
        raise InputError("no such file or directory", path)
    if not path.is_dir():
        return path
    found = _beir_file(path, str(_BEIR_QRELS))
    if found is None:
        available = (
            sorted(p.name for p in (path / "qrels").glob("*")) if (path / "qrels").is_dir() else []
        )
        hint = f" (qrels/ has: {', '.join(available)})" if available else ""
        raise InputError(f"directory has no {_BEIR_QRELS}{hint}; pass the qrels file", path)
    return found


def _split_qrels_line(raw: str) -> list[str]:
    """A qrels line's fields: tab-separated when it has tabs, else whitespace-separated."""
    if "\t" in raw:
        return [part.strip() for part in raw.strip().split("\t")]
    return raw.split()


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Relevance judgments as ``{query id: {document id: relevance}}``.

    Reads BEIR qrels (``query-id<TAB>corpus-id<TAB>score``, with or without that header line)
    or TREC qrels (``qid iteration docid relevance``, whitespace-separated); the format is
    told from the file's first non-blank line. A BEIR folder reads ``qrels/test.tsv``. Zero
    (and negative) relevance judgments are kept; a repeated (query, document) pair keeps the
    last judgment. ``irds:<id>`` reads the qrels of an ir_datasets dataset.
    """
    if irds.is_irds(path):
        return irds.qrels(path)
    file = _qrels_file(Path(path))
    qrels: dict[str, dict[str, int]] = {}
    width: int | None = None  # 3 fields: BEIR, 4 fields: TREC
    for line, raw in open_lines(file):
        if not raw.strip():
            continue
        parts = _split_qrels_line(raw)
        if width is None:
            if len(parts) not in (3, 4):
                raise InputError(
                    "not a qrels file: expected 3 fields (BEIR: query-id, corpus-id, score) or "
                    f"4 (TREC: qid, iteration, docid, relevance), found {len(parts)}",
                    file,
                    line,
                )
            width = len(parts)
            if width == 3 and not _is_int(parts[2]):
                continue  # the BEIR header line "query-id corpus-id score"
        if len(parts) != width:
            raise InputError(f"expected {width} fields, found {len(parts)}", file, line)
        if width == 3:
            query_id, doc_id, score = parts
            score_field = "score"
        else:
            query_id, _, doc_id, score = parts
            score_field = "relevance"
        if not _is_int(score):
            raise InputError(f"expected an integer, got {score!r}", file, line, score_field)
        qrels.setdefault(query_id, {})[doc_id] = int(score)
    return qrels


def _is_int(text: str) -> bool:
    """Whether ``text`` is an integer literal such as ``2`` or ``-1``."""
    try:
        int(text)
    except ValueError:
        return False
    return True


__all__ = [
    "CORPUS_FORMATS",
    "SAMPLE_CORPUS",
    "CorpusFields",
    "CorpusReader",
    "CorpusWarning",
    "detect_format",
    "read_corpus",
    "read_doc_ids",
    "read_qrels",
    "read_queries",
    "resolve_corpus_path",
    "sample_doc_ids",
    "select_documents",
]
