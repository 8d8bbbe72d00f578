"""The one resume rule (inpars.artifacts): same run resumes, another run is refused."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from inpars.artifacts import (
    Artifact,
    corpus_fingerprint,
    file_input,
    is_complete_and_matching,
    jsonl_text,
    read_producer,
)
from inpars.corpus import read_corpus
from inpars.errors import InparsError


def _records(start: int, stop: int) -> list[dict]:
    return [{"id": i, "text": f"record {i} ünïcode"} for i in range(start, stop)]


def _tsv(start: int, stop: int) -> str:
    return "".join(f"q{i}\t{i}\tdoc {i}\n" for i in range(start, stop))


def _run(output: Path, inputs: dict, batches: range, *, overwrite: bool = False) -> str:
    """Writes batches of 3 records (JSONL) and their TSV twin, resuming what is committed."""
    art = Artifact(output, "demo", {"k": 3}, inputs, files=[output.with_suffix(".tsv")])
    state = art.open(overwrite=overwrite)
    if state != "complete":
        with art.appender() as out:
            done = sum(1 for _ in output.open()) // 3
            for batch in batches:
                if batch >= done:
                    out.append(
                        jsonl_text(_records(3 * batch, 3 * batch + 3)),
                        _tsv(3 * batch, 3 * batch + 3),
                    )
        art.complete(counts={"records": 3 * len(batches)})
    return state


def test_same_run_resumes_and_then_skips(tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"a": 1}\n')
    out = tmp_path / "out.jsonl"
    assert _run(out, {"queries": file_input(queries)}, range(2)) == "new"
    manifest = read_producer(out)
    assert manifest["status"] == "complete" and manifest["counts"] == {"records": 6}
    assert manifest["settings"] == {"k": 3} and manifest["seconds"] >= 0
    assert is_complete_and_matching(out, "demo", {"k": 3}, {"queries": file_input(queries)})
    assert not is_complete_and_matching(out, "demo", {"k": 4}, {"queries": file_input(queries)})
    assert _run(out, {"queries": file_input(queries)}, range(2)) == "complete"


def test_changed_setting_and_input_are_refused_with_every_difference(tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"a": 1}\n')
    out = tmp_path / "out.jsonl"
    before = file_input(queries)
    _run(out, {"queries": before}, range(1))
    queries.write_text('{"a": 2}\n')
    art = Artifact(out, "demo", {"k": 4}, {"queries": file_input(queries)})
    with pytest.raises(InparsError) as error:
        art.open()
    message = str(error.value)
    assert "setting k: 3 -> 4" in message
    assert f"input queries changed (sha256 {before['sha256'][:12]}" in message
    assert out.read_text() == jsonl_text(_records(0, 3))  # untouched
    # --overwrite starts again: the old records are gone, the manifest is the new run's.
    assert art.open(overwrite=True) == "new"
    assert not out.exists() and read_producer(out)["settings"] == {"k": 4}


def test_an_older_manifest_without_settings_is_named_as_such(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("{}\n")
    Path(f"{out}.manifest.json").write_text('{"stage": "demo", "config": {"k": 3}}')
    with pytest.raises(InparsError, match=r"records no settings \(written by an older inpars\)"):
        Artifact(out, "demo", {"k": 3}, {}).open()


def test_output_without_manifest_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "someone else\'s"}\n')
    with pytest.raises(InparsError, match=r"has no out\.jsonl\.manifest\.json"):
        Artifact(out, "demo", {}, {}).open()
    assert out.read_text() == '{"id": "someone else\'s"}\n'
    assert Artifact(out, "demo", {}, {}).open(overwrite=True) == "new"
    assert not out.exists()


def test_overwrite_never_deletes_a_folder_inpars_did_not_make(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "precious.bin").write_text("x")
    with pytest.raises(InparsError, match="refusing to delete"):
        Artifact(folder, "train", {}, {}).open(overwrite=True)
    assert (folder / "precious.bin").exists()


def test_deleted_output_starts_again(tmp_path):
    out = tmp_path / "out.jsonl"
    _run(out, {}, range(2))
    out.unlink()
    out.with_suffix(".tsv").unlink()
    assert Artifact(out, "demo", {"k": 99}, {}).open() == "new"


_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from inpars.artifacts import Artifact, jsonl_text
    out = Path(sys.argv[1])
    art = Artifact(out, "demo", {"k": 3}, {}, files=[out.with_suffix(".tsv")])
    art.open()
    appender = art.appender()
    ids = lambda batch: range(3 * batch, 3 * batch + 3)
    for batch in range(3):
        appender.append(
            jsonl_text({"id": i, "text": f"record {i} ünïcode"} for i in ids(batch)),
            "".join(f"q{i}\\t{i}\\tdoc {i}\\n" for i in ids(batch)),
        )
    # The fourth batch is cut in the middle of a line, in one file only, by a kill.
    handle = appender._handles[0]
    handle.write(b'{"id": 9, "text": "rec')
    handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_sigkill_mid_write_then_resume_equals_an_uninterrupted_run(tmp_path):
    whole = tmp_path / "whole" / "out.jsonl"
    _run(whole, {}, range(5))
    out = tmp_path / "cut" / "out.jsonl"
    child = subprocess.run([sys.executable, "-c", _CHILD, str(out)], check=False)
    assert child.returncode == -signal.SIGKILL
    assert out.read_bytes().endswith(b'"rec')  # a cut last line is on disk
    assert read_producer(out)["status"] == "running"
    assert _run(out, {}, range(5)) == "resume"
    assert out.read_bytes() == whole.read_bytes()
    assert out.with_suffix(".tsv").read_bytes() == whole.with_suffix(".tsv").read_bytes()
    assert [json.loads(line)["id"] for line in out.open()] == list(range(15))


def test_corpus_fingerprint_is_of_the_documents_not_the_file(tmp_path):
    a = tmp_path / "a.jsonl"
    b = tmp_path / "b.jsonl"
    a.write_text('{"_id": "1", "title": "T", "text": "x"}\n')
    b.write_text('{"_id":"1",  "text":"x", "title":"T"}\r\n')
    c = tmp_path / "c.jsonl"
    c.write_text('{"_id": "1", "title": "T", "text": "y"}\n')
    fa, fb, fc = (corpus_fingerprint(read_corpus(p)) for p in (a, b, c))
    assert fa == fb and fa[1] == 1
    assert fa != fc
