"""What ``download_data.sh`` asks of the libraries of the field: ir_datasets and the Hub.

The script handles arguments, the plan and the InPars v1 files (a plain S3 bucket, fetched with
curl); everything a library already knows how to fetch and check goes through that library:

* **BEIR collections and MS MARCO passage**, through `ir_datasets <https://ir-datasets.com>`_'s
  own registry: iterating a dataset makes ir_datasets download its archives (once, into
  ``~/.ir_datasets`` or ``$IR_DATASETS_HOME``) and check each against the MD5 in its registry;
  a mismatch is an error and nothing is written. The records are then written out as the
  folders the script has always produced: a BEIR folder (``corpus.jsonl``, ``queries.jsonl``,
  ``qrels/SPLIT.tsv``; :func:`write_beir`) or MS MARCO's TSV files (:func:`write_msmarco_passage`).
  ``irds:beir/NAME/SPLIT`` reads the same data without the copy.
* **The InPars-v2 synthetic queries**, from the InPars authors' Hub dataset
  ``inpars/generated-data`` through ``huggingface_hub.snapshot_download`` (its cache, its
  resume, ``HF_ENDPOINT`` for a mirror, ``HF_HUB_OFFLINE``); the file is then checked against
  the SHA-256 that names it on the Hub (:func:`fetch_hub_file`).

Every output appears under its final name only when complete: a folder is written next to its
destination under a hidden name and renamed; a file is copied to ``NAME.part`` and renamed.

``python -m inpars.download`` is the script's entry point into this module (exit status 1 when
a download fails, with the reason on one line; :mod:`inpars.cli.download`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from inpars.errors import InparsError
from inpars.io import dumps_json

#: The Hub dataset where the InPars authors published the InPars-v2 (InPars toolkit) queries,
#: one folder per BEIR dataset (``scifact/queries.jsonl``, ...).
INPARS_V2_REPO = "inpars/generated-data"

#: MS MARCO passage as the script writes it: file name -> (ir_datasets id, part). The names
#: are those of MS MARCO's own ``collectionandqueries.tar.gz``.
MSMARCO_PASSAGE_FILES: dict[str, tuple[str, str]] = {
    "collection.tsv": ("msmarco-passage", "docs"),
    "queries.train.tsv": ("msmarco-passage/train", "queries"),
    "queries.dev.tsv": ("msmarco-passage/dev", "queries"),
    "queries.dev.small.tsv": ("msmarco-passage/dev/small", "queries"),
    "queries.eval.tsv": ("msmarco-passage/eval", "queries"),
    "queries.eval.small.tsv": ("msmarco-passage/eval/small", "queries"),
    "qrels.train.tsv": ("msmarco-passage/train", "qrels"),
    "qrels.dev.tsv": ("msmarco-passage/dev", "qrels"),
    "qrels.dev.small.tsv": ("msmarco-passage/dev/small", "qrels"),
}

_SHA256 = re.compile(r"[0-9a-f]{64}")


class DownloadError(InparsError):
    """A download that failed (offline, a server error, a checksum that does not match)."""


def _load(dataset_id: str) -> Any:
    import ir_datasets

    try:
        return ir_datasets.load(dataset_id)
    except KeyError:
        raise InparsError(f"ir_datasets has no dataset {dataset_id!r}") from None


def beir_parts(name: str) -> list[tuple[str, str, str | None]]:
    """What BEIR's ``NAME`` folder is made of, read from ir_datasets' registry.

    Returns ``(sub-folder, ir_datasets id, split)`` triples: split None for the documents and
    queries, else the split whose judgments go to ``qrels/SPLIT.tsv``. For ``scifact``:
    ``("", "beir/scifact", None)``, ``("", "beir/scifact/test", "test")``,
    ``("", "beir/scifact/train", "train")``. CQADupStack, which BEIR ships as one folder per
    forum, gives each forum's sub-folder (``android``, ...).

    Raises:
        InparsError: when ir_datasets knows no ``beir/NAME``.
    """
    import ir_datasets

    prefix = f"beir/{name}"
    depth = prefix.count("/") + 1
    children = sorted(i for i in ir_datasets.registry if i.startswith(prefix + "/"))
    if prefix not in ir_datasets.registry:
        forums = [i for i in children if i.count("/") == depth and _load(i).has_docs()]
        if not forums:
            raise InparsError(f"ir_datasets has no dataset {prefix!r}")
        return [(forum.rsplit("/", 1)[1], dataset_id, split)
                for forum in forums
                for _, dataset_id, split in beir_parts(forum[len("beir/") :])]  # fmt: skip
    dataset = _load(prefix)
    # A split shares the collection's documents; another dataset under the prefix (such as
    # beir/webis-touche2020/v2) has its own.
    splits = [
        (child, child.rsplit("/", 1)[1])
        for child in children
        if child.count("/") == depth
        and _load(child).has_qrels()
        and _load(child).docs_handler() is dataset.docs_handler()
    ]
    if not splits and dataset.has_qrels():
        splits = [(prefix, "test")]  # BEIR's one-split collections judge their test set
    return [("", prefix, None)] + [("", child, split) for child, split in splits]


def _fields(record: Any, skip: Iterable[str]) -> dict[str, Any]:
    """A record's other fields, as BEIR keeps them under ``metadata``."""
    return {key: value for key, value in record._asdict().items() if key not in skip}


def _beir_lines(dataset: Any, part: str) -> Iterator[str]:
    if part == "docs":
        for doc in dataset.docs_iter():
            record = {"_id": doc.doc_id, "title": getattr(doc, "title", "") or "",
                      "text": doc.text}  # fmt: skip
            metadata = _fields(doc, ("doc_id", "title", "text"))
            yield dumps_json({**record, "metadata": metadata} if metadata else record) + "\n"
    elif part == "queries":
        for query in dataset.queries_iter():
            record = {"_id": query.query_id, "text": query.text}
            metadata = _fields(query, ("query_id", "text"))
            yield dumps_json({**record, "metadata": metadata} if metadata else record) + "\n"
    else:
        yield "query-id\tcorpus-id\tscore\n"
        for qrel in dataset.qrels_iter():
            yield f"{qrel.query_id}\t{qrel.doc_id}\t{qrel.relevance}\n"


def _tsv_lines(dataset: Any, part: str) -> Iterator[str]:
    if part == "docs":
        for doc in dataset.docs_iter():
            yield f"{doc.doc_id}\t{_one_line(doc.text)}\n"
    elif part == "queries":
        for query in dataset.queries_iter():
            yield f"{query.query_id}\t{_one_line(query.text)}\n"
    else:
        for qrel in dataset.qrels_iter():
            iteration = getattr(qrel, "iteration", "0")
            yield f"{qrel.query_id}\t{iteration}\t{qrel.doc_id}\t{qrel.relevance}\n"


def _one_line(text: str) -> str:
    # A tab or line break inside a text would shift the TSV's columns or rows.
    return " ".join(text.split("\n")).replace("\t", " ")


@contextlib.contextmanager
def _folder_in_place(dest: Path) -> Iterator[Path]:
    """A hidden folder next to ``dest`` that becomes ``dest`` when the block succeeds."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    # What a run killed outright (SIGKILL, a power cut) left behind is of no use to this one.
    for stale in dest.parent.glob(f".{dest.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    work = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    work.mkdir()
    try:
        yield work
        work.rename(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _write(path: Path, lines: Iterable[str]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            handle.write(line)
            count += 1
    return count


@contextlib.contextmanager
def _fetching(what: str) -> Iterator[None]:
    """Turns a failed ir_datasets download (offline, HTTP error, MD5 mismatch) into one line."""
    try:
        yield
    except InparsError:
        raise
    except Exception as error:
        raise DownloadError(
            f"ir_datasets could not fetch {what}: {_one_line(str(error))}"
        ) from error


def write_beir(name: str, dest: str | Path) -> dict[str, int]:
    """Fetches BEIR's ``NAME`` through ir_datasets and writes it as a BEIR folder at ``dest``.

    ``dest`` gets ``corpus.jsonl`` (``_id``, ``title``, ``text``, and the dataset's other
    fields under ``metadata``), ``queries.jsonl`` (``_id``, ``text``, ``metadata``) and
    ``qrels/SPLIT.tsv`` (``query-id``, ``corpus-id``, ``score``, with BEIR's header), for
    each split ir_datasets has judgments for; CQADupStack gets one such folder per forum.
    ``dest`` appears only once everything is written. Returns lines written per file.

    Raises:
        DownloadError: when ir_datasets cannot fetch or check an archive.
    """
    written: dict[str, int] = {}
    with _folder_in_place(Path(dest)) as work:
        for folder, dataset_id, split in beir_parts(name):
            dataset = _load(dataset_id)
            if split is None:
                files = {"corpus.jsonl": "docs", "queries.jsonl": "queries"}
            else:
                files = {f"qrels/{split}.tsv": "qrels"}
            for file, part in files.items():
                with _fetching(f"{dataset_id} ({part})"):
                    lines = _beir_lines(dataset, part)
                    written[str(Path(folder, file))] = _write(work / folder / file, lines)
    return written


def write_msmarco_passage(
    dest: str | Path, files: dict[str, tuple[str, str]] | None = None
) -> dict[str, int]:
    """Fetches MS MARCO passage through ir_datasets and writes MS MARCO's files at ``dest``.

    The files are those of ``files`` (file name -> (ir_datasets id, ``docs``, ``queries`` or
    ``qrels``); default :data:`MSMARCO_PASSAGE_FILES`): ``collection.tsv`` (id, passage),
    ``queries.*.tsv`` (id, query) and ``qrels.*.tsv`` (query id, 0, passage id, relevance).
    The passages are ir_datasets' (which repairs the collection's broken encoding).

    Raises:
        DownloadError: when ir_datasets cannot fetch or check an archive.
    """
    written: dict[str, int] = {}
    with _folder_in_place(Path(dest)) as work:
        for file, (dataset_id, part) in (files or MSMARCO_PASSAGE_FILES).items():
            with _fetching(f"{dataset_id} ({part})"):
                written[file] = _write(work / file, _tsv_lines(_load(dataset_id), part))
    return written


def sha256_of(path: str | Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_hub_file(repo_id: str, filename: str, dest: str | Path, *, revision: str | None = None,
                   repo_type: str = "dataset") -> str | None:  # fmt: skip
    """Downloads one file of a Hub repository with ``snapshot_download`` and copies it to ``dest``.

    The download lands in the Hub cache (``HF_HOME``), where an interrupted one resumes and a
    second call finds it. A file stored with Git LFS is named in that cache by its SHA-256,
    which is checked here (the Hub client checks sizes only); a mismatch removes the cached
    copy and fails. Returns the SHA-256 that was checked, or None for a small file kept in
    Git itself (whose name is a Git hash).

    Raises:
        DownloadError: offline, a missing repository or file, a checksum mismatch.
    """
    from huggingface_hub import snapshot_download

    dest = Path(dest)
    where = f"{filename} from the Hub dataset {repo_id}"
    try:
        folder = snapshot_download(repo_id, repo_type=repo_type, revision=revision,
                                   allow_patterns=[filename])  # fmt: skip
    except Exception as error:
        raise DownloadError(f"could not download {where}: {_one_line(str(error))}") from error
    source = Path(folder) / filename
    if not source.is_file():
        raise DownloadError(f"could not download {where}: the repository has no such file")
    blob = source.resolve()
    expected = blob.name if _SHA256.fullmatch(blob.name) else None
    if expected is not None:
        actual = sha256_of(blob)
        if actual != expected:
            for stale in (blob, source):
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
            raise DownloadError(
                f"checksum mismatch for {where}: expected sha256 {expected}, got {actual}. "
                "The download was removed; run the command again."
            )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    shutil.copyfile(blob, part)
    part.replace(dest)
    return expected


if __name__ == "__main__":
    from inpars.cli.download import main

    sys.exit(main())
