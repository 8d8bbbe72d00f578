"""Reading the input: each line a record of the generator (or a published file, through
:class:`inpars.published.RecordNormalizer`), checked field by field."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inpars.errors import InputError
from inpars.io import open_lines
from inpars.published import RecordNormalizer
from inpars.records import checked_query

if TYPE_CHECKING:
    from inpars.filter.config import FilterSummary

# A log-probability can exceed 0 only by rounding; beyond this it is not a log-probability.
_LOG_PROB_TOLERANCE = 1e-4
# Invalid lines quoted in the summary under --skip-invalid.
_MAX_EXAMPLES = 5


@dataclass(frozen=True)
class CheckedRecord:
    """The fields of a generation record that filtering uses, validated."""

    doc_id: str
    query: str
    log_probs: list[float]


def check_record(record: dict[str, Any], path: str | Path, line: int) -> CheckedRecord:
    """Validates a record's ``doc_id``, ``query``, ``log_probs`` and ``tokens``.

    Raises:
        InputError: naming the file, line and field of the first problem.
    """
    doc_id, query = checked_query(record, path, line)
    if "log_probs" not in record:
        raise InputError(
            "missing; filtering needs the per-token log-probabilities that inpars.generate records",
            path,
            line,
            "log_probs",
        )
    log_probs = record["log_probs"]
    if not isinstance(log_probs, list):
        raise InputError(
            f"must be a list of numbers, got {type(log_probs).__name__}", path, line, "log_probs"
        )
    for index, value in enumerate(log_probs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(
                f"value {index} is not a number: {value!r:.40}", path, line, "log_probs"
            )
        if not math.isfinite(value) or value > _LOG_PROB_TOLERANCE:
            raise InputError(
                f"value {index} is {value!r}, not a finite log-probability (<= 0)",
                path,
                line,
                "log_probs",
            )
    tokens = record.get("tokens")
    if tokens is not None:
        if not isinstance(tokens, list):
            raise InputError(f"must be a list, got {type(tokens).__name__}", path, line, "tokens")
        if len(tokens) != len(log_probs):
            raise InputError(
                f"{len(tokens)} tokens but {len(log_probs)} log_probs; the lengths must match",
                path,
                line,
                "log_probs",
            )
    return CheckedRecord(doc_id=doc_id, query=query, log_probs=log_probs)


def read_records(
    path: str,
    summary: FilterSummary | None,
    *,
    skip_invalid: bool,
    normalize: RecordNormalizer | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, normalised record) of each non-blank line, as :func:`inpars.io.read_jsonl` gives.

    A line that is not a JSON object, or not in the file's schema (see
    :mod:`inpars.published`), raises an InputError naming it, unless ``skip_invalid``: then it
    is counted in ``summary`` as read and invalid (or just passed over when ``summary`` is
    None, as in the first pass that only collects doc ids).
    """
    if normalize is None:
        normalize = RecordNormalizer(path)
    for line, text in open_lines(path):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            problem = f"malformed JSON: {exc.msg} (column {exc.colno})"
            record = None
        else:
            problem = "expected a JSON object"
        if isinstance(record, dict):
            try:
                record = normalize(record, line)
            except InputError as exc:
                error = exc
            else:
                yield line, record
                continue
        else:
            error = InputError(problem, path, line)
        if not skip_invalid:
            raise error
        if summary is not None:
            summary.read += 1
            summary.invalid += 1
            if len(summary.invalid_examples) < _MAX_EXAMPLES:
                summary.invalid_examples.append(str(error))
