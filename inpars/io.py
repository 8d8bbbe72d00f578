"""Low-level file I/O shared by every stage: line streaming, JSON Lines, crash-safe writes.

Everything here streams: no function loads a whole input file into memory. Bad input raises
:class:`~inpars.errors.InputError` naming the file and the line.

Every JSON inpars writes goes through :func:`dumps_json` (directly, or via
:func:`inpars.artifacts.jsonl_text` and :func:`atomic_write_json`): standard JSON only, so a
NaN or an infinity is an error naming the file and the field, never a ``NaN`` /
``-Infinity`` token that other JSON readers refuse.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import tempfile
import weakref
import zlib
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from inpars.errors import InparsError, InputError


def _open_binary(path: Path) -> IO[bytes]:
    """The file opened for binary reading, gunzipped on the fly when its name ends in .gz."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def open_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Streams a text file as (1-based line number, line without its newline or CR).

    Files ending in ``.gz`` are gunzipped transparently. Lines are split on ``\\n`` only (not
    on the other characters :meth:`str.splitlines` treats as line breaks, which may legally
    occur inside JSON strings) and decoded as strict UTF-8; a UTF-8 byte order mark at the
    start of the file is dropped.

    Raises:
        InputError: when the file is missing, unreadable or a line is not valid UTF-8.
    """
    path = Path(path)
    handle = _open_for_reading(path)
    with handle:
        number = 0
        try:
            for raw in handle:
                number += 1
                yield number, _decode_line(raw, path, number)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            # A truncated or corrupt .gz surfaces only while reading.
            raise InputError(f"corrupt gzip data: {exc}", path, number + 1) from None


def _decode_line(raw: bytes, path: Path, number: int) -> str:
    """One raw line as :func:`open_lines` yields it: no ``\n`` or ``\r`` at its end, strict
    UTF-8, and no byte order mark on line 1."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"invalid UTF-8 at byte offset {exc.start} of the line", path, number
        ) from None
    if number == 1 and line.startswith("\ufeff"):
        line = line[1:]
    return line


def _open_for_reading(path: Path) -> IO[bytes]:
    """:func:`_open_binary`, with a missing or unreadable file as an InputError."""
    try:
        return _open_binary(path)
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", path) from None
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror or exc}", path) from None


class IndexedLines:
    """Random access to the lines of a text file that ``keep`` accepts, read as
    :func:`open_lines` reads them (``.gz``, CRLF, byte order mark), holding only offsets.

    ``keep(number, line)`` sees every line once, in order, when the index is built (it may
    raise an InputError to reject the file). Offsets are those of the raw lines in the
    file's bytes, never of cleaned text; a ``.gz`` file, which cannot be read at an offset,
    is decompressed once into a temporary file (removed when this object is collected).
    ``lines[i]`` is the ``i``-th kept line; ``lines.number(i)`` its line number.
    """

    def __init__(self, path: str | Path, keep: Callable[[int, str], bool]) -> None:
        self.path = Path(path)
        self._starts = array("q")
        self._ends = array("q")
        self._numbers = array("q")
        self._copy: str | None = None
        copy = None
        if self.path.suffix == ".gz":
            fd, self._copy = tempfile.mkstemp(prefix="inpars-lines-", suffix=".txt")
            copy = os.fdopen(fd, "wb")
            weakref.finalize(self, _remove_copy, self._copy, os.getpid())
        offset = 0
        with _open_for_reading(self.path) as handle, copy or contextlib.nullcontext():
            number = 0
            try:
                for raw in handle:
                    number += 1
                    if copy is not None:
                        copy.write(raw)
                    if keep(number, _decode_line(raw, self.path, number)):
                        self._starts.append(offset)
                        self._ends.append(offset + len(raw))
                        self._numbers.append(number)
                    offset += len(raw)
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                raise InputError(f"corrupt gzip data: {exc}", self.path, number + 1) from None
        self._fd: int | None = None

    def __len__(self) -> int:
        return len(self._starts)

    def number(self, index: int) -> int:
        """The 1-based line number of kept line ``index``."""
        return self._numbers[index]

    def __getitem__(self, index: int) -> str:
        if self._fd is None:
            self._fd = os.open(self._copy or self.path, os.O_RDONLY)
        start = self._starts[index]
        # pread: no shared file position, so data loader workers may read concurrently.
        raw = os.pread(self._fd, self._ends[index] - start, start)
        return _decode_line(raw, self.path, self._numbers[index])

    def __getstate__(self) -> dict[str, Any]:  # a pickled copy (data loader worker) reopens
        return {**self.__dict__, "_fd": None}

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)  # type: ignore[arg-type]


def _remove_copy(path: str, owner: int) -> None:
    """Deletes a decompressed copy, from the process that made it only (not a forked one)."""
    if os.getpid() == owner:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _non_finite(obj: Any, where: str = "") -> tuple[str, float] | None:
    """Where the first NaN or infinity in ``obj`` is (``score``, ``log_probs[3]``), and it."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (where or "a value", obj)
    if isinstance(obj, dict):
        for key, value in obj.items():
            found = _non_finite(value, f"{where}.{key}" if where else str(key))
            if found is not None:
                return found
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            found = _non_finite(value, f"{where}[{index}]")
            if found is not None:
                return found
    return None


def dumps_json(obj: Any, *, indent: int | None = None, path: str | Path | None = None) -> str:
    """``obj`` as standard JSON text (non-ASCII characters kept as they are): the one encoder.

    Raises:
        InparsError: when ``obj`` holds a NaN or an infinity, which JSON cannot represent;
            the message names ``path`` (the file being written) and the field.
    """
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False, indent=indent)
    except ValueError:
        found = _non_finite(obj)
        if found is None:
            raise
        field, value = found
        where = f"{path}: " if path is not None else ""
        raise InparsError(
            f"{where}cannot write {field} = {value!r}: JSON has no NaN or infinity"
        ) from None


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Streams a JSON Lines file as (1-based line number, object), skipping blank lines.

    Raises:
        InputError: for a line that is not valid JSON, or valid JSON but not an object.
    """
    for number, line in open_lines(path):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"malformed JSON: {exc.msg} (column {exc.colno})", path, number
            ) from None
        if not isinstance(value, dict):
            raise InputError(f"expected a JSON object, got {_json_type_name(value)}", path, number)
        yield number, value


def _json_type_name(value: Any) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def atomic_write_text(path: str | Path, text: str) -> None:
    """Writes UTF-8 text so that readers see either the old file or the whole new one.

    The text goes to a temporary file in the same directory (so the rename cannot cross file
    systems), which is fsynced and then moved over ``path`` with :func:`os.replace`. Parent
    directories are created.
    """
    with atomic_open(path) as handle:
        handle.write(text)


@contextlib.contextmanager
def atomic_open(path: str | Path) -> Iterator[IO[str]]:
    """A text file (UTF-8, ``\\n`` newlines) written in a stream and put in place atomically.

    Lines go to a temporary file in the same directory; when the block ends without an
    exception the file is fsynced and renamed over ``path``, so readers (and a run killed
    half-way) see either the old file or the whole new one. On an exception the temporary
    file is removed and ``path`` is left as it was. Parent directories are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(temp_name, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(path.parent)


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Writes ``obj`` as indented JSON (plus a final newline) with :func:`atomic_write_text`."""
    atomic_write_text(path, dumps_json(obj, indent=2, path=path) + "\n")


def _fsync_directory(directory: Path) -> None:
    """Makes a rename in ``directory`` durable; a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (and Windows) do not support fsync on a directory
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(lock_file: str | Path) -> Iterator[None]:
    """Holds an exclusive lock on ``lock_file`` (created if need be) while the block runs.

    Processes that share a folder (the shards of one run on one machine) take turns:
    the first builds an index or encodes a corpus, the others wait and then find it ready.
    Without ``fcntl`` (Windows) there is no lock.
    """
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


__all__ = [
    "IndexedLines",
    "atomic_open",
    "atomic_write_json",
    "atomic_write_text",
    "dumps_json",
    "locked",
    "open_lines",
    "read_jsonl",
]
