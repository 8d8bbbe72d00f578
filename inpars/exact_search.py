"""Exact dense search: the top k of each query over a corpus's embeddings, block by block.

Part of :mod:`inpars.search` (which re-exports all of this). The query embeddings are
multiplied with the corpus embeddings one block of ``block_size`` documents at a time (torch,
on the GPU when there is one), keeping a running top ``k``; memory stays bounded by the block,
never the corpus. Ties are ordered by corpus position.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from inpars.embeddings import (
    SIMILARITIES,
    DenseEncoder,
    EmbeddingIndex,
    default_embeddings_dir,
    ensure_embeddings,
)
from inpars.errors import InparsError
from inpars.records import Document

# Scores held in memory at once while searching: a block of documents times a slice of the
# queries (2**24 scores, 192 MiB with their sort keys).
_SCORE_BUDGET = 2**24

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
