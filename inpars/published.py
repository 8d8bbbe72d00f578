"""Readers for the synthetic queries the InPars authors published, normalised to inpars records.

The InPars papers released their generated queries in two schemas other than inpars' own
(:class:`~inpars.records.GeneratedQuery`). Each file is read as a whole in one schema, told
from its first record (see :func:`detect_format`):

``inpars``
    inpars' own records (``doc_id``, ``query``, ``log_probs``, ``tokens``, ...), and any
    JSON Lines with ``doc_id`` and ``query``. Passed through unchanged.
``inpars-v1``
    InPars v1 (``zetaalphavector/InPars``, ``generate_queries_openai.py``; the
    ``*_synthetic_queries_100k.jsonl`` files): ``doc_id``, ``doc_text``, ``question``,
    ``log_probs`` and, with the GBQ prompt, ``bad_question``. Its filter script replaced
    ``log_probs`` by their mean, so a filtered v1 file holds one number there.
``inpars-v2``
    The InPars toolkit (``pip install inpars``, InPars-v2; the ``queries.jsonl`` files of the
    ``inpars/generated-data`` dataset): ``doc_id``, ``query``, ``log_probs``,
    ``prompt_text``, ``fewshot_examples`` and the document under ``text`` (or ``doc_text``);
    after its filter, also ``score``.

Normalised records have the fields ``inpars.filter`` and ``inpars.triples`` read:

* ``doc_id`` as a string (pandas wrote numeric ids as numbers);
* ``query``: v1's ``question``, cut at its first line break and stripped. v1 asked the API
  to stop at a blank line, so a question can run on into the next prompt line; the v1
  log-probabilities stop at the first newline token, which this cut matches;
* ``log_probs`` when the file has per-token log-probabilities; a single number (v1 filtered
  output) becomes ``score`` instead, since no per-token values are left to filter by;
* ``fewshot_ids``: v2's ``fewshot_examples`` (the example query ids), as strings;
* ``doc_text``: the document text (v2's ``text``);
* ``source_format``: ``inpars-v1`` or ``inpars-v2``. It marks the record as normalised:
  a record with it is never detected again (the output of ``inpars.filter`` on a v1 file
  has ``doc_text`` and no ``tokens``, like a v2 record, and stays v1).

Other fields are kept as they are. There are no ``tokens`` in either published schema; the
filter does not need them (it checks their count against ``log_probs`` only when present).
A record that does not fit its file's schema raises :class:`~inpars.errors.InputError`
naming the file, the line and the field.

Command line (:func:`convert`): ``python -m inpars.published --help``
(:mod:`inpars.cli.published`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpars.artifacts import jsonl_text
from inpars.errors import InparsError, InputError
from inpars.io import atomic_open, read_jsonl

FORMATS = ("inpars", "inpars-v1", "inpars-v2")
"""The record schemas :class:`RecordNormalizer` reads (``--format`` choices besides auto)."""

# Fields that only the InPars toolkit (v2) writes; inpars' own records never have them.
_V2_MARKERS = frozenset({"prompt_text", "fewshot_examples", "doc_text", "text"})
# Keys listed in an "unknown schema" error before "...".
_MAX_KEYS_LISTED = 12
# Records per durable write in convert().
_WRITE_BATCH = 5_000


def detect_format(record: dict[str, Any]) -> str | None:
    """The schema of one record (see the module docstring), or None when it is none of them.

    A record with ``question`` and no ``query`` is InPars v1; one with ``query``, no
    ``tokens`` and a field only the InPars toolkit writes is InPars v2; any other record with
    ``query`` is inpars' own. A record with ``source_format`` was normalised already (only the
    normalisers here write that field): it is inpars' own, and its ``source_format`` stays as
    the one detection at the boundary found, however many stages it passes through.
    """
    if "query" in record and "source_format" in record:
        return "inpars"
    if "query" in record:
        if "tokens" not in record and not _V2_MARKERS.isdisjoint(record):
            return "inpars-v2"
        return "inpars"
    if "question" in record:
        return "inpars-v1"
    return None


def _doc_id(record: dict[str, Any], path: str | Path, line: int) -> str:
    doc_id = record.get("doc_id")
    if doc_id is None:
        raise InputError("missing doc_id", path, line, "doc_id")
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        raise InputError(
            f"must be a string or an integer, got {type(doc_id).__name__}", path, line, "doc_id"
        )
    return str(doc_id)


def normalize_inpars_v1(record: dict[str, Any], path: str | Path, line: int) -> dict[str, Any]:
    """An InPars v1 record (``question``, ``doc_text``, ``log_probs``) as an inpars record."""
    question = record.get("question")
    if not isinstance(question, str):
        what = "missing" if question is None else f"must be a string, got {type(question).__name__}"
        raise InputError(f"{what} (an InPars v1 file)", path, line, "question")
    out: dict[str, Any] = {"doc_id": _doc_id(record, path, line)}
    out["query"] = question.split("\n", 1)[0].strip()
    for key, value in record.items():
        if key in ("doc_id", "question"):
            continue
        if key == "log_probs" and not isinstance(value, list):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(
                    f"must be a list of numbers or one number, got {type(value).__name__}",
                    path,
                    line,
                    "log_probs",
                )
            out["score"] = float(value)  # v1's filter stored the mean log-prob here
            continue
        out[key] = value
    out["source_format"] = "inpars-v1"
    return out


def normalize_inpars_v2(record: dict[str, Any], path: str | Path, line: int) -> dict[str, Any]:
    """An InPars toolkit (v2) record as an inpars record."""
    query = record.get("query")
    if not isinstance(query, str):
        what = "missing" if query is None else f"must be a string, got {type(query).__name__}"
        raise InputError(f"{what} (an InPars-v2 file)", path, line, "query")
    out: dict[str, Any] = {"doc_id": _doc_id(record, path, line), "query": query}
    for key, value in record.items():
        if key in ("doc_id", "query"):
            continue
        if key == "fewshot_examples":
            if not isinstance(value, list):
                raise InputError(
                    f"must be a list, got {type(value).__name__}", path, line, "fewshot_examples"
                )
            out["fewshot_ids"] = [str(item) for item in value]
        elif key == "text" and "doc_text" not in record:
            out["doc_text"] = value
        else:
            out[key] = value
    out["source_format"] = "inpars-v2"
    return out


_NORMALIZERS = {"inpars-v1": normalize_inpars_v1, "inpars-v2": normalize_inpars_v2}


class RecordNormalizer:
    """Normalises the records of one file, in the schema its first record shows.

    ``format`` (one of :data:`FORMATS`) skips detection. Records in inpars' own schema are
    returned as they are (the same dict).
    """

    def __init__(self, path: str | Path, format: str | None = None) -> None:
        if format is not None and format not in FORMATS:
            raise InparsError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
        self.path = path
        self.format = format

    def __call__(self, record: dict[str, Any], line: int) -> dict[str, Any]:
        """The record as an inpars record.

        Raises:
            InputError: for the first record when its schema is unknown, and for records
                that do not fit the file's schema, naming the file, line and field.
        """
        if self.format is None:
            found = detect_format(record)
            if found is None:
                keys = sorted(record)
                listed = ", ".join(keys[:_MAX_KEYS_LISTED])
                more = ", ..." if len(keys) > _MAX_KEYS_LISTED else ""
                raise InputError(
                    "unknown record schema: expected 'query' (inpars, InPars-v2) or 'question' "
                    f"(InPars v1); the record has: {listed or 'no fields'}{more}",
                    self.path,
                    line,
                )
            self.format = found
        normalize = _NORMALIZERS.get(self.format)
        return record if normalize is None else normalize(record, self.path, line)


def read_generated_queries(
    path: str | Path, format: str | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Streams a queries file in any of :data:`FORMATS` as (line, normalised record)."""
    normalize = RecordNormalizer(path, format)
    for line, record in read_jsonl(path):
        yield line, normalize(record, line)


@dataclass
class ConvertSummary:
    """What :func:`convert` did."""

    format: str
    records: int = 0
    with_log_probs: int = 0
    with_score: int = 0
    seconds: float = 0.0


def convert(input: str | Path, output: str | Path, format: str | None = None) -> ConvertSummary:
    """Writes the normalised records of ``input`` to ``output`` (JSON Lines, atomically).

    Raises:
        InputError: for bad records, naming the file, line and field.
    """
    start = time.perf_counter()
    output = Path(output)
    if Path(input).resolve() == output.resolve():
        raise InparsError("--output must differ from --input")
    normalize = RecordNormalizer(input, format)
    summary = ConvertSummary(format=format or "inpars")
    with atomic_open(output) as handle:
        batch: list[dict[str, Any]] = []
        for line, record in read_jsonl(input):
            out = normalize(record, line)
            summary.records += 1
            if isinstance(out.get("log_probs"), list):
                summary.with_log_probs += 1
            if "score" in out:
                summary.with_score += 1
            batch.append(out)
            if len(batch) >= _WRITE_BATCH:
                handle.write(jsonl_text(batch, output))
                batch = []
        handle.write(jsonl_text(batch, output))
    summary.format = normalize.format or summary.format
    summary.seconds = time.perf_counter() - start
    return summary


if __name__ == "__main__":
    from inpars.cli.published import main

    sys.exit(main())
