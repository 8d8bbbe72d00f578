"""What a published folder says about the machine it was made on: local paths and servers.

The run manifests and provenance notes name the files and servers of the run: absolute paths
(``/home/alice/runs/scifact/queries.jsonl``) and ``--base-url`` addresses
(``http://10.0.0.5:8000/v1``). A dataset folder is published, so before they go into it:

* an absolute path under the folder's parent (the run's folder, usually) is written relative
  to the dataset folder (``../queries.jsonl``); any other absolute path is cut to its last part
  (``<local>/scifact``), which names the file without the folders above it;
* a URL (``scheme://host...``) is cut to ``scheme://<host withheld>``: the engine and model
  names say what generated the queries, the address of the server that ran it is private;
* relative paths are kept as they are (relative to the folder the stage ran in).

Checksums, counts and settings are kept; only these strings change.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

# A URL anywhere in a string (a setting, or an error message quoting one).
_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://[^\s'\"`()<>]+")
# An absolute POSIX path inside free text ("/home/a/q.jsonl:5: malformed JSON"): a slash not
# preceded by a word character (which would make it "1/2", "and/or") or by part of a URL.
_PATH_IN_TEXT = re.compile(r"(?<![\w:/>.-])/[^\s:'\"`()<>,;]+")
LOCAL = "<local>"
HOST_WITHHELD = "<host withheld>"


def _is_absolute(text: str) -> bool:
    return PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute()


def public_path(path: str | Path, bundle: str | Path) -> str:
    """``path`` as a published folder at ``bundle`` records it (see the module docstring)."""
    text = str(path)
    if not _is_absolute(text):
        return text
    bundle = Path(bundle).resolve()
    target = Path(os.path.normpath(text))
    parent = bundle.parent
    if len(parent.parts) > 1 and (target == parent or parent in target.parents):
        return Path(os.path.relpath(target, bundle)).as_posix()
    name = PureWindowsPath(text).name if "\\" in text else PurePosixPath(text).name
    return f"{LOCAL}/{name}" if name else LOCAL


def public_value(value: Any, bundle: str | Path) -> Any:
    """A manifest (any JSON value) with its absolute paths and URLs made public."""
    if isinstance(value, dict):
        return {key: public_value(item, bundle) for key, item in value.items()}
    if isinstance(value, list):
        return [public_value(item, bundle) for item in value]
    if isinstance(value, str):
        return public_text(value, bundle)
    return value


def public_text(text: str, bundle: str | Path) -> str:
    """A string with the URLs and absolute paths in it made public."""
    if _is_absolute(text) and "\n" not in text and ": " not in text:
        return public_path(text, bundle)  # a path, whole (spaces and all)
    text = _URL.sub(lambda url: f"{url.group(1)}://{HOST_WITHHELD}", text)
    return _PATH_IN_TEXT.sub(lambda path: public_path(path.group(0), bundle), text)


class Note(str):
    """A provenance note: its text names local paths in full (for the terminal), and
    :meth:`public` gives the text the dataset card carries.

    ``Note("no manifest beside {0}", path)`` reads ``no manifest beside /abs/path``.
    """

    template: str
    paths: tuple[str, ...]

    def __new__(cls, template: str, *paths: str | Path) -> Note:
        shown = tuple(str(path) for path in paths)
        note = super().__new__(cls, template.format(*shown))
        note.template = template
        note.paths = shown
        return note

    def public(self, bundle: str | Path) -> str:
        """The note with each path as :func:`public_path` records it, relative ones too
        (they are relative to where publish ran, which the reader of a card cannot know)."""
        return self.template.format(*(_public_any(path, bundle) for path in self.paths))


def _public_any(path: str, bundle: str | Path) -> str:
    return public_path(path if _is_absolute(path) else Path(path).resolve(), bundle)


def public_note(note: str, bundle: str | Path) -> str:
    """A note as the card carries it (a plain string carries no paths to rewrite)."""
    return note.public(bundle) if isinstance(note, Note) else note
