"""Dense retrieval: encode a corpus once with a bi-encoder, search it exactly, write TREC runs.

Library use::

    from inpars.search import DenseRetriever, SearchConfig, search_run

    retriever = DenseRetriever.open("all-minilm-l6-v2", "data/scifact")
    hits = retriever.search(["what causes tides"], k=10)[0]  # [(doc id, score), ...]

    search_run(SearchConfig(queries="data/scifact", corpus="data/scifact",
                            output="dense.trec", model="genq-scifact", hybrid=True))

Command line: ``python -m inpars.search --help``. With queries as arguments it prints the top
passages for a person trying a model::

    python -m inpars.search --model all-minilm-l6-v2 --corpus sample "freedom of speech"

**Embeddings.** A corpus is encoded once per model (sentence-transformers ``encode_document``,
so a model's document prompt is used) into ``embeddings.npy`` in an embeddings folder, beside
``doc_ids.json`` and ``inpars-embeddings.json``. The folder is reused while a fingerprint of
every document's id and contents (in corpus order) and a fingerprint of the model (its
weights, modules, maximum input length and dtype) both match; anything else encodes again.
Encoding is committed every ``chunk_size`` documents, so an interrupted run resumes where it
stopped. The default folder lives in the inpars cache (``$INPARS_CACHE/dense``), keyed by the
corpus file and the model, so every command that searches one corpus with one model (GPL
negative mining, evaluation runs, this CLI) shares it.

**Search** is exact: the query embeddings are multiplied with the corpus embeddings one block
of ``block_size`` documents at a time (torch, on the GPU when there is one), keeping a running
top ``k``; memory stays bounded by the block, never the corpus. The similarity is the model's
own (``cosine`` for all-MiniLM-L6-v2, ``dot`` for models trained with dot products), or the
one given. Ties are ordered by corpus position.

**Hybrid** (``--hybrid``): the dense ranking and BM25's (the Lucene index of
:mod:`inpars.bm25`) are fused by reciprocal rank (:func:`inpars.runs.reciprocal_rank_fusion`).
With ``--bm25-corpus`` (an expansion from :mod:`inpars.expand`; :mod:`inpars.bm25_corpus`),
BM25 searches the expansion while the bi-encoder encodes ``--corpus`` and printed passages are
``--corpus``'s: the cheap hybrid of document expansion and a zero-shot bi-encoder.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpars.artifacts import corpus_fingerprint
from inpars.bm25 import DEFAULT_B, DEFAULT_K1
from inpars.bm25_corpus import add_bm25_corpus_argument
from inpars.errors import InparsError, require_at_least_one
from inpars.io import atomic_write_json, atomic_write_text, dumps_json, locked
from inpars.models import cache_dir, pick_device, pick_dtype, resolve_model_path
from inpars.progress import (
    console_warnings,
    print_error,
    progress_bar,
    say,
    stderr_console,
    summary_table,
)
from inpars.records import Document

EMBEDDINGS_FILE = "embeddings.npy"
DOC_IDS_FILE = "doc_ids.json"
METADATA_FILE = "inpars-embeddings.json"
"""The files of an embeddings folder; a folder without a complete metadata file is not used."""

EMBEDDINGS_FORMAT = 1
"""Bumped when inpars changes how it stores embeddings, so that old folders are rebuilt."""

SIMILARITIES = ("auto", "cos", "dot")

DEFAULT_MODEL = "all-minilm-l6-v2"

# Scores held in memory at once while searching: a block of documents times a slice of the
# queries (2**24 scores, 192 MiB with their sort keys).
_SCORE_BUDGET = 2**24


# -- the model ----------------------------------------------------------------------------


class DenseEncoder:
    """A sentence-transformers bi-encoder that embeds queries and documents as numpy arrays."""

    def __init__(self, model: Any, name: str, device: str) -> None:
        self.model = model
        self.name = name
        self.device = device
        self._fingerprint: str | None = None

    @classmethod
    def load(
        cls,
        name: str = DEFAULT_MODEL,
        *,
        device: str = "auto",
        dtype: str = "auto",
        max_length: int | None = None,
    ) -> DenseEncoder:
        """Loads a model: a folder, a hub id, or ``all-minilm-l6-v2`` (bundled)."""
        from sentence_transformers import SentenceTransformer

        device = pick_device(device)
        path = resolve_model_path(name)
        try:
            model = SentenceTransformer(
                path, device=device, model_kwargs={"dtype": pick_dtype(dtype, device)}
            )
        except (OSError, ValueError) as exc:
            raise InparsError(f"cannot load model {name!r}: {exc}") from None
        if max_length is not None:
            model.max_seq_length = max_length
        model.eval()
        return cls(model, name, device)

    @property
    def dimension(self) -> int | None:
        return self.model.get_embedding_dimension()

    @property
    def similarity(self) -> str:
        """The model's own similarity: ``cos`` or ``dot``."""
        from inpars.rerankers.bi_encoder import model_similarity

        try:
            return model_similarity(self.model)
        except InparsError as exc:
            raise InparsError(f"model {self.name!r}: {exc} (pass --similarity)") from None

    def fingerprint(self) -> str:
        """A digest of what decides the embeddings: weights, modules, input length, dtype."""
        import torch

        if self._fingerprint is None:
            digest = hashlib.sha256()
            header = {
                "modules": repr(self.model),
                "max_seq_length": self.model.max_seq_length,
                "prompts": self.model.prompts,
                "tokenizer": [type(self.model.tokenizer).__name__, len(self.model.tokenizer)],
            }
            digest.update(json.dumps(header, sort_keys=True, default=str).encode("utf-8"))
            for key, tensor in sorted(self.model.state_dict().items()):
                data = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
                digest.update(f"\n{key}:{tensor.dtype}:{tuple(tensor.shape)}:".encode())
                digest.update(data.numpy().tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def encode_queries(self, texts: Sequence[str], batch_size: int = 64) -> Any:
        """Query embeddings (float32 numpy, one row per text, not normalised)."""
        return self._encode(self.model.encode_query, texts, batch_size)

    def encode_documents(self, texts: Sequence[str], batch_size: int = 64) -> Any:
        """Document embeddings (float32 numpy, one row per text, not normalised)."""
        return self._encode(self.model.encode_document, texts, batch_size)

    def _encode(self, method: Any, texts: Sequence[str], batch_size: int) -> Any:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension or 0), dtype=np.float32)
        embeddings = method(
            list(texts), batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(embeddings, dtype=np.float32)


# -- the embeddings folder ----------------------------------------------------------------


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:40].strip("-.") or "x"


def default_embeddings_dir(corpus_file: str | Path, model: str) -> Path:
    """The cache folder for a corpus file's embeddings by a model (named after both)."""
    corpus_file = Path(corpus_file).resolve()
    model_key = str(Path(model).resolve()) if Path(model).exists() else model
    key = hashlib.sha256(f"{corpus_file}\x00{model_key}".encode()).hexdigest()[:16]
    corpus_name = corpus_file.parent.name if corpus_file.stem == "corpus" else corpus_file.stem
    return cache_dir() / "dense" / f"{_slug(corpus_name)}-{_slug(Path(model).name)}-{key}"


def default_bm25_dir(corpus_file: str | Path) -> Path:
    """The cache folder for a corpus file's BM25 index (``--hybrid`` without ``--bm25-index``)."""
    corpus_file = Path(corpus_file).resolve()
    key = hashlib.sha256(str(corpus_file).encode()).hexdigest()[:16]
    corpus_name = corpus_file.parent.name if corpus_file.stem == "corpus" else corpus_file.stem
    return cache_dir() / "bm25" / f"{_slug(corpus_name)}-{key}"


@dataclass
class EmbeddingIndex:
    """A corpus's embeddings, ready to search, and how they came to be."""

    path: Path
    doc_ids: list[str]
    embeddings: Any  # numpy (memory-mapped) float32 array, one row per document
    corpus_fingerprint: str
    model_fingerprint: str
    reused: bool  # True: found up to date; False: (partly) encoded by this call
    reason: str  # "unchanged", or why it was encoded
    seconds: float

    def __len__(self) -> int:
        return len(self.doc_ids)


def read_embeddings_metadata(folder: str | Path) -> dict[str, Any] | None:
    """The metadata of an embeddings folder, or None when there is none."""
    try:
        data = json.loads((Path(folder) / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Holds an exclusive lock on ``folder`` (two processes never encode one folder at once)."""
    with locked(folder / ".lock"):
        yield


def ensure_embeddings(
    documents: Iterable[Document],
    encoder: DenseEncoder,
    folder: str | Path,
    *,
    batch_size: int = 64,
    chunk_size: int = 4096,
    rebuild: bool = False,
    progress: Any = None,
) -> EmbeddingIndex:
    """The embeddings of ``documents`` by ``encoder`` in ``folder``: reused when up to date.

    Up to date means: the folder's corpus fingerprint equals that of ``documents`` (a
    streaming pass) and its model fingerprint equals the encoder's. A folder left half done
    with the same fingerprints is resumed; anything else is encoded from the start.
    ``documents`` must be re-iterable (a :class:`~inpars.corpus.CorpusReader` is).

    Raises:
        InparsError: for an empty corpus, or one that changed while it was being read.
    """
    import numpy as np

    start = time.perf_counter()
    folder = Path(folder)
    if batch_size < 1 or chunk_size < 1:
        raise InparsError("the batch and chunk sizes must be at least 1")
    task = None if progress is None else progress.add_task("check corpus", total=None)
    corpus_fp, count = corpus_fingerprint(documents, progress, task)
    if count == 0:
        raise InparsError("the corpus has no documents to encode")
    model_fp = encoder.fingerprint()
    with _locked(folder):
        meta = read_embeddings_metadata(folder)
        same = (
            meta is not None
            and not rebuild
            and meta.get("format") == EMBEDDINGS_FORMAT
            and meta.get("corpus_fingerprint") == corpus_fp
            and meta.get("model_fingerprint") == model_fp
            and meta.get("documents") == count
        )
        embeddings_path = folder / EMBEDDINGS_FILE
        if same and meta and meta.get("complete"):
            try:
                doc_ids = json.loads((folder / DOC_IDS_FILE).read_text(encoding="utf-8"))
                embeddings = np.load(embeddings_path, mmap_mode="r")
            except (OSError, ValueError):
                doc_ids, embeddings = None, None
            if (
                isinstance(doc_ids, list)
                and embeddings is not None
                and len(doc_ids) == count
                and embeddings.shape[0] == count
            ):
                return EmbeddingIndex(
                    path=folder,
                    doc_ids=doc_ids,
                    embeddings=embeddings,
                    corpus_fingerprint=corpus_fp,
                    model_fingerprint=model_fp,
                    reused=True,
                    reason="unchanged",
                    seconds=time.perf_counter() - start,
                )
        if rebuild:
            reason = "rebuild requested"
        elif meta is None:
            reason = "no embeddings yet"
        elif not same:
            reason = "corpus or model changed"
        else:
            reason = "resumed" if not meta.get("complete") else "files damaged"
        done = int(meta.get("done", 0)) if same and meta and not meta.get("complete") else 0
        embeddings = None
        if done:
            try:
                embeddings = np.load(embeddings_path, mmap_mode="r+")
            except (OSError, ValueError):
                embeddings = None
            if embeddings is None or embeddings.shape[0] != count:
                done, embeddings = 0, None
        if embeddings is None:
            for name in (METADATA_FILE, DOC_IDS_FILE, EMBEDDINGS_FILE):
                (folder / name).unlink(missing_ok=True)
        doc_ids = _encode_into(
            documents,
            encoder,
            folder,
            embeddings,
            done,
            count,
            {"corpus_fingerprint": corpus_fp, "model_fingerprint": model_fp},
            batch_size=batch_size,
            chunk_size=chunk_size,
            progress=progress,
        )
        return EmbeddingIndex(
            path=folder,
            doc_ids=doc_ids,
            embeddings=np.load(embeddings_path, mmap_mode="r"),
            corpus_fingerprint=corpus_fp,
            model_fingerprint=model_fp,
            reused=False,
            reason=reason,
            seconds=time.perf_counter() - start,
        )


def _encode_into(
    documents: Iterable[Document],
    encoder: DenseEncoder,
    folder: Path,
    embeddings: Any,
    done: int,
    count: int,
    fingerprints: dict[str, str],
    *,
    batch_size: int,
    chunk_size: int,
    progress: Any,
) -> list[str]:
    """Encodes documents ``done`` onwards into ``folder``, committing every chunk."""
    import numpy as np

    meta: dict[str, Any] = {
        "format": EMBEDDINGS_FORMAT,
        **fingerprints,
        "model": encoder.name,
        "documents": count,
        "done": done,
        "complete": False,
    }
    task = None if progress is None else progress.add_task("encode corpus", total=count)
    if task is not None:
        progress.update(task, completed=done)
    doc_ids: list[str] = []
    chunk: list[Document] = []

    def flush(rows: list[Document]) -> None:
        nonlocal embeddings
        vectors = encoder.encode_documents([d.contents for d in rows], batch_size)
        if embeddings is None:
            shape = (count, vectors.shape[1])
            embeddings = np.lib.format.open_memmap(
                folder / EMBEDDINGS_FILE, mode="w+", dtype=np.float32, shape=shape
            )
            meta["dimension"] = int(vectors.shape[1])
        first = meta["done"]
        embeddings[first : first + len(rows)] = vectors
        embeddings.flush()
        meta["done"] = first + len(rows)
        atomic_write_json(folder / METADATA_FILE, meta)
        if task is not None:
            progress.advance(task, len(rows))

    for position, doc in enumerate(documents):
        if position >= count:
            raise InparsError("the corpus changed while it was being encoded; run again")
        doc_ids.append(doc.id)
        if position < done:
            continue
        chunk.append(doc)
        if len(chunk) >= chunk_size:
            flush(chunk)
            chunk = []
    if chunk:
        flush(chunk)
    if len(doc_ids) != count:
        raise InparsError("the corpus changed while it was being encoded; run again")
    if embeddings is not None:
        meta["dimension"] = int(embeddings.shape[1])
        embeddings.flush()
    atomic_write_text(folder / DOC_IDS_FILE, dumps_json(doc_ids, path=folder / DOC_IDS_FILE))
    meta["complete"] = True
    atomic_write_json(folder / METADATA_FILE, meta)
    return doc_ids


# -- exact top k --------------------------------------------------------------------------


_LOW_BITS = 0xFFFFFFFF


def _ranking_keys(scores: Any, first_row: int) -> Any:
    """One int64 per score that sorts as (score descending, row ascending) does.

    The high 32 bits are the float32 score's bits made order-preserving (negative floats
    have their other bits flipped), the low 32 bits the row, complemented: a plain ``topk``
    over the keys is then exact and deterministic, equal scores included.
    """
    import torch

    bits = scores.contiguous().view(torch.int32).to(torch.int64)
    bits = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    rows = torch.arange(first_row, first_row + scores.shape[1], device=scores.device)
    return (bits << 32) | (_LOW_BITS - rows)


def _decode_keys(keys: Any) -> tuple[Any, Any]:
    """(scores, rows) from :func:`_ranking_keys`' keys."""
    import torch

    bits = keys >> 32
    bits = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    return bits.to(torch.int32).view(torch.float32), _LOW_BITS - (keys & _LOW_BITS)


def exact_top_k(
    queries: Any,
    documents: Any,
    k: int,
    *,
    normalize: bool = False,
    block_size: int = 65536,
    device: str = "cpu",
) -> tuple[Any, Any]:
    """The ``k`` best documents of each query by dot product (cosine with ``normalize``).

    ``queries`` is a (Q, D) and ``documents`` an (N, D) float array (a memory map is fine:
    it is read once, one block of ``block_size`` rows at a time). Returns numpy arrays
    (scores, row indices), each (Q, min(k, N)), best first; equal scores are ordered by row.
    """
    import numpy as np
    import torch

    if k < 1 or block_size < 1:
        raise InparsError("k and the block size must be at least 1")
    count = documents.shape[0]
    if count >= 2**32:
        raise InparsError("at most 2**32 documents can be searched")
    keep = min(k, count)
    q = torch.as_tensor(np.asarray(queries, dtype=np.float32), device=device)
    if normalize:
        q = torch.nn.functional.normalize(q, dim=-1)
    best = torch.empty((q.shape[0], 0), dtype=torch.int64, device=device)
    step = max(1, _SCORE_BUDGET // block_size)
    with torch.inference_mode():
        for first in range(0, count, block_size):
            # A copy: a read-only memory map cannot back a tensor.
            block = np.array(documents[first : first + block_size], dtype=np.float32)
            d = torch.from_numpy(block).to(device)
            if normalize:
                d = torch.nn.functional.normalize(d, dim=-1)
            parts = []
            for q_first in range(0, q.shape[0], step):
                keys = _ranking_keys(q[q_first : q_first + step] @ d.T, first)
                parts.append(keys.topk(min(keep, keys.shape[1]), dim=1).values)
            best = torch.cat([best, torch.cat(parts)], dim=1)
            best = best.topk(min(keep, best.shape[1]), dim=1).values
    scores, rows = _decode_keys(best)
    return scores.cpu().numpy(), rows.cpu().numpy()


# -- the retriever ------------------------------------------------------------------------


class DenseRetriever:
    """Exact dense search over a corpus's embeddings."""

    def __init__(
        self,
        encoder: DenseEncoder,
        index: EmbeddingIndex,
        *,
        similarity: str = "auto",
        block_size: int = 65536,
        batch_size: int = 64,
    ) -> None:
        if similarity not in SIMILARITIES:
            raise InparsError(f"--similarity must be one of {', '.join(SIMILARITIES)}")
        self.encoder = encoder
        self.index = index
        self.similarity = encoder.similarity if similarity == "auto" else similarity
        self.block_size = block_size
        self.batch_size = batch_size

    @classmethod
    def open(
        cls,
        model: str,
        corpus: str | Iterable[Document],
        *,
        embeddings_dir: str | Path | None = None,
        similarity: str = "auto",
        device: str = "auto",
        dtype: str = "auto",
        max_length: int | None = None,
        batch_size: int = 64,
        chunk_size: int = 4096,
        block_size: int = 65536,
        rebuild: bool = False,
        progress: Any = None,
        encoder: DenseEncoder | None = None,
    ) -> DenseRetriever:
        """Loads ``model`` and the corpus's embeddings (encoding them if needed).

        ``corpus`` is a corpus path (as :func:`inpars.corpus.read_corpus` reads) or a
        re-iterable of documents, which then needs ``embeddings_dir``.
        """
        from inpars.corpus import CorpusReader, read_corpus

        documents = read_corpus(corpus) if isinstance(corpus, (str, Path)) else corpus
        if embeddings_dir is None:
            if not isinstance(documents, CorpusReader):
                raise InparsError("give embeddings_dir for documents that are not a corpus path")
            embeddings_dir = default_embeddings_dir(documents.file, model)
        if encoder is None:
            encoder = DenseEncoder.load(model, device=device, dtype=dtype, max_length=max_length)
        index = ensure_embeddings(
            documents,
            encoder,
            embeddings_dir,
            batch_size=batch_size,
            chunk_size=chunk_size,
            rebuild=rebuild,
            progress=progress,
        )
        return cls(
            encoder, index, similarity=similarity, block_size=block_size, batch_size=batch_size
        )

    def search(self, queries: Sequence[str], k: int = 1000) -> list[list[tuple[str, float]]]:
        """The top ``k`` (doc id, score) of each query, best first, in query order."""
        if not queries:
            return []
        vectors = self.encoder.encode_queries(queries, self.batch_size)
        scores, rows = exact_top_k(
            vectors,
            self.index.embeddings,
            k,
            normalize=self.similarity == "cos",
            block_size=self.block_size,
            device=self.encoder.device,
        )
        ids = self.index.doc_ids
        return [
            [(ids[row], float(score)) for score, row in zip(q_scores, q_rows, strict=True)]
            for q_scores, q_rows in zip(scores.tolist(), rows.tolist(), strict=True)
        ]


# -- runs -----------------------------------------------------------------------------------


@dataclass
class SearchConfig:
    """Everything :func:`search_run` needs; the CLI flags map one to one."""

    queries: str  # BEIR folder (queries.jsonl), queries JSONL, or qid<TAB>text TSV
    corpus: str
    output: str  # the TREC run
    model: str = DEFAULT_MODEL
    k: int = 1000
    qrels: str | None = None  # search only the queries judged here
    similarity: str = "auto"
    hybrid: bool = False
    bm25_corpus: str | None = None  # hybrid: the corpus BM25 searches (e.g. expanded)
    rrf_k: int = 60
    bm25_depth: int | None = None  # BM25 hits fused in hybrid mode (default: k)
    bm25_output: str | None = None  # hybrid: also write the BM25 run that was fused
    dense_output: str | None = None  # hybrid: also write the dense run that was fused
    embeddings: str | None = None  # default: in the inpars cache
    bm25_index: str | None = None  # default: in the inpars cache
    batch_size: int = 64
    chunk_size: int = 4096
    block_size: int = 65536
    max_length: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    k1: float = DEFAULT_K1
    b: float = DEFAULT_B
    threads: int = max(1, os.cpu_count() or 1)
    tag: str | None = None
    rebuild: bool = False

    def check(self) -> None:
        require_at_least_one(
            ("--k", self.k),
            ("--rrf-k", self.rrf_k),
            ("--batch-size", self.batch_size),
            ("--chunk-size", self.chunk_size),
            ("--block-size", self.block_size),
            ("--threads", self.threads),
        )
        if self.bm25_depth is not None and self.bm25_depth < 1:
            raise InparsError(f"--bm25-depth must be at least 1 (got {self.bm25_depth})")
        if self.similarity not in SIMILARITIES:
            raise InparsError(f"--similarity must be one of {', '.join(SIMILARITIES)}")
        if (self.bm25_output or self.dense_output or self.bm25_corpus) and not self.hybrid:
            raise InparsError("--bm25-corpus, --bm25-output and --dense-output go with --hybrid")


@dataclass
class SearchSummary:
    """What a run did."""

    queries: int = 0
    documents: int = 0
    embeddings: str = ""
    embeddings_reused: bool = False
    embeddings_reason: str = ""
    encode_seconds: float = 0.0
    search_seconds: float = 0.0
    seconds: float = 0.0


def bm25_rankings(
    corpus: Any,
    queries: Sequence[str],
    depth: int,
    *,
    bm25_corpus: str | None = None,
    index_dir: str | Path | None = None,
    k1: float = DEFAULT_K1,
    b: float = DEFAULT_B,
    threads: int = 1,
    progress: Any = None,
) -> list[list[tuple[str, float]]]:
    """BM25's top ``depth`` (doc id, score) of each query.

    BM25 searches ``bm25_corpus`` (an expansion of ``corpus``, :mod:`inpars.bm25_corpus`)
    or ``corpus`` (a :class:`~inpars.corpus.CorpusReader`); the index is built or reused at
    ``index_dir``, by default the inpars cache folder of the searched corpus's file.
    """
    from inpars.bm25_corpus import ensure_bm25_index
    from inpars.corpus import read_corpus

    expansion = read_corpus(bm25_corpus) if bm25_corpus else None
    index = ensure_bm25_index(
        corpus,
        index_dir or default_bm25_dir((expansion or corpus).file),
        bm25_corpus=expansion,
        threads=threads,
        progress=progress,
        texts=False,
    )
    with index.open(k1, b) as searcher:
        found = searcher.batch_search(list(queries), depth, threads)
        return [[(hit.doc_id, hit.score) for hit in ranking] for ranking in found]


def fuse(
    dense: Sequence[Sequence[tuple[str, float]]],
    sparse: Sequence[Sequence[tuple[str, float]]],
    k: int,
    rrf_k: int = 60,
) -> list[list[tuple[str, float]]]:
    """Each query's dense and BM25 rankings fused by reciprocal rank, top ``k``.

    Equal fused scores are ordered as trec_eval orders them (:func:`inpars.runs.trec_order`),
    so the cut at ``k`` keeps what an evaluation of the run would rank first.
    """
    from inpars.runs import reciprocal_rank_fusion, trec_order

    if len(dense) != len(sparse):
        raise ValueError("dense and sparse rankings must cover the same queries")
    runs = [{str(i): dict(ranking) for i, ranking in enumerate(side)} for side in (dense, sparse)]
    fused = reciprocal_rank_fusion(runs, rrf_k)
    rankings = []
    for i in range(len(dense)):
        scores = fused.get(str(i), {})
        rankings.append([(doc_id, scores[doc_id]) for doc_id in trec_order(scores)[:k]])
    return rankings


def _write_run(path: str | Path, query_ids: Sequence[str], rankings: Any, tag: str) -> None:
    from inpars.runs import format_run, rank_scores

    lines = [
        format_run(rank_scores(query_id, ranking, tag))
        for query_id, ranking in zip(query_ids, rankings, strict=True)
    ]
    atomic_write_text(path, "".join(lines))


def search_run(config: SearchConfig, *, show_progress: bool = False) -> SearchSummary:
    """Writes the TREC run of ``config.queries`` (dense, or hybrid) to ``config.output``.

    The run is written at once, atomically: a crash leaves the old file or the new one.

    Raises:
        InputError: for bad queries, qrels or corpus files.
        InparsError: for bad settings.
    """
    from inpars.corpus import read_corpus, read_qrels, read_queries

    config.check()
    start = time.perf_counter()
    summary = SearchSummary()
    queries = list(read_queries(config.queries))
    if config.qrels:
        judged = set(read_qrels(config.qrels))
        queries = [q for q in queries if q.id in judged]
    if not queries:
        raise InparsError(f"{config.queries}: no queries to search")
    corpus = read_corpus(config.corpus)
    with progress_bar(show_progress) as progress:
        retriever = DenseRetriever.open(
            config.model,
            corpus,
            embeddings_dir=config.embeddings,
            similarity=config.similarity,
            device=config.device,
            dtype=config.dtype,
            max_length=config.max_length,
            batch_size=config.batch_size,
            chunk_size=config.chunk_size,
            block_size=config.block_size,
            rebuild=config.rebuild,
            progress=progress,
        )
    summary.embeddings = str(retriever.index.path)
    summary.embeddings_reused = retriever.index.reused
    summary.embeddings_reason = retriever.index.reason
    summary.encode_seconds = retriever.index.seconds
    summary.documents = len(retriever.index)
    started = time.perf_counter()
    texts = [q.text for q in queries]
    rankings = retriever.search(texts, config.k)
    query_ids = [q.id for q in queries]
    tag = config.tag or "inpars-dense"
    if config.hybrid:
        with progress_bar(show_progress) as progress:
            sparse = bm25_rankings(
                corpus,
                texts,
                config.bm25_depth or config.k,
                bm25_corpus=config.bm25_corpus,
                index_dir=config.bm25_index,
                k1=config.k1,
                b=config.b,
                threads=config.threads,
                progress=progress,
            )
        if config.dense_output:
            _write_run(config.dense_output, query_ids, rankings, tag)
        if config.bm25_output:
            _write_run(config.bm25_output, query_ids, sparse, "bm25")
        rankings = fuse(rankings, sparse, config.k, config.rrf_k)
        tag = config.tag or "inpars-hybrid"
    summary.search_seconds = time.perf_counter() - started
    _write_run(config.output, query_ids, rankings, tag)
    summary.queries = len(queries)
    summary.seconds = time.perf_counter() - start
    return summary


# -- command line ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpars.search",
        description="Dense retrieval with a bi-encoder (sentence-transformers): the corpus is "
        "encoded once (embeddings reused while the corpus and the model are unchanged) and "
        "searched exactly. Give queries as arguments to print the top passages, or "
        "--queries and --output to write a TREC run for inpars.evaluate.",
    )
    parser.add_argument("query", nargs="*", help="queries to search and print")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="bi-encoder: folder, hub id, or all-minilm-l6-v2 (bundled; default)",
    )
    parser.add_argument(
        "--corpus", required=True, help="BEIR folder, .jsonl, .tsv or .csv (or 'sample')"
    )
    parser.add_argument(
        "--queries", help="BEIR folder (queries.jsonl), queries JSONL or qid<TAB>text TSV"
    )
    parser.add_argument("--output", help="the TREC run to write (with --queries)")
    parser.add_argument("--qrels", help="search only the queries judged in these qrels")
    parser.add_argument(
        "--k",
        type=int,
        default=None,
        help="hits per query (default: 1000 for runs, 10 when printing)",
    )
    parser.add_argument(
        "--similarity",
        choices=SIMILARITIES,
        default="auto",
        help="cos or dot; auto is the model's own (default: %(default)s)",
    )
    parser.add_argument(
        "--hybrid",
        action="store_true",
        help="fuse the dense ranking with BM25's by reciprocal rank",
    )
    add_bm25_corpus_argument(parser, "with --hybrid: the bi-encoder and the printed passages")
    parser.add_argument(
        "--rrf-k", type=int, default=60, help="reciprocal rank fusion's k (default: %(default)s)"
    )
    parser.add_argument(
        "--bm25-depth", type=int, help="BM25 hits fused with --hybrid (default: --k)"
    )
    parser.add_argument("--bm25-output", help="with --hybrid: also write the BM25 run")
    parser.add_argument("--dense-output", help="with --hybrid: also write the dense run")
    parser.add_argument(
        "--embeddings",
        help="folder for the corpus embeddings, reused while the corpus and model are "
        "unchanged (default: in the inpars cache)",
    )
    parser.add_argument(
        "--bm25-index", help="Lucene index folder for --hybrid (default: in the inpars cache)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, help="texts per encoder batch (default: %(default)s)"
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=4096,
        help="documents encoded per committed chunk; an interrupted encoding resumes after "
        "the last one (default: %(default)s)",
    )
    parser.add_argument(
        "--block-size",
        type=int,
        default=65536,
        help="corpus embeddings scored per step; bounds search memory (default: %(default)s)",
    )
    parser.add_argument("--max-length", type=int, help="input tokens (default: the model's)")
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:1, mps or auto (default: %(default)s)"
    )
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "float32", "bfloat16", "float16"],
        help="model dtype; auto is bfloat16/float16 on GPUs, float32 on CPUs",
    )
    parser.add_argument(
        "--k1", type=float, default=DEFAULT_K1, help="BM25 k1 (default: %(default)s)"
    )
    parser.add_argument("--b", type=float, default=DEFAULT_B, help="BM25 b (default: %(default)s)")
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, os.cpu_count() or 1),
        help="BM25 search and indexing threads (default: %(default)s)",
    )
    parser.add_argument("--tag", help="the run's tag (default: inpars-dense or inpars-hybrid)")
    parser.add_argument(
        "--rebuild", action="store_true", help="encode the corpus again even if up to date"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="only encode the documents of shard I of N into --embeddings (no queries): one "
        "process per GPU or machine; python -m inpars.merge joins the N folders into the "
        "corpus's embeddings",
    )
    return parser


def _config_from_args(args: argparse.Namespace) -> SearchConfig:
    names = set(SearchConfig.__dataclass_fields__)
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return SearchConfig(**values)


def _document_texts(corpus: str, wanted: set[str]) -> dict[str, str]:
    """The contents of the ``wanted`` documents (one streaming pass over the corpus)."""
    from inpars.corpus import read_corpus

    found: dict[str, str] = {}
    for doc in read_corpus(corpus):
        if doc.id in wanted:
            found[doc.id] = doc.contents
            if len(found) == len(wanted):
                break
    return found


def print_hits(
    queries: Sequence[str],
    rankings: Sequence[Sequence[tuple[str, float]]],
    texts: dict[str, str],
    console: Any,
    width: int = 200,
) -> None:
    """A table per query: rank, document id, score and the start of the passage.

    Queries, ids and passages are shown as they are (``rich.text.Text``), never read as markup.
    """
    from rich.table import Table
    from rich.text import Text

    for query, ranking in zip(queries, rankings, strict=True):
        table = Table(title=Text(query, style="bold"), title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("doc id")
        table.add_column("score", justify="right")
        table.add_column("passage")
        for rank, (doc_id, score) in enumerate(ranking, start=1):
            text = " ".join(texts.get(doc_id, "").split())
            if len(text) > width:
                text = text[: width - 1] + "…"
            table.add_row(str(rank), Text(doc_id), f"{score:.4f}", Text(text))
        console.print(table)


def print_summary(summary: SearchSummary, config: SearchConfig, console: Any) -> None:
    state = "reused" if summary.embeddings_reused else f"encoded ({summary.embeddings_reason})"
    rows = [
        ("model", config.model),
        ("documents", f"{summary.documents:,}"),
        ("embeddings", f"{state}, {summary.encode_seconds:,.1f} s"),
        ("embeddings folder", summary.embeddings),
        ("queries", f"{summary.queries:,}"),
        ("mode", _mode(config.hybrid, config.bm25_corpus)),
        ("search seconds", f"{summary.search_seconds:,.1f}"),
        ("seconds", f"{summary.seconds:,.1f}"),
    ]
    console.print(summary_table(f"inpars.search → {config.output}", rows))


def _mode(hybrid: bool, bm25_corpus: str | None) -> str:
    if not hybrid:
        return "dense"
    return f"hybrid (dense + BM25{f' over {bm25_corpus}' if bm25_corpus else ''}, RRF)"


def _interactive(args: argparse.Namespace, console: Any) -> None:
    """Searches the queries given as arguments and prints the top passages."""
    from inpars.corpus import read_corpus

    if args.bm25_corpus and not args.hybrid:
        raise InparsError("--bm25-corpus goes with --hybrid")
    corpus = read_corpus(args.corpus)
    k = args.k or 10
    with progress_bar(not args.quiet) as progress:
        retriever = DenseRetriever.open(
            args.model,
            corpus,
            embeddings_dir=args.embeddings,
            similarity=args.similarity,
            device=args.device,
            dtype=args.dtype,
            max_length=args.max_length,
            batch_size=args.batch_size,
            chunk_size=args.chunk_size,
            block_size=args.block_size,
            rebuild=args.rebuild,
            progress=progress,
        )
        # Fusion needs deeper rankings than the k printed.
        depth = max(k, 100) if args.hybrid else k
        rankings = retriever.search(args.query, depth)
        if args.hybrid:
            sparse = bm25_rankings(
                corpus,
                args.query,
                args.bm25_depth or depth,
                bm25_corpus=args.bm25_corpus,
                index_dir=args.bm25_index,
                k1=args.k1,
                b=args.b,
                threads=args.threads,
                progress=progress,
            )
            rankings = fuse(rankings, sparse, k, args.rrf_k)
    wanted = {doc_id for ranking in rankings for doc_id, _ in ranking}
    print_hits(args.query, rankings, _document_texts(args.corpus, wanted), console)


def _encode_shard(args: argparse.Namespace, console: Any) -> None:
    """``--shard I/N``: encodes that shard of the corpus into ``--embeddings``, and stops."""
    from inpars.embedding_shards import encode_shard

    if args.query or args.queries or args.output or args.hybrid or not args.embeddings:
        raise InparsError("--shard encodes only: give --corpus, --embeddings and no queries")
    encoder = DenseEncoder.load(
        args.model, device=args.device, dtype=args.dtype, max_length=args.max_length
    )
    with progress_bar(not args.quiet) as progress:
        count = encode_shard(
            args.corpus,
            args.embeddings,
            args.shard,
            encoder,
            batch_size=args.batch_size,
            chunk_size=args.chunk_size,
            rebuild=args.rebuild,
            progress=progress,
        )
    say(f"{args.embeddings}:", f"shard {args.shard}, {count:,} documents encoded", console=console)


@console_warnings()
def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    args = build_parser().parse_args(argv)
    console = Console()
    errors = stderr_console()
    try:
        if args.shard:
            _encode_shard(args, errors)
            return 0
        if args.query:
            if args.output or args.queries:
                raise InparsError("give queries as arguments or --queries/--output, not both")
            _interactive(args, console)
            return 0
        if not (args.queries and args.output):
            raise InparsError("give queries as arguments, or --queries and --output for a run")
        config = _config_from_args(args)
        summary = search_run(config, show_progress=not args.quiet)
    except InparsError as exc:
        print_error(exc, errors)
        return 2
    except KeyboardInterrupt:
        errors.print("[yellow]interrupted: rerun the same command to resume encoding[/]")
        return 130
    print_summary(summary, config, errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
