"""Dense embeddings of a corpus: the bi-encoder and the embeddings folder it fills.

Part of :mod:`inpars.search` (which re-exports all of this): a corpus is encoded once per
model (sentence-transformers ``encode_document``, so a model's document prompt is used) into
``embeddings.npy`` in an embeddings folder, beside ``doc_ids.json`` and
``inpars-embeddings.json``. The folder is reused while a fingerprint of every document's id
and contents (in corpus order) and a fingerprint of the model (its weights, modules, maximum
input length and dtype) both match; anything else encodes again. Encoding is committed every
``chunk_size`` documents, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpars.artifacts import corpus_fingerprint
from inpars.errors import InparsError
from inpars.io import atomic_write_json, atomic_write_text, dumps_json, locked
from inpars.models import cache_dir, pick_device, pick_dtype, resolve_model_path
from inpars.records import Document

EMBEDDINGS_FILE = "embeddings.npy"
DOC_IDS_FILE = "doc_ids.json"
METADATA_FILE = "inpars-embeddings.json"
"""The files of an embeddings folder; a folder without a complete metadata file is not used."""

EMBEDDINGS_FORMAT = 1
"""Bumped when inpars changes how it stores embeddings, so that old folders are rebuilt."""

SIMILARITIES = ("auto", "cos", "dot")

DEFAULT_MODEL = "all-minilm-l6-v2"


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
