"""Finding the run manifests behind the inputs and checking them against the files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inpars.errors import InputError
from inpars.manifest import file_sha256, manifest_path, read_manifest
from inpars.publish.config import PublishConfig


@dataclass
class Provenance:
    """The run manifests behind a dataset and what did not check out."""

    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> manifest
    notes: list[str] = field(default_factory=list)


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


def gather_provenance(config: PublishConfig) -> Provenance:
    """Finds the manifests of the stages behind the inputs and checks them against the files."""
    found = Provenance()
    queries = Path(config.queries)
    queries_sha = file_sha256(queries)
    path = manifest_path(queries)
    if not path.is_file():
        found.notes.append(
            f"no manifest beside {queries} ({path.name}): the queries were not written by "
            "inpars.filter (or its manifest was removed), so how they were made is not recorded"
        )
    elif (manifest := _read_or_note(path, found)) is not None:
        stage = manifest.get("stage")
        if stage == "filter":
            found.manifests["filter"] = manifest
            recorded = _section(manifest, "output").get("sha256")
            if recorded != queries_sha:
                found.notes.append(
                    f"{queries} is not the file inpars.filter wrote ({path.name} records another "
                    "SHA-256): it changed after filtering"
                )
            _gather_generate(manifest, path, found)
        elif stage == "generate":
            found.manifests["generate"] = manifest
            found.notes.append(
                f"{queries} holds generated queries that inpars.filter did not filter"
            )
            _check_complete(manifest, "generation", path, found)
        else:
            found.notes.append(f"{path} is not an inpars.filter manifest (stage {stage!r})")
    if config.triples is not None:
        _gather_triples(config, queries_sha, found)
    return found


def _gather_generate(filter_manifest: dict[str, Any], path: Path, found: Provenance) -> None:
    source = _section(filter_manifest, "input").get("path")
    if not isinstance(source, str):
        found.notes.append(f"{path} does not name the filter's input")
        return
    located = _find_manifest(source, path.parent)
    if located is None:
        found.notes.append(
            f"no generation manifest beside the filter's input {source} "
            f"({manifest_path(source).name}): the model and sampling are not recorded"
        )
        return
    generate_path = manifest_path(located)
    manifest = _read_or_note(generate_path, found)
    if manifest is None:
        return
    if manifest.get("stage") != "generate":
        found.notes.append(f"{generate_path} is not an inpars.generate manifest")
        return
    found.manifests["generate"] = manifest
    _check_complete(manifest, "generation", generate_path, found)
    recorded = _section(filter_manifest, "input").get("sha256")
    if located.is_file() and recorded is not None and file_sha256(located) != recorded:
        found.notes.append(
            f"{located} changed after it was filtered (its SHA-256 is not the one {path.name} "
            "records), so its manifest may describe other queries"
        )


def _gather_triples(config: PublishConfig, queries_sha: str, found: Provenance) -> None:
    assert config.triples is not None
    path = manifest_path(config.triples)
    if not path.is_file():
        found.notes.append(
            f"no manifest beside {config.triples} ({path.name}): how the negatives were mined "
            "is not recorded"
        )
        return
    manifest = _read_or_note(path, found)
    if manifest is None:
        return
    if manifest.get("stage") != "triples":
        found.notes.append(f"{path} is not an inpars.triples manifest")
        return
    found.manifests["triples"] = manifest
    _check_complete(manifest, "the triples run", path, found)
    if _section(manifest, "queries").get("sha256") != queries_sha:
        found.notes.append(
            f"the triples were made from other queries than {config.queries} ({path.name} "
            "records another SHA-256 for its --queries)"
        )
    outputs = _section(manifest, "outputs")
    jsonl = config.triples_jsonl_path
    for name, file in (("tsv", Path(config.triples)), ("jsonl", jsonl)):
        entry = outputs.get(name)
        recorded = entry.get("sha256") if isinstance(entry, dict) else None
        if recorded is not None and file is not None and recorded != file_sha256(file):
            found.notes.append(f"{file} changed after inpars.triples wrote it")


def _read_or_note(path: Path, found: Provenance) -> dict[str, Any] | None:
    """A manifest, or None with a note saying why it cannot be read."""
    try:
        return read_manifest(path)
    except InputError as exc:
        found.notes.append(str(exc))
        return None


def _check_complete(manifest: dict[str, Any], what: str, path: Path, found: Provenance) -> None:
    status = manifest.get("status")
    if status != "complete":
        found.notes.append(f"{what} did not complete ({path.name} says status {status!r})")
