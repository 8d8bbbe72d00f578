"""Stage outputs that know what made them: manifests, input fingerprints, the one resume rule.

Every stage writes its output through an :class:`Artifact`. Beside the output lies
``<output>.manifest.json``, written when the run starts (``status: running``) and when it
ends (``status: complete``): the stage, its settings, the inpars version, the **fingerprints
of its inputs** (a file's SHA-256, a model folder's weights and config, a corpus as the
readers see it), how much of each output file is committed, ``seconds`` (the run's time,
summed over its attempts) and free sections (counts, summaries) that the stage adds.

The rule, the same for every stage: a run is the *same run* as the one that left an output
when the stage, the settings and the input fingerprints are all equal. The same run resumes
from what was committed (or, when complete, is skipped); a different run is refused with the
list of differences::

    inpars.errors.InparsError: out/triples.tsv was made by another run:
      - setting depth: 100 -> 50
      - input queries changed (sha256 1f3a9c0e2b7d… -> 9c4e0a1d77b2…)
    rerun with the same settings and inputs to resume it, or pass --overwrite to start again

``overwrite`` starts again (the old output and manifest are removed first). An output that
has data but no manifest was not written by this rule and is refused (never appended to)
unless ``overwrite``. An output whose data is gone starts again.

Library use::

    art = Artifact("out/q.jsonl", "generate", {"seed": 1}, {"corpus": file_input("c.jsonl")})
    state = art.open(overwrite=False)  # "new", "resume" or "complete"
    if state != "complete":
        with art.appender() as out:  # truncates the file back to its last commit
            out.append(jsonl_text(records))  # written, fsynced, then committed
        art.complete(counts={"queries": 10})

:func:`read_producer` returns the manifest of the run that made a file (the filter reads the
generation's for its prompt examples, publish gathers the chain as provenance), and
:func:`is_complete_and_matching` is the skip decision of a pipeline step.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from inpars import __version__
from inpars.errors import InparsError, InputError
from inpars.io import atomic_write_json, dumps_json

_CHUNK = 1024 * 1024

# -- input fingerprints ----------------------------------------------------------------------


def file_sha256(path: str | Path) -> str:
    """The hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: str | Path) -> dict[str, Any]:
    """A file as a manifest names it (an input or an output): its path, size and SHA-256."""
    return {"path": str(path), "bytes": Path(path).stat().st_size, "sha256": file_sha256(path)}


file_input = file_entry


def model_fingerprint(name: str) -> str:
    """What identifies a model: a SHA-256 of a local folder's files (or of a single file,
    a ``.gguf``), or a hub id (or a served model's name) as it is.

    ``checkpoints/`` and hidden entries are left out: they do not define the model, and
    training writes them. A model retrained in the same folder thus gets another
    fingerprint, so nothing made with the old weights is resumed as if made with the new.
    """
    from inpars.models import resolve_model_path

    folder = Path(resolve_model_path(name))
    if folder.is_file():
        return file_sha256(folder)
    if not folder.is_dir():
        return name
    digest = hashlib.sha256()
    for file in sorted(folder.rglob("*")):
        relative = file.relative_to(folder)
        if not file.is_file() or relative.parts[0] == "checkpoints":
            continue
        if any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(f"{relative.as_posix()}\0{file_sha256(file)}\0".encode())
    return digest.hexdigest()


def model_input(name: str) -> dict[str, Any]:
    """A model as an input: its name and :func:`model_fingerprint`."""
    return {"name": name, "fingerprint": model_fingerprint(name)}


class CorpusFingerprint:
    """A running digest of documents (id and contents, in order) as the corpus readers yield
    them: the same corpus in another file format, or with other whitespace in its JSON,
    has the same fingerprint; another title/text join or another document does not."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(b"inpars-corpus-1")
        self.documents = 0

    def add(self, doc_id: str, contents: str) -> None:
        id_bytes = doc_id.encode("utf-8")
        text_bytes = contents.encode("utf-8")
        # Length prefixes keep ("a", "bc") and ("ab", "c") apart.
        self._hash.update(f"\n{len(id_bytes)}:{len(text_bytes)}:".encode("ascii"))
        self._hash.update(id_bytes)
        self._hash.update(text_bytes)
        self.documents += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def corpus_fingerprint(
    documents: Iterable[Any], progress: Any = None, task: Any = None
) -> tuple[str, int]:
    """The fingerprint of documents (anything with ``id`` and ``contents``) and their count.

    ``progress``/``task``: a ``rich`` progress bar advanced every 1000 documents.
    """
    fingerprint = CorpusFingerprint()
    for doc in documents:
        fingerprint.add(doc.id, doc.contents)
        if task is not None and fingerprint.documents % 1000 == 0:
            progress.advance(task, 1000)
    if task is not None:
        progress.update(task, completed=fingerprint.documents, total=fingerprint.documents)
    return fingerprint.hexdigest(), fingerprint.documents


def corpus_input(reader: Any) -> dict[str, Any]:
    """A corpus (a :class:`~inpars.corpus.CorpusReader`) as an input: its path, fingerprint
    and document count (one streaming pass)."""
    fingerprint, documents = corpus_fingerprint(reader)
    return {"path": str(reader.path), "fingerprint": fingerprint, "documents": documents}


def _identity(entry: Any) -> Any:
    """What must be equal for two input entries to be the same input."""
    if isinstance(entry, Mapping):
        return entry.get("sha256", entry.get("fingerprint"))
    return entry


# -- manifests -------------------------------------------------------------------------------


def manifest_path(output: str | Path) -> Path:
    """Where the manifest of ``output`` lives: ``<output>.manifest.json``."""
    return Path(f"{output}.manifest.json")


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


def read_producer(path: str | Path) -> dict[str, Any] | None:
    """The manifest of the run that made the file or folder ``path``; None when it has none.

    Raises:
        InputError: when the manifest exists but cannot be read.
    """
    manifest = manifest_path(path)
    return read_manifest(manifest) if manifest.is_file() else None


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


# -- the one rule ----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, paths must be strings)."""
    return json.loads(dumps_json(value))


def _short(value: Any) -> str:
    return f"{value[:12]}…" if isinstance(value, str) and len(value) > 16 else repr(value)


def differences(
    manifest: Mapping[str, Any], stage: str, settings: Mapping[str, Any], inputs: Mapping[str, Any]
) -> list[str]:
    """What makes a run with ``stage``/``settings``/``inputs`` another run than the
    manifest's, one line per difference; empty for the same run."""
    found: list[str] = []
    if manifest.get("stage") != stage:
        found.append(f"stage: {manifest.get('stage')!r} -> {stage!r}")
    old = manifest.get("settings")
    if not isinstance(old, Mapping):  # an output of inpars before this rule
        return [*found, "the manifest records no settings (written by an older inpars)"]
    for key in sorted(set(old) | set(settings), key=str):
        if key not in old:
            found.append(f"setting {key}: (not recorded) -> {settings[key]!r}")
        elif key not in settings:
            found.append(f"setting {key}: {old[key]!r} -> (no longer a setting)")
        elif old[key] != settings[key]:
            found.append(f"setting {key}: {old[key]!r} -> {settings[key]!r}")
    before = manifest.get("inputs")
    before = before if isinstance(before, Mapping) else {}
    for name in sorted(set(before) | set(inputs), key=str):
        was, now = _identity(before.get(name)), _identity(inputs.get(name))
        if was != now:
            kind = (
                "sha256"
                if isinstance(inputs.get(name), Mapping) and "sha256" in inputs[name]
                else "fingerprint"
            )
            found.append(f"input {name} changed ({kind} {_short(was)} -> {_short(now)})")
    return found


def is_complete_and_matching(
    output: str | Path, stage: str, settings: Mapping[str, Any], inputs: Mapping[str, Any]
) -> bool:
    """Whether ``output`` holds the complete result of exactly this run (see
    :meth:`Artifact.is_complete`)."""
    return Artifact(output, stage, settings, inputs).is_complete()


def _has_data(path: Path) -> bool:
    if path.is_dir():
        return any(path.iterdir())
    return path.exists() and path.stat().st_size > 0


class Artifact:
    """One run's output: ``output`` (a file or folder) plus ``files`` written with it, and
    the manifest beside ``output``.

    ``settings`` are what decide the output (not speed or paths of the outputs); ``inputs``
    maps a name to a fingerprint entry (:func:`file_input`, :func:`model_input`,
    :func:`corpus_input`, or any JSON value that identifies the input).
    """

    def __init__(
        self,
        output: str | Path,
        stage: str,
        settings: Mapping[str, Any],
        inputs: Mapping[str, Any],
        *,
        files: Sequence[str | Path] = (),
    ) -> None:
        self.output = Path(output)
        self.files = [self.output, *(Path(f) for f in files)]
        self.stage = stage
        self.settings = _plain(dict(settings))
        self.inputs = _plain(dict(inputs))
        self.manifest_path = manifest_path(output)
        self.state = "new"
        self.committed: dict[str, int] = {}
        self.sections: dict[str, Any] = {}
        self._started = time.perf_counter()
        self._earlier = 0.0  # seconds of earlier attempts at this run

    def open(self, overwrite: bool = False) -> str:
        """Applies the rule; returns ``"new"``, ``"resume"`` or ``"complete"`` and (unless
        complete) writes the ``running`` manifest.

        Raises:
            InparsError: another run's output (naming every difference), or data without a
                manifest, unless ``overwrite``.
        """
        if overwrite:
            self._remove()
        manifest = read_producer(self.output)
        has_data = any(_has_data(f) for f in self.files)
        if manifest is None:
            if has_data:
                raise InparsError(
                    f"{self.output} exists but has no {self.manifest_path.name}, so it was not "
                    "written by this command; pass --overwrite to replace it, or choose "
                    "another output"
                )
            self.state = "new"
        elif not has_data:
            self.state = "new"  # the data is gone: nothing can be mixed
        else:
            found = differences(manifest, self.stage, self.settings, self.inputs)
            if found:
                lines = "".join(f"\n  - {line}" for line in found)
                raise InparsError(
                    f"{self.output} was made by another run:{lines}\nrerun with the same "
                    "settings and inputs to resume it, or pass --overwrite to start again"
                )
            self.state = "complete" if manifest.get("status") == "complete" else "resume"
            committed = manifest.get("committed")
            self.committed = dict(committed) if isinstance(committed, dict) else {}
            self._check_sizes()
            self.sections = {
                k: v for k, v in manifest.items() if k not in _RULE_KEYS and k not in _HEADER
            }
            earlier = self.sections.get("seconds")
            self._earlier = float(earlier) if isinstance(earlier, (int, float)) else 0.0
        self._started = time.perf_counter()
        if self.state != "complete":
            self._write("running")
        return self.state

    def _check_sizes(self) -> None:
        """Refuses files cut short (or, when complete, changed) since their last commit."""
        for path in self.files:
            committed = self.committed.get(path.name)
            size = path.stat().st_size if path.is_file() else 0
            if committed is None or size == committed:
                continue
            if size < committed or self.state == "complete":
                raise InparsError(
                    f"{path}: changed after this run wrote it ({size} bytes, {committed} "
                    "recorded); pass --overwrite to start again"
                )

    def is_complete(self) -> bool:
        """Whether the output holds the complete result of exactly this run, so that a
        pipeline skips the step: the manifest is complete, has no :func:`differences`, and
        the output is still there. Writes nothing."""
        try:
            manifest = read_producer(self.output)
        except InputError:
            return False
        return (
            manifest is not None
            and manifest.get("status") == "complete"
            and self.output.exists()
            and not differences(manifest, self.stage, self.settings, self.inputs)
        )

    def _remove(self) -> None:
        """Deletes the outputs and the manifest; a folder only when inpars made it."""
        ours = self.manifest_path.is_file()
        for path in self.files:
            if path.is_dir():
                if not ours and any(path.iterdir()):
                    raise InparsError(
                        f"{path}: a folder that inpars did not make (no "
                        f"{self.manifest_path.name}); refusing to delete it, choose another "
                        "output"
                    )
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        self.manifest_path.unlink(missing_ok=True)

    def _write(self, status: str) -> None:
        # The run's time over all its attempts (a killed attempt counts to its last commit).
        self.sections["seconds"] = round(self._earlier + time.perf_counter() - self._started, 3)
        write_manifest(
            self.output,
            self.stage,
            status,
            settings=self.settings,
            inputs=self.inputs,
            committed=self.committed,
            **self.sections,
        )

    def update(self, **sections: Any) -> None:
        """Adds free sections to the ``running`` manifest (kept until :meth:`complete`)."""
        self.sections.update(sections)
        self._write("running")

    def complete(self, **sections: Any) -> None:
        """Marks the output complete, adding ``sections`` (counts, outputs' SHA-256); the
        manifest's ``seconds`` is the run's time, summed over its attempts."""
        self.sections.update(sections)
        self.state = "complete"
        self._write("complete")

    def appender(self, files: Sequence[str | Path] | None = None) -> Appender:
        """An :class:`Appender` on ``files`` (default: every file of the artifact)."""
        return Appender(self, self.files if files is None else [Path(f) for f in files])

    def commit(self, sizes: Mapping[str, int]) -> None:
        """Records committed sizes (called by :class:`Appender`)."""
        self.committed.update(sizes)
        self._write("running")


_HEADER = ("stage", "status", "inpars_version", "written_at", "python")
_RULE_KEYS = ("settings", "inputs", "committed")


# -- the one resumable append ------------------------------------------------------------------


def jsonl_text(records: Iterable[Mapping[str, Any]], path: str | Path | None = None) -> str:
    """Records as JSON Lines text (the one JSON encoder; ``path`` names the file in errors)."""
    return "".join(dumps_json(record, path=path) + "\n" for record in records)


class Appender:
    """Appends text to one or more files of an :class:`Artifact`, committing them together.

    Each :meth:`append` writes and fsyncs every file's text, then records the files' new
    sizes in the manifest (an atomic rewrite). Opening truncates each file back to its last
    committed size, so a crash loses at most the append in flight, never half of a record
    or a line in one file without its partner in another. JSON Lines, TSV and TREC run
    files alike: the appender sees text.
    """

    def __init__(self, artifact: Artifact, files: Sequence[Path]) -> None:
        self.artifact = artifact
        self.files = list(files)
        self._handles: list[IO[bytes]] = []
        self.cut = 0  # bytes dropped after the last commit (a crash's partial append)
        for path in self.files:
            path.parent.mkdir(parents=True, exist_ok=True)
            committed = int(artifact.committed.get(path.name, 0))
            handle = path.open("ab")
            self.cut += handle.tell() - committed
            handle.truncate(committed)
            handle.seek(committed)
            self._handles.append(handle)
        artifact.commit(self._sizes())

    def append(self, *texts: str) -> None:
        """Appends one text per file (in the order of ``files``) durably, then commits."""
        if len(texts) != len(self._handles):
            raise ValueError(f"{len(texts)} texts for {len(self._handles)} files")
        if not any(texts):
            return
        for handle, text in zip(self._handles, texts, strict=True):
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        self.artifact.commit(self._sizes())

    def _sizes(self) -> dict[str, int]:
        return {p.name: h.tell() for p, h in zip(self.files, self._handles, strict=True)}

    def close(self) -> None:
        for handle in self._handles:
            handle.close()

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = [
    "Appender",
    "Artifact",
    "CorpusFingerprint",
    "corpus_fingerprint",
    "corpus_input",
    "differences",
    "file_entry",
    "file_input",
    "file_sha256",
    "is_complete_and_matching",
    "jsonl_text",
    "manifest_path",
    "model_fingerprint",
    "model_input",
    "read_manifest",
    "read_producer",
    "write_manifest",
]
