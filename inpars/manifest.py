"""Run manifests: ``<output>.manifest.json`` beside each stage's output.

A manifest records what produced a file: the stage, the inpars version, the settings, what the
run counted, and the SHA-256 of its input and output files, so that ``inpars.publish`` can
gather the manifests of every stage behind a dataset and check that they describe the files
it bundles. ``inpars.generate`` writes its own (richer) manifest under the same name.
"""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inpars import __version__
from inpars.errors import InputError
from inpars.io import atomic_write_json

_CHUNK = 1024 * 1024


def manifest_path(output: str | Path) -> Path:
    """Where the manifest of ``output`` lives: ``<output>.manifest.json``."""
    return Path(f"{output}.manifest.json")


def file_sha256(path: str | Path) -> str:
    """The hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: str | Path) -> dict[str, Any]:
    """A file as a manifest names it: its path as given, size and SHA-256."""
    return {"path": str(path), "bytes": Path(path).stat().st_size, "sha256": file_sha256(path)}


def model_fingerprint(name: str) -> str | None:
    """A SHA-256 of a local model folder's files (weights, config, tokenizer), or None.

    None for a hub id (its name is what identifies it here). ``checkpoints/`` and hidden
    entries are left out: they do not define the model, and training writes them. A model
    retrained in the same folder thus gets another fingerprint, so nothing made with the old
    weights is resumed as if made with the new ones.
    """
    from inpars.models import resolve_model_path

    folder = Path(resolve_model_path(name))
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for file in sorted(folder.rglob("*")):
        relative = file.relative_to(folder)
        if not file.is_file() or relative.parts[0] == "checkpoints":
            continue
        if any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(f"{relative.as_posix()}\0{file_sha256(file)}\0".encode())
    return digest.hexdigest()


def write_manifest(output: str | Path, stage: str, status: str, /, **sections: Any) -> Path:
    """Writes ``<output>.manifest.json`` atomically; returns its path.

    Every manifest starts with ``stage``, ``status`` (``running`` or ``complete``),
    ``inpars_version``, ``written_at`` and the Python version; ``sections`` follow as given.
    """
    path = manifest_path(output)
    atomic_write_json(
        path,
        {
            "stage": stage,
            "status": status,
            "inpars_version": __version__,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            **sections,
        },
    )
    return path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """A manifest file's JSON object.

    Raises:
        InputError: when the file is missing, not JSON, or not an object.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such manifest", path) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"not a readable JSON manifest: {exc}", path) from None
    if not isinstance(data, dict):
        raise InputError("a manifest must be a JSON object", path)
    return data


__all__ = [
    "file_entry",
    "file_sha256",
    "manifest_path",
    "model_fingerprint",
    "read_manifest",
    "write_manifest",
]
