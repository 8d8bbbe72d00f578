"""download_data.sh: arguments, the offline failure, and (against local servers) resuming and
checksums; and inpars.download, its library half: BEIR and MS MARCO through ir_datasets (a real
dataset registered from an archive served here, downloaded and MD5-checked by ir_datasets'
own code), InPars-v2 through huggingface_hub against tests/fake_hub.py. Nothing here reaches
the internet: every URL points at 127.0.0.1, and the proxy at a closed port."""

from __future__ import annotations

import hashlib
import http.server
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fake_hub import FakeHub
from fake_hub import Repo as HubRepo

from inpars.download import (
    DownloadError,
    beir_parts,
    write_beir,
    write_msmarco_passage,
)
from inpars.errors import InparsError

from conftest import REPO

SCRIPT = REPO / "download_data.sh"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, connecting fails at once
# A bash to run the script with: INPARS_TEST_BASH=/bin/bash on macOS runs these under its 3.2.
BASH = os.environ.get("INPARS_TEST_BASH", "bash")

pytestmark = pytest.mark.skipif(shutil.which(BASH) is None, reason="needs bash")


def run_script(
    *args: str, cwd: Path, caches: Path | None = None, **env: str
) -> tuple[subprocess.CompletedProcess, float]:
    """Runs the script offline: every library's cache under ``caches`` (``cwd/../caches``),
    the Hub and the InPars v1 bucket at a closed port, and a proxy there for everything else
    (ir_datasets' URLs), so that nothing can reach the internet."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("INPARS_", "HF_"))}
    caches = caches or cwd.parent / f"{cwd.name}-caches"
    environment.update(
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        HTTP_PROXY=UNREACHABLE,
        HTTPS_PROXY=UNREACHABLE,
        http_proxy=UNREACHABLE,
        https_proxy=UNREACHABLE,
        INPARS_PYTHON=sys.executable,
        INPARS_V1_URL=UNREACHABLE,
        HF_ENDPOINT=UNREACHABLE,
        HF_HOME=str(caches / "hf"),
        HF_HUB_DISABLE_TELEMETRY="1",
        IR_DATASETS_HOME=str(caches / "ir_datasets"),
        IR_DATASETS_TMP=str(caches / "ir_datasets-tmp"),
    )
    environment.update(env)
    start = time.monotonic()
    done = subprocess.run(
        [BASH, str(SCRIPT), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, time.monotonic() - start


def tree(folder: Path) -> list[str]:
    """Every path under ``folder``, relative and sorted (hidden ones included)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


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
        "inpars-v2:trec-covid", cwd=tmp_path, INPARS_V1_URL="https://v1.example",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "scifact: ir_datasets beir/scifact -> d/scifact/ "
        "(checksum: the MD5 of ir_datasets' registry)",
        "msmarco-passage: ir_datasets msmarco-passage -> d/msmarco-passage/ "
        "(checksums: the MD5s of ir_datasets' registry)",
        "inpars-v1:scifact: https://v1.example/scifacts_synthetic_queries_100k.jsonl -> "
        "d/inpars-v1/scifact.jsonl (checksum: the one the server publishes, if any)",
        "inpars-v2:trec-covid: Hugging Face dataset inpars/generated-data, "
        "trec-covid/queries.jsonl -> d/inpars-v2/trec-covid.jsonl "
        "(checksum: the SHA-256 the Hub publishes)",
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        # ir_datasets' own download from the URL in its registry, through the (closed) proxy
        ("scifact", "error: ir_datasets could not fetch beir/scifact (docs): "),
        ("msmarco-passage", "error: ir_datasets could not fetch msmarco-passage (docs): "),
        ("inpars-v1:fiqa", "curl exit 7: could not connect: offline"),
        ("inpars-v2:fiqa", "error: could not download fiqa/queries.jsonl from the Hub dataset "
                           "inpars/generated-data: "),
    ],
)  # fmt: skip
def test_offline_fails_fast_and_claims_nothing(tmp_path: Path, name: str, reason: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done, seconds = run_script("--dir", "data", name, cwd=work)
    assert done.returncode == 1 and seconds < 30, done.stderr
    assert reason in done.stderr
    assert tree(work) in ([], ["data"])  # no dataset folder, no archive, no partial file


def test_a_finished_folder_is_not_fetched_again(tmp_path: Path) -> None:
    (tmp_path / "data" / "scifact").mkdir(parents=True)
    (tmp_path / "data" / "msmarco-passage").mkdir()
    done, _ = run_script("scifact", "msmarco-passage", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "already there: data/scifact" in done.stderr
    assert "already there: data/msmarco-passage" in done.stderr


def test_without_the_libraries_it_says_what_to_install(tmp_path: Path) -> None:
    python = tmp_path / "bin" / "python3"
    python.parent.mkdir()
    python.write_text("#!/bin/sh\nexit 1\n")  # a Python without inpars
    python.chmod(0o755)
    done, _ = run_script("scifact", cwd=tmp_path, INPARS_PYTHON=str(python),
                         PATH=f"{python.parent}:/usr/bin:/bin")  # fmt: skip
    assert done.returncode == 1
    assert "need Python with inpars installed" in done.stderr
    assert "INPARS_PYTHON=" in done.stderr


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


def test_files_without_a_published_checksum_say_so(tmp_path: Path, server: str) -> None:
    _Files.files["/v1/fiqa_synthetic_queries_100k.jsonl"] = payload(1000)
    done, _ = run_script("inpars-v1:fiqa", cwd=tmp_path, INPARS_V1_URL=f"{server}/v1")
    assert done.returncode == 0, done.stderr
    assert "no checksum published for" in done.stderr and "not verified" in done.stderr


def test_a_missing_file_is_an_http_error(tmp_path: Path, server: str) -> None:
    done, _ = run_script("inpars-v1:arguana", cwd=tmp_path, INPARS_V1_URL=f"{server}/v1")
    assert done.returncode == 1
    assert "curl exit 22: the server answered with an HTTP error" in done.stderr
    assert not (tmp_path / "data" / "inpars-v1").exists()


# --- InPars-v2 from the Hub: snapshot_download against tests/fake_hub.py --------------------


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as running:
        yield running


def publish_v2(hub: FakeHub, name: str, data: bytes, sha256: str | None = None) -> None:
    """The InPars authors' Hub dataset with ``NAME/queries.jsonl``, stored with Git LFS and
    announced with ``sha256`` (its true SHA-256 unless given)."""
    repo = hub.repos.setdefault("inpars/generated-data", HubRepo(private=False))
    repo.files[f"{name}/queries.jsonl"] = data
    repo.lfs[f"{name}/queries.jsonl"] = sha256 or hashlib.sha256(data).hexdigest()


def test_inpars_v2_comes_through_snapshot_download_checked_by_sha256(
    tmp_path: Path, hub: FakeHub
) -> None:
    data = payload(50_000)
    publish_v2(hub, "fiqa", data, sha256=hashlib.sha256(b"other").hexdigest())
    work, caches = tmp_path / "work", tmp_path / "caches"
    work.mkdir()
    done, _ = run_script("inpars-v2:fiqa", cwd=work, caches=caches, HF_ENDPOINT=hub.url)
    assert done.returncode == 1
    assert "error: checksum mismatch for fiqa/queries.jsonl" in done.stderr
    assert "The download was removed; run the command again." in done.stderr
    assert tree(work) == []  # nothing in DIR
    assert list((caches / "hf").rglob("blobs/*")) == []  # nor in the Hub cache
    # The Hub's copy repaired, the same command fetches it (again) and it passes.
    publish_v2(hub, "fiqa", data)
    hub.requests.clear()
    done, _ = run_script("inpars-v2:fiqa", cwd=work, caches=caches, HF_ENDPOINT=hub.url)
    assert done.returncode == 0, done.stderr
    assert "sha256 OK: fiqa.jsonl" in done.stderr
    assert (work / "data" / "inpars-v2" / "fiqa.jsonl").read_bytes() == data
    assert tree(work) == ["data", "data/inpars-v2", "data/inpars-v2/fiqa.jsonl"]
    assert any(r.startswith("GET /datasets/inpars/generated-data/resolve/") for r in hub.requests)
    # Once there, it is not fetched again.
    hub.requests.clear()
    done, _ = run_script("inpars-v2:fiqa", cwd=work, caches=caches, HF_ENDPOINT=hub.url)
    assert done.returncode == 0 and "already downloaded" in done.stderr
    assert hub.requests == []


def _fetch_from_hub(hub: FakeHub, home: Path, repo: str, filename: str, dest: Path):
    """``python -m inpars.download hub`` in a fresh process: huggingface_hub reads HF_ENDPOINT
    and HF_HOME once, when it is imported, so an in-process call would go to whichever Hub an
    earlier test's import saw."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    environment.update(HF_ENDPOINT=hub.url, HF_HOME=str(home), NO_PROXY="127.0.0.1")
    environment["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "inpars.download", "hub", repo, filename, str(dest)]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)


def test_hub_files_reuse_the_cache_and_name_what_is_missing(tmp_path: Path, hub: FakeHub) -> None:
    data = b'{"doc_id": "d1", "query": "q"}\n' * 3
    publish_v2(hub, "scifact", data)
    hub.repos["inpars/generated-data"].files["small.txt"] = b"kept in git"
    home = tmp_path / "hf"

    def fetch(repo: str, filename: str, dest: str):
        return _fetch_from_hub(hub, home, repo, filename, tmp_path / dest)

    first = fetch("inpars/generated-data", "scifact/queries.jsonl", "a.jsonl")
    assert first.returncode == 0, first.stderr
    assert "sha256 OK" in first.stderr
    assert (tmp_path / "a.jsonl").read_bytes() == data
    hub.requests.clear()
    second = fetch("inpars/generated-data", "scifact/queries.jsonl", "b.jsonl")
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "b.jsonl").read_bytes() == data
    assert not [r for r in hub.requests if "/resolve/" in r and r.startswith("GET")]
    # A file kept in Git (not LFS) has no SHA-256 on the Hub: copied, said unverified.
    small = fetch("inpars/generated-data", "small.txt", "s.txt")
    assert small.returncode == 0, small.stderr
    assert "not verified" in small.stderr
    missing = fetch("inpars/generated-data", "nope/queries.jsonl", "n.jsonl")
    assert missing.returncode == 1
    assert (
        "nope/queries.jsonl from the Hub dataset inpars/generated-data: the repository has "
        "no such file"
    ) in missing.stderr
    no_repo = fetch("inpars/nothing", "scifact/queries.jsonl", "n.jsonl")
    assert no_repo.returncode == 1
    assert "Repository Not Found" in no_repo.stderr
    assert not (tmp_path / "n.jsonl").exists()


def test_a_folder_with_spaces_keeps_every_file_inside_it(
    tmp_path: Path, server: str, hub: FakeHub
) -> None:
    # A plan must keep --dir in one piece: "my data" once sent scifact to the file "my" and
    # skipped fiqa as "already downloaded". The same holds on the way to the libraries.
    scifact, fiqa, v2 = payload(2000), payload(3000), payload(4000)
    _Files.files["/v1/scifacts_synthetic_queries_100k.jsonl"] = scifact
    _Files.files["/v1/fiqa_synthetic_queries_100k.jsonl"] = fiqa
    publish_v2(hub, "scifact", v2)
    folder = tmp_path / "my data  here"
    done, _ = run_script("--dir", str(folder), "inpars-v1:scifact", "inpars-v1:fiqa",
                         "inpars-v2:scifact", cwd=tmp_path, INPARS_V1_URL=f"{server}/v1",
                         HF_ENDPOINT=hub.url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (folder / "inpars-v1" / "scifact.jsonl").read_bytes() == scifact
    assert (folder / "inpars-v1" / "fiqa.jsonl").read_bytes() == fiqa
    assert (folder / "inpars-v2" / "scifact.jsonl").read_bytes() == v2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my data  here"]
    done, _ = run_script("--dry-run", "--dir", "a b", "inpars-v1:fiqa", "fiqa", cwd=tmp_path,
                         INPARS_V1_URL="https://v1.example")  # fmt: skip
    assert done.stdout.splitlines() == [
        "inpars-v1:fiqa: https://v1.example/fiqa_synthetic_queries_100k.jsonl -> "
        "a b/inpars-v1/fiqa.jsonl (checksum: the one the server publishes, if any)",
        "fiqa: ir_datasets beir/fiqa -> a b/fiqa/ (checksum: the MD5 of ir_datasets' registry)",
    ]


def test_the_script_keeps_to_bash_3_2() -> None:
    """macOS ships bash 3.2: none of bash 4's additions may appear in the script. (Run the
    whole file with INPARS_TEST_BASH=/bin/bash on a Mac to run it under 3.2 itself.)"""
    bash4 = {
        r"\b(declare|local|typeset)\s+-[a-zA-Z]*[AnlNu]": "associative arrays, namerefs, -l/-u",
        r"\b(mapfile|readarray|coproc)\b": "mapfile/readarray/coproc",
        r"\$\{[^}]*(,,|\^\^|[^$],\}|\^\})": "case conversion ${x,,} ${x^^}",
        r"\$\{[^}]*@[QEPAaUuLK]\}": "${x@Q} transformations",
        r"&>>|\|&": "&>> and |&",
        r";;&|;&": "case fall-through ;& ;;&",
        r"\[\s*-[0-9]+\s*\]": "negative array indices",
        r"\bwait\s+-n\b|\$\{?(EPOCHSECONDS|EPOCHREALTIME|BASHPID)\b": "wait -n, EPOCH*, BASHPID",
        r"\bglobstar\b|\[\[\s+-v\b|\{[a-zA-Z_]+\}[<>]": "globstar, [[ -v ]], {fd}> redirects",
        r"\bread\b[^|;]*\s-i\b|printf\s+['\"]?%\(": "read -i, printf %(...)T",
    }
    text = SCRIPT.read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    found = {what: re.findall(pattern, code) for pattern, what in bash4.items()}
    assert {what: hits for what, hits in found.items() if hits} == {}
    # The checker finds what it looks for.
    assert re.search(next(iter(bash4)), "declare -A BEIR_MD5=(")
    if shutil.which("shellcheck"):
        checked = subprocess.run(["shellcheck", "-s", "bash", str(SCRIPT)], capture_output=True,
                                 text=True)  # fmt: skip
        assert checked.returncode == 0, checked.stdout


# --- the library half: BEIR and MS MARCO through ir_datasets --------------------------------

_names = itertools.count()

CORPUS = [
    {"_id": "d1", "title": "Wing flutter", "text": "a study of wing flutter",
     "metadata": {"url": "https://example.org/d1"}},
    {"_id": "d2", "title": "", "text": "heat transfer\tin a slab", "metadata": {"url": ""}},
    {"_id": "d3", "title": "Ünïcode", "text": "café society", "metadata": {"url": "u3"}},
]  # fmt: skip
QUERIES = [{"_id": "q1", "text": "wing flutter"}, {"_id": "q2", "text": "heat"}]
QRELS = {"test": [("q1", "d1", 1)], "train": [("q2", "d2", 2), ("q2", "d3", 0)]}


def beir_zip(path: Path, name: str) -> bytes:
    """A BEIR archive as BEIR publishes them: ``NAME/corpus.jsonl``, ``queries.jsonl``,
    ``qrels/SPLIT.tsv``."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}/corpus.jsonl", "".join(json.dumps(d) + "\n" for d in CORPUS))
        archive.writestr(f"{name}/queries.jsonl", "".join(json.dumps(q) + "\n" for q in QUERIES))
        for split, rows in QRELS.items():
            lines = "".join(f"{q}\t{d}\t{r}\n" for q, d, r in rows)
            archive.writestr(f"{name}/qrels/{split}.tsv", "query-id\tcorpus-id\tscore\n" + lines)
    return path.read_bytes()


def register_beir(url: str, md5: str, home: Path) -> str:
    """Registers ``beir/NAME`` and its splits the way ir_datasets registers BEIR's own: its
    Download (HTTP, MD5-checked, cached under ``home``), ZipExtract and BEIR classes."""
    import ir_datasets
    from ir_datasets.datasets.base import Dataset
    from ir_datasets.datasets.beir import BeirDocs, BeirQrels, BeirQueries, BeirTitleUrlDoc
    from ir_datasets.formats import GenericQuery
    from ir_datasets.util import Cache, Download, RequestsDownload, ZipExtract

    name = f"inpars-test-{os.getpid()}-{next(_names)}"
    download = Download([RequestsDownload(url)], expected_md5=md5,
                        cache_path=str(home / name / "source.zip"))  # fmt: skip
    docs = BeirDocs(name, ZipExtract(download, f"{name}/corpus.jsonl"), BeirTitleUrlDoc)
    queries = BeirQueries(name, Cache(ZipExtract(download, f"{name}/queries.jsonl"),
                                      home / name / "queries.json"), GenericQuery)  # fmt: skip
    ir_datasets.registry.register(f"beir/{name}", Dataset(docs, queries))
    for split in QRELS:
        qrels = BeirQrels(Cache(ZipExtract(download, f"{name}/qrels/{split}.tsv"),
                                home / name / f"{split}.qrels"), qrels_defs={})  # fmt: skip
        ir_datasets.registry.register(f"beir/{name}/{split}", Dataset(docs, queries, qrels))
    return name


def test_a_beir_collection_comes_through_ir_datasets_as_beir_s_own_folder(
    tmp_path: Path, server: str
) -> None:
    from inpars.corpus import read_corpus, read_qrels, read_queries

    name = f"inpars-test-{os.getpid()}-{next(_names) + 1}"  # the name register_beir gives next
    data = beir_zip(tmp_path / "beir.zip", name)
    _Files.files["/beir/x.zip"] = data
    assert register_beir(f"{server}/beir/x.zip", hashlib.md5(data).hexdigest(),
                         tmp_path / "irds") == name  # fmt: skip
    assert beir_parts(name) == [("", f"beir/{name}", None), ("", f"beir/{name}/test", "test"),
                                ("", f"beir/{name}/train", "train")]  # fmt: skip
    stale = tmp_path / "data" / f".{name}.partial-1"  # left by a run killed outright
    (stale / "qrels").mkdir(parents=True)
    written = write_beir(name, tmp_path / "data" / name)
    folder = tmp_path / "data" / name
    assert written == {"corpus.jsonl": 3, "queries.jsonl": 2, "qrels/test.tsv": 2,
                       "qrels/train.tsv": 3}  # fmt: skip
    assert [json.loads(line) for line in (folder / "corpus.jsonl").open()] == CORPUS
    assert [json.loads(line) for line in (folder / "queries.jsonl").open()] == QUERIES
    original = tmp_path / "original"
    zipfile.ZipFile(tmp_path / "beir.zip").extractall(original)
    for split in QRELS:
        assert (folder / "qrels" / f"{split}.tsv").read_text() == (
            original / name / "qrels" / f"{split}.tsv"
        ).read_text()
    # inpars reads it as it reads the archive's own folder.
    assert list(read_corpus(folder)) == list(read_corpus(original / name))
    assert list(read_queries(folder)) == list(read_queries(original / name))
    assert read_qrels(folder) == read_qrels(original / name)
    assert tree(tmp_path / "data") == [name, *(f"{name}/{p}" for p in tree(original / name))]
    # ir_datasets fetched the archive once, over HTTP, and keeps it for irds: and reruns.
    assert [r for r in _Files.requests if r[0] == "GET"] == [("GET", "/beir/x.zip", None)]
    write_beir(name, tmp_path / "again")
    assert [r for r in _Files.requests if r[0] == "GET"] == [("GET", "/beir/x.zip", None)]


def test_an_archive_failing_ir_datasets_md5_writes_nothing(tmp_path: Path, server: str) -> None:
    _Files.files["/beir/x.zip"] = beir_zip(tmp_path / "beir.zip", "whatever")
    name = register_beir(f"{server}/beir/x.zip", "0" * 32, tmp_path / "irds")
    with pytest.raises(DownloadError, match=f"ir_datasets could not fetch beir/{name} \\(docs\\): "
                       f"Expected md5 hash to be {'0' * 32} but got"):  # fmt: skip
        write_beir(name, tmp_path / "data" / "x")
    assert tree(tmp_path / "data") == []  # no folder, no hidden partial one


def test_ms_marco_is_written_in_its_own_tsv_files(tmp_path: Path, server: str) -> None:
    data = beir_zip(tmp_path / "beir.zip", f"inpars-test-{os.getpid()}-{next(_names) + 1}")
    _Files.files["/beir/x.zip"] = data
    name = register_beir(f"{server}/beir/x.zip", hashlib.md5(data).hexdigest(), tmp_path / "h")
    files = {"collection.tsv": (f"beir/{name}", "docs"),
             "queries.train.tsv": (f"beir/{name}/train", "queries"),
             "qrels.train.tsv": (f"beir/{name}/train", "qrels")}  # fmt: skip
    write_msmarco_passage(tmp_path / "msmarco-passage", files)
    folder = tmp_path / "msmarco-passage"
    assert (folder / "collection.tsv").read_text().splitlines() == [
        "d1\ta study of wing flutter",
        "d2\theat transfer in a slab",
        "d3\tcafé society",
    ]  # a tab inside a passage would shift the columns
    assert (folder / "queries.train.tsv").read_text() == "q1\twing flutter\nq2\theat\n"
    assert (folder / "qrels.train.tsv").read_text() == "q2\t0\td2\t2\nq2\t0\td3\t0\n"


def test_the_real_registry_knows_every_name_the_script_offers() -> None:
    import ir_datasets

    names = re.search(r'BEIR_NAMES="([^"]*)"', SCRIPT.read_text()).group(1).split()  # type: ignore[union-attr]
    for name in names:
        parts = beir_parts(name)
        assert any(split for _, _, split in parts), name  # judgments for at least one split
    assert beir_parts("scifact") == [("", "beir/scifact", None),
                                     ("", "beir/scifact/test", "test"),
                                     ("", "beir/scifact/train", "train")]  # fmt: skip
    # One-split collections judge their test set; touché's v2 is another dataset, not a split.
    assert beir_parts("webis-touche2020") == [("", "beir/webis-touche2020", None),
                                              ("", "beir/webis-touche2020", "test")]  # fmt: skip
    # The archives and MD5s are ir_datasets' (the MD5 the BEIR README publishes for scifact).
    registry = ir_datasets.util.DownloadConfig.context("beir")["scifact"]
    assert registry.expected_md5 == "5f7d1de60b170fc8027bb7898e2efca1"
    forums = beir_parts("cqadupstack")
    assert len(forums) == 24 and ("unix", "beir/cqadupstack/unix", "test") in forums
    with pytest.raises(InparsError, match="ir_datasets has no dataset 'beir/nope'"):
        beir_parts("nope")
    from inpars.download import MSMARCO_PASSAGE_FILES

    for dataset_id, part in MSMARCO_PASSAGE_FILES.values():
        assert getattr(ir_datasets.load(dataset_id), f"has_{part}")(), dataset_id
