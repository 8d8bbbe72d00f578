"""Tests for inpars.io: line streaming, JSON Lines reading, tail repair and durable writes."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from inpars import io as inpars_io
from inpars.errors import InparsError, InputError
from inpars.io import (
    JsonlWriter,
    atomic_open,
    atomic_write_json,
    atomic_write_text,
    dumps_json,
    open_lines,
    read_jsonl,
    repair_jsonl_tail,
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


def test_repair_removes_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    good = _lines({"a": 1}, {"a": 2})
    path.write_bytes(good + b'{"a": 3}')  # complete JSON, but the newline never made it
    assert repair_jsonl_tail(path) == len(b'{"a": 3}')
    assert path.read_bytes() == good


def test_repair_removes_partial_json(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    good = _lines({"a": 1})
    path.write_bytes(good + b'{"a": "half')
    assert repair_jsonl_tail(path) == len(b'{"a": "half')
    assert path.read_bytes() == good


def test_repair_removes_terminated_invalid_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    good = _lines({"a": 1})
    tail = b'{"a": \n{"b'
    path.write_bytes(good + tail)
    assert repair_jsonl_tail(path) == len(tail)
    assert path.read_bytes() == good


def test_repair_clean_file_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    data = _lines({"a": 1}, {"a": 2})
    path.write_bytes(data)
    assert repair_jsonl_tail(path) == 0
    assert path.read_bytes() == data


def test_repair_only_garbage_empties_file(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"x"')
    assert repair_jsonl_tail(path) == 4
    assert path.read_bytes() == b""


def test_repair_missing_file(tmp_path: Path) -> None:
    assert repair_jsonl_tail(tmp_path / "nope.jsonl") == 0
    assert not (tmp_path / "nope.jsonl").exists()


def test_repair_reads_backwards_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A tiny chunk size makes lines span many chunks.
    monkeypatch.setattr(inpars_io, "_TAIL_CHUNK", 7)
    path = tmp_path / "out.jsonl"
    good = _lines({"text": "x" * 50}, {"text": "y" * 40})
    partial = b'{"text": "' + b"z" * 30
    path.write_bytes(good + partial)
    assert repair_jsonl_tail(path) == len(partial)
    assert path.read_bytes() == good


def test_writer_appends_and_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "out.jsonl"
    with JsonlWriter(path) as writer:
        writer.write_many([{"a": 1}, {"b": "é"}])
        writer.write_many([])
    with JsonlWriter(path) as writer:
        writer.write_many([{"c": 3}])
    assert path.read_text(encoding="utf-8") == '{"a": 1}\n{"b": "é"}\n{"c": 3}\n'
    assert [record for _, record in read_jsonl(path)] == [{"a": 1}, {"b": "é"}, {"c": 3}]
    with JsonlWriter(path, append=False) as writer:
        writer.write({"d": 4})
    assert path.read_text(encoding="utf-8") == '{"d": 4}\n'
    assert writer.closed


def test_writer_single_write_per_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.jsonl"
    writer = JsonlWriter(path)
    calls: list[bytes] = []
    handle = writer._handle
    assert handle is not None
    real_write = handle.write

    class Spy:
        def __getattr__(self, name: str) -> object:
            return getattr(handle, name)

        def write(self, data: bytes) -> int:
            calls.append(data)
            return real_write(data)

    writer._handle = Spy()  # type: ignore[assignment]
    writer.write_many({"i": i} for i in range(3))
    writer._handle = handle
    writer.close()
    assert calls == [b'{"i": 0}\n{"i": 1}\n{"i": 2}\n']


def test_writer_refuses_to_append_to_broken_tail(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": ')
    with pytest.raises(InputError, match="repair_jsonl_tail"):
        JsonlWriter(path)
    repair_jsonl_tail(path)
    with JsonlWriter(path) as writer:
        writer.write_many([{"a": 2}])
    assert path.read_bytes() == b'{"a": 1}\n{"a": 2}\n'


def test_writer_closed_write_fails(tmp_path: Path) -> None:
    writer = JsonlWriter(tmp_path / "out.jsonl")
    writer.close()
    writer.close()
    with pytest.raises(ValueError):
        writer.write_many([{"a": 1}])


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
    with JsonlWriter(target, append=False) as writer:
        writer.write({"doc_id": "d0", "log_probs": [-0.1]})
        with pytest.raises(InparsError, match=r"out\.jsonl: cannot write log_probs\[1\] = "):
            writer.write(record)
    # The good record is there, the bad one left nothing behind.
    assert [obj for _, obj in read_jsonl(target)] == [{"doc_id": "d0", "log_probs": [-0.1]}]
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
