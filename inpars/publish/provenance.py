"""Finding the run manifests behind the inputs and checking them against the files.

The chain is followed through :func:`inpars.artifacts.read_producer`: the queries' manifest
(the filter's), the manifest of the filter's input (the generation's), and the triples'.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inpars.artifacts import file_sha256, manifest_path, read_producer
from inpars.errors import InputError
from inpars.publish.config import PublishConfig
from inpars.publish.public import Note, public_note, public_value


@dataclass
class Provenance:
    """The run manifests behind a dataset and what did not check out."""

    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> manifest
    notes: list[str] = field(default_factory=list)  # Notes, naming local paths in full
    # The filter's input on this machine, when it is the very file the filter read.
    filter_input: Path | None = None

    def public(self, bundle: str | Path) -> Provenance:
        """What a dataset folder at ``bundle`` publishes: the manifests and notes with local
        paths and server addresses rewritten (see :mod:`inpars.publish.public`)."""
        return Provenance(
            manifests={stage: public_value(m, bundle) for stage, m in self.manifests.items()},
            notes=[public_note(note, bundle) for note in self.notes],
        )


def _literal(text: str) -> str:
    """``text`` inside a :class:`Note` template (its braces are not placeholders)."""
    return text.replace("{", "{{").replace("}", "}}")


def _error_note(exc: InputError) -> Note:
    """An error about a file as a note whose path is rewritten when published."""
    text = str(exc)
    if exc.path is not None and text.startswith(exc.path):
        return Note("{0}" + _literal(text[len(exc.path) :]), exc.path)
    return Note(_literal(text))


def _find_manifest(path_text: str, relative_to: Path) -> Path | None:
    """The manifest beside a file a manifest names (as given, or relative to its folder)."""
    path = Path(path_text)
    candidates = [path] if path.is_absolute() else [Path.cwd() / path, relative_to / path]
    for candidate in candidates:
        if manifest_path(candidate).is_file():
            return candidate
    return None


def _section(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    value = manifest.get(name)
    return value if isinstance(value, dict) else {}


def _input(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    """An input entry of a manifest (:class:`inpars.artifacts.Artifact`): path, SHA-256."""
    return _section(_section(manifest, "inputs"), name)


def gather_provenance(config: PublishConfig) -> Provenance:
    """Finds the manifests of the stages behind the inputs and checks them against the files."""
    found = Provenance()
    queries = Path(config.queries)
    queries_sha = file_sha256(queries)
    path = manifest_path(queries)
    if not path.is_file():
        found.notes.append(
            Note(
                f"no manifest beside {{0}} ({_literal(path.name)}): the queries were not "
                "written by inpars.filter (or its manifest was removed), so how they were made "
                "is not recorded",
                queries,
            )
        )
    elif (manifest := _read_or_note(queries, found)) is not None:
        stage = manifest.get("stage")
        if stage == "filter":
            found.manifests["filter"] = manifest
            recorded = _section(manifest, "output").get("sha256")
            if recorded != queries_sha:
                found.notes.append(
                    Note(
                        f"{{0}} is not the file inpars.filter wrote ({_literal(path.name)} records "
                        "another SHA-256): it changed after filtering",
                        queries,
                    )
                )
            found.filter_input = _filter_input(manifest, path)
            _gather_generate(manifest, path, found)
        elif stage == "generate":
            found.manifests["generate"] = manifest
            found.notes.append(
                Note("{0} holds generated queries that inpars.filter did not filter", queries)
            )
            _check_complete(manifest, "generation", path, found)
        else:
            found.notes.append(
                Note(
                    f"{{0}} is not an inpars.filter manifest (stage {_literal(repr(stage))})",
                    path,
                )
            )
    if config.triples is not None:
        _gather_triples(config, queries_sha, found)
    return found


def _filter_input(filter_manifest: dict[str, Any], path: Path) -> Path | None:
    """The file the filter read (as named, or relative to its manifest's folder), if it is
    still there unchanged."""
    entry = _input(filter_manifest, "queries")
    source, recorded = entry.get("path"), entry.get("sha256")
    if not isinstance(source, str) or not isinstance(recorded, str):
        return None
    candidates = [Path(source)]
    if not Path(source).is_absolute():
        candidates.append(path.parent / source)
    for candidate in candidates:
        if candidate.is_file() and file_sha256(candidate) == recorded:
            return candidate
    return None


def _gather_generate(filter_manifest: dict[str, Any], path: Path, found: Provenance) -> None:
    source = _input(filter_manifest, "queries").get("path")
    if not isinstance(source, str):
        found.notes.append(Note("{0} does not name the filter's input", path))
        return
    located = _find_manifest(source, path.parent)
    if located is None:
        found.notes.append(
            Note(
                "no generation manifest beside the filter's input {0} "
                f"({_literal(manifest_path(source).name)}): the model and sampling are not "
                "recorded",
                source,
            )
        )
        return
    generate_path = manifest_path(located)
    manifest = _read_or_note(located, found)
    if manifest is None:
        return
    if manifest.get("stage") != "generate":
        found.notes.append(Note("{0} is not an inpars.generate manifest", generate_path))
        return
    found.manifests["generate"] = manifest
    _check_complete(manifest, "generation", generate_path, found)
    recorded = _input(filter_manifest, "queries").get("sha256")
    if located.is_file() and recorded is not None and file_sha256(located) != recorded:
        found.notes.append(
            Note(
                "{0} changed after it was filtered (its SHA-256 is not the one "
                f"{_literal(path.name)} records), so its manifest may describe other queries",
                located,
            )
        )


def _gather_triples(config: PublishConfig, queries_sha: str, found: Provenance) -> None:
    assert config.triples is not None
    path = manifest_path(config.triples)
    if not path.is_file():
        found.notes.append(
            Note(
                f"no manifest beside {{0}} ({_literal(path.name)}): how the negatives were "
                "mined is not recorded",
                config.triples,
            )
        )
        return
    manifest = _read_or_note(Path(config.triples), found)
    if manifest is None:
        return
    if manifest.get("stage") != "triples":
        found.notes.append(Note("{0} is not an inpars.triples manifest", path))
        return
    found.manifests["triples"] = manifest
    _check_complete(manifest, "the triples run", path, found)
    if _input(manifest, "queries").get("sha256") != queries_sha:
        found.notes.append(
            Note(
                f"the triples were made from other queries than {{0}} ({_literal(path.name)} "
                "records another SHA-256 for its --queries)",
                config.queries,
            )
        )
    outputs = _section(manifest, "outputs")
    jsonl = config.triples_jsonl_path
    for name, file in (("tsv", Path(config.triples)), ("jsonl", jsonl)):
        entry = outputs.get(name)
        recorded = entry.get("sha256") if isinstance(entry, dict) else None
        if recorded is not None and file is not None and recorded != file_sha256(file):
            found.notes.append(Note("{0} changed after inpars.triples wrote it", file))


def _read_or_note(output: Path, found: Provenance) -> dict[str, Any] | None:
    """The manifest of what made ``output`` (:func:`inpars.artifacts.read_producer`), or
    None with a note saying why it cannot be read."""
    try:
        return read_producer(output)
    except InputError as exc:
        found.notes.append(_error_note(exc))
        return None


def _check_complete(manifest: dict[str, Any], what: str, path: Path, found: Provenance) -> None:
    status = manifest.get("status")
    if status != "complete":
        found.notes.append(
            Note(_literal(f"{what} did not complete ({path.name} says status {status!r})"))
        )
