"""download_data.sh: arguments, the offline failure, and (against a local server) resuming and
checksums. Nothing here reaches the internet: every URL points at 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import os
import random
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from conftest import REPO

SCRIPT = REPO / "download_data.sh"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, connecting fails at once

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run_script(*args: str, cwd: Path, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("INPARS_")}
    environment.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    environment.update(
        INPARS_BEIR_URL=UNREACHABLE,
        INPARS_MSMARCO_URL=UNREACHABLE,
        INPARS_V1_URL=UNREACHABLE,
        INPARS_V2_URL=UNREACHABLE,
    )
    environment.update(env)
    start = time.monotonic()
    done = subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, time.monotonic() - start


def test_help_lists_what_it_can_fetch(tmp_path: Path) -> None:
    done, _ = run_script("--help", cwd=tmp_path)
    assert done.returncode == 0
    for name in ("scifact", "nfcorpus", "fiqa", "arguana", "trec-covid", "scidocs",
                 "msmarco-passage", "inpars-v1:NAME", "inpars-v2:NAME", "--dir",
                 "--dry-run", "webis-touche2020"):  # fmt: skip
        assert name in done.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name at least one dataset"),
        (("scifactt",), "unknown dataset 'scifactt'"),
        (("inpars-v1:nope",), "unknown InPars v1 dataset 'nope'"),
        (("inpars-v2:",), "unknown InPars-v2 dataset ''"),
        (("--bogus", "scifact"), "unknown option '--bogus'"),
        (("scifact", "--dir"), "--dir needs a folder"),
        # A bad name anywhere stops the run before anything is fetched.
        (("scifact", "nope"), "unknown dataset 'nope'"),
    ],
)
def test_bad_arguments_are_usage_errors(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done, _ = run_script(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and "--help" in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created, not even the data folder


def test_dry_run_shows_sources_destinations_and_checksums(tmp_path: Path) -> None:
    done, _ = run_script(
        "--dry-run", "--dir", "d", "scifact", "msmarco-passage", "inpars-v1:scifact",
        "inpars-v2:trec-covid", cwd=tmp_path,
        INPARS_BEIR_URL="https://beir.example", INPARS_MSMARCO_URL="https://ms.example",
        INPARS_V1_URL="https://v1.example", INPARS_V2_URL="https://v2.example",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "scifact: https://beir.example/scifact.zip -> d/scifact/ "
        "(md5 5f7d1de60b170fc8027bb7898e2efca1)",
        "msmarco-passage: https://ms.example/collectionandqueries.tar.gz -> d/msmarco-passage/ "
        "(md5 31644046b18952c1386cd4564ba2ae69)",
        "inpars-v1:scifact: https://v1.example/scifacts_synthetic_queries_100k.jsonl -> "
        "d/inpars-v1/scifact.jsonl (checksum: the one the server publishes, if any)",
        "inpars-v2:trec-covid: https://v2.example/trec-covid/queries.jsonl -> "
        "d/inpars-v2/trec-covid.jsonl (checksum: the one the server publishes, if any)",
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["scifact", "msmarco-passage", "inpars-v1:fiqa", "inpars-v2:fiqa"])
def test_offline_fails_fast_and_claims_nothing(tmp_path: Path, name: str) -> None:
    done, seconds = run_script("--dir", "data", name, cwd=tmp_path)
    assert done.returncode == 1 and seconds < 15
    assert "error: could not download http://127.0.0.1:9/" in done.stderr
    assert "curl exit 7: could not connect: offline" in done.stderr
    assert "Nothing was downloaded" in done.stderr
    leftovers = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert leftovers == ["data"]  # no dataset folder, no archive, no partial file


# --- against a local server ---------------------------------------------------------------


class _Files(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` with byte ranges; publishes checksums the way S3 and the Hub do."""

    files: ClassVar[dict[str, bytes]] = {}
    headers_for: ClassVar[dict[str, dict[str, str]]] = {}
    requests: ClassVar[list[tuple[str, str, str | None]]] = []

    def _respond(self, with_body: bool) -> None:
        type(self).requests.append((self.command, self.path, self.headers.get("Range")))
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted and wanted.startswith("bytes="):
            start = int(wanted[len("bytes=") :].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        for key, value in self.headers_for.get(self.path, {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if with_body:
            self.wfile.write(data[start:])

    def do_GET(self) -> None:
        self._respond(with_body=True)

    def do_HEAD(self) -> None:
        self._respond(with_body=False)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Files.files, _Files.headers_for, _Files.requests = {}, {}, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def payload(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def test_resumes_a_partial_download_and_checks_the_servers_md5(tmp_path: Path, server: str) -> None:
    data = payload(300_000)
    path = "/v1/scifacts_synthetic_queries_100k.jsonl"
    _Files.files[path] = data
    _Files.headers_for[path] = {"ETag": f'"{hashlib.md5(data).hexdigest()}"'}  # as S3 does
    target = tmp_path / "data" / "inpars-v1" / "scifact.jsonl"
    target.parent.mkdir(parents=True)
    Path(f"{target}.part").write_bytes(data[:100_000])  # an earlier run, cut short
    done, _ = run_script("inpars-v1:scifact", cwd=tmp_path, INPARS_V1_URL=f"{server}/v1")
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr and "md5 OK: scifact.jsonl" in done.stderr
    assert target.read_bytes() == data and not Path(f"{target}.part").exists()
    assert ("GET", path, "bytes=100000-") in _Files.requests
    # Once there, it is not fetched again.
    _Files.requests.clear()
    done, _ = run_script("inpars-v1:scifact", cwd=tmp_path, INPARS_V1_URL=f"{server}/v1")
    assert done.returncode == 0 and "already downloaded" in done.stderr
    assert _Files.requests == []


def test_hub_sha256_is_checked_and_a_mismatch_removes_the_download(
    tmp_path: Path, server: str
) -> None:
    data = payload(50_000)
    path = "/v2/fiqa/queries.jsonl"
    _Files.files[path] = data
    _Files.headers_for[path] = {"X-Linked-Etag": f'"{hashlib.sha256(data).hexdigest()}"'}
    done, _ = run_script("inpars-v2:fiqa", cwd=tmp_path, INPARS_V2_URL=f"{server}/v2")
    assert done.returncode == 0, done.stderr
    assert "sha256 OK: fiqa.jsonl" in done.stderr
    assert (tmp_path / "data" / "inpars-v2" / "fiqa.jsonl").read_bytes() == data
    _Files.headers_for[path] = {"X-Linked-Etag": f'"{hashlib.sha256(b"other").hexdigest()}"'}
    done, _ = run_script("inpars-v2:fiqa", "--dir", "again", cwd=tmp_path,
                         INPARS_V2_URL=f"{server}/v2")  # fmt: skip
    assert done.returncode == 1
    assert "checksum mismatch for" in done.stderr and "The download was removed" in done.stderr
    assert list((tmp_path / "again" / "inpars-v2").iterdir()) == []


def test_files_without_a_published_checksum_say_so(tmp_path: Path, server: str) -> None:
    _Files.files["/v2/scifact/queries.jsonl"] = payload(1000)
    done, _ = run_script("inpars-v2:scifact", cwd=tmp_path, INPARS_V2_URL=f"{server}/v2")
    assert done.returncode == 0, done.stderr
    assert "no checksum published for" in done.stderr and "not verified" in done.stderr


def test_a_missing_file_is_an_http_error(tmp_path: Path, server: str) -> None:
    done, _ = run_script("inpars-v2:arguana", cwd=tmp_path, INPARS_V2_URL=f"{server}/v2")
    assert done.returncode == 1
    assert "curl exit 22: the server answered with an HTTP error" in done.stderr
    assert not (tmp_path / "data" / "inpars-v2").exists()


def test_a_beir_zip_failing_its_md5_is_not_extracted(tmp_path: Path, server: str) -> None:
    archive = tmp_path / "scifact.zip"
    (tmp_path / "src" / "scifact").mkdir(parents=True)
    (tmp_path / "src" / "scifact" / "corpus.jsonl").write_text('{"_id": "1", "text": "t"}\n')
    shutil.make_archive(str(archive.with_suffix("")), "zip", tmp_path / "src")
    _Files.files["/beir/scifact.zip"] = archive.read_bytes()  # not the published archive
    done, _ = run_script("scifact", "--dir", "out", cwd=tmp_path, INPARS_BEIR_URL=f"{server}/beir")
    assert done.returncode == 1
    assert "checksum mismatch for" in done.stderr
    assert "expected md5 5f7d1de60b170fc8027bb7898e2efca1" in done.stderr
    leftovers = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")
    )
    assert leftovers == ["downloads"]  # no scifact/, no zip, no .part, no extraction folder


def test_a_folder_with_spaces_keeps_every_file_inside_it(tmp_path: Path, server: str) -> None:
    # A plan must keep --dir in one piece: "my data" once sent scifact to the file "my" and
    # skipped fiqa as "already downloaded".
    scifact, fiqa = payload(2000), payload(3000)
    _Files.files["/v1/scifacts_synthetic_queries_100k.jsonl"] = scifact
    _Files.files["/v1/fiqa_synthetic_queries_100k.jsonl"] = fiqa
    folder = tmp_path / "my data  here"
    done, _ = run_script("--dir", str(folder), "inpars-v1:scifact", "inpars-v1:fiqa",
                         cwd=tmp_path, INPARS_V1_URL=f"{server}/v1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (folder / "inpars-v1" / "scifact.jsonl").read_bytes() == scifact
    assert (folder / "inpars-v1" / "fiqa.jsonl").read_bytes() == fiqa
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my data  here"]
    done, _ = run_script("--dry-run", "--dir", "a b", "inpars-v1:fiqa", cwd=tmp_path,
                         INPARS_V1_URL="https://v1.example")  # fmt: skip
    assert done.stdout.splitlines() == [
        "inpars-v1:fiqa: https://v1.example/fiqa_synthetic_queries_100k.jsonl -> "
        "a b/inpars-v1/fiqa.jsonl (checksum: the one the server publishes, if any)"
    ]
