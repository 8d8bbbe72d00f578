"""Reading and checking a published folder: :class:`Bundle`, :func:`load_bundle`,
:func:`verify_bundle`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inpars.artifacts import file_sha256, read_manifest
from inpars.errors import InparsError, InputError
from inpars.io import open_lines, read_jsonl
from inpars.publish.layout import (
    CARD_FILE,
    CARD_MARK,
    MANIFESTS_DIR,
    QUERIES_FILE,
    STAGES,
    STATS_FILE,
    SUMS_FILE,
    TRIPLES_JSONL_FILE,
    TRIPLES_TSV_FILE,
)
from inpars.published import read_generated_queries
from inpars.records import Triple, from_dict

# Files a hub download adds to a folder that SHA256SUMS does not list.
_FOREIGN_FILES = (".gitattributes",)
_FOREIGN_DIRS = (".cache", ".huggingface", ".git")
_SUMS_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


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
    def empty(self) -> bool:
        """Whether SHA256SUMS lists no file at all (it vouches for nothing)."""
        return not (self.checked or self.mismatched or self.missing)

    @property
    def ok(self) -> bool:
        """Whether the folder is exactly what SHA256SUMS lists: every listed file there and
        unchanged, no other file (besides what a Hub download adds), and at least one file."""
        return not (self.mismatched or self.missing or self.unlisted or self.empty)

    def problems(self) -> str:
        """What is wrong, in one line ("" when :attr:`ok`)."""
        parts = []
        if self.empty:
            parts.append(f"{SUMS_FILE} lists no files")
        for label, names in (
            ("changed", self.mismatched),
            ("missing", self.missing),
            (f"not listed in {SUMS_FILE}", self.unlisted),
        ):
            if names:
                more = f" and {len(names) - 10} more" if len(names) > 10 else ""
                parts.append(f"{label}: {', '.join(names[:10])}{more}")
        return "; ".join(parts)


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
    """Checks every file ``SHA256SUMS`` lists, and finds files it does not list.

    The result is :attr:`~VerifyResult.ok` only when the folder holds exactly the listed files
    and they match. Files that Hub downloads add (``.gitattributes``, ``.cache/``) are left
    out of the comparison.
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


def check_replaceable(folder: str | Path) -> None:
    """Raises InparsError unless ``folder`` is a dataset folder that inpars.publish made and
    that holds nothing else, so that replacing it (``--overwrite``) loses no one's files.

    Such a folder has a readable ``SHA256SUMS`` that lists its card, the card carries inpars'
    mark, and every file in it is listed (files a Hub download adds aside).
    """
    folder = Path(folder)
    refusal = (
        f"{folder} is not a dataset folder made by inpars.publish, so --overwrite does not "
        "replace it and nothing was replaced ({why}); choose another --output"
    )
    if not folder.is_dir():
        raise InparsError(refusal.format(why="not a folder"))
    try:
        listed = read_checksums(folder / SUMS_FILE)
    except InputError as exc:
        raise InparsError(refusal.format(why=str(exc))) from None
    card = folder / CARD_FILE
    try:
        marked = CARD_FILE in listed and CARD_MARK in card.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        marked = False
    if not marked:
        raise InparsError(refusal.format(why=f"its {CARD_FILE} is not a card inpars.publish wrote"))
    unlisted = verify_bundle(folder).unlisted
    if unlisted:
        raise InparsError(
            f"{folder} holds files {SUMS_FILE} does not list: {', '.join(unlisted[:10])}"
            + (f" and {len(unlisted) - 10} more" if len(unlisted) > 10 else "")
            + "; --overwrite would delete them, so nothing was replaced. Move them out first."
        )
