"""Tests for inpars.io: line streaming, JSON Lines reading and durable writes."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from inpars.artifacts import jsonl_text
from inpars.errors import InparsError, InputError
from inpars.io import (
    atomic_open,
    atomic_write_json,
    atomic_write_text,
    dumps_json,
    open_lines,
    read_jsonl,
)


def test_open_lines_numbers_and_strips_newlines(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"one\r\ntwo\n\nthree")
    assert list(open_lines(path)) == [(1, "one"), (2, "two"), (3, ""), (4, "three")]


def test_open_lines_splits_on_newline_only(tmp_path: Path) -> None:
    # U+2028 and a lone CR are legal inside JSON strings and must not split a line.
    path = tmp_path / "a.txt"
    path.write_bytes("a\u2028b\rc\nd\n".encode())
    assert list(open_lines(path)) == [(1, "a\u2028b\rc"), (2, "d")]


def test_open_lines_drops_bom(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfid,text\n")
    assert list(open_lines(path)) == [(1, "id,text")]


def test_open_lines_gzip(tmp_path: Path) -> None:
    path = tmp_path / "a.txt.gz"
    with gzip.open(path, "wb") as handle:
        handle.write("héllo\nworld\n".encode())
    assert list(open_lines(path)) == [(1, "héllo"), (2, "world")]


def test_open_lines_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nab\xffcd\n")
    with pytest.raises(InputError) as info:
        list(open_lines(path))
    assert info.value.line == 2
    message = str(info.value)
    assert "bad.txt:2" in message
    assert "byte offset 2" in message


def test_open_lines_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.txt"):
        list(open_lines(tmp_path / "nope.txt"))


def test_open_lines_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(b"not gzip at all\n")
    with pytest.raises(InputError, match="gzip"):
        list(open_lines(path))


def test_read_jsonl_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n   \n{"b": "é"}\n', encoding="utf-8")
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (4, {"b": "é"})]


def test_read_jsonl_malformed(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        list(read_jsonl(path))
    assert info.value.line == 2
    assert "a.jsonl:2" in str(info.value)
    assert "malformed JSON" in str(info.value)


def test_read_jsonl_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"a\.jsonl:2.*an array"):
        list(read_jsonl(path))


def _lines(*records: dict) -> bytes:
    return b"".join((json.dumps(r) + "\n").encode() for r in records)


def test_atomic_write_text_and_json(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.json"
    atomic_write_json(path, {"b": 1, "a": ["é"]})
    assert json.loads(path.read_text(encoding="utf-8")) == {"b": 1, "a": ["é"]}
    assert path.read_text(encoding="utf-8").startswith('{\n  "b": 1')
    atomic_write_text(path, "replaced")
    assert path.read_text(encoding="utf-8") == "replaced"
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.json"]  # no temp left


def test_atomic_write_gives_files_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "shared.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "shared.txt").stat().st_mode & 0o777 == 0o644


def test_atomic_write_cleans_up_on_error(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "lone surrogate \ud800")  # fails after the temp file exists
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_no_writer_writes_a_number_that_is_not_json(tmp_path: Path, value: float) -> None:
    record = {"doc_id": "d1", "log_probs": [-0.5, value], "extra": {"ok": 1.5}}
    target = tmp_path / "out.jsonl"
    with pytest.raises(InparsError, match=r"out\.jsonl: cannot write log_probs\[1\] = "):
        jsonl_text([{"doc_id": "d0", "log_probs": [-0.1]}, record], target)
    target.write_text(jsonl_text([{"doc_id": "d0", "log_probs": [-0.1]}], target))
    manifest = tmp_path / "m.json"
    with pytest.raises(InparsError, match=r"m\.json: cannot write stats\.score = "):
        atomic_write_json(manifest, {"stats": {"score": value}})
    assert not manifest.exists() and list(tmp_path.iterdir()) == [target]
    with pytest.raises(InparsError, match="JSON has no NaN or infinity"):
        dumps_json([1.0, value])


def test_dumps_json_keeps_text_and_full_precision() -> None:
    assert dumps_json({"q": "café", "s": 0.1 + 0.2}) == '{"q": "café", "s": 0.30000000000000004}'


def test_atomic_open_replaces_the_file_only_when_the_block_completes(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.jsonl"
    with atomic_open(path) as handle:
        handle.write("first\n")
        assert not path.exists()  # nothing is visible until the block ends
    assert path.read_text() == "first\n"
    with pytest.raises(RuntimeError), atomic_open(path) as handle:
        handle.write("half of a second version")
        raise RuntimeError("killed")
    assert path.read_text() == "first\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.jsonl"]  # no temporary left
