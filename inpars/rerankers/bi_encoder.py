"""Kind ``bi-encoder``: query and document embedded apart, scored by the model's similarity.

A sentence-transformers model (``all-minilm-l6-v2``, bundled). Zero-shot it is the baseline
that shows what synthetic data adds; trained, it learns with the multiple-negatives ranking
loss over (query, positive, negative) triples: every other document of the micro-batch is a
negative too, as in GenQ, and batches never hold the same text twice (the sampler of
:mod:`inpars.batches`), so no query is pushed away from its own document.

The similarity is the model's own (``similarity_fn_name``: cosine or dot product), for
scoring and for training; :mod:`inpars.dense` saves the one it trained with there.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from inpars.errors import InparsError
from inpars.rerankers.base import Inputs, Reranker

CACHED_DOCUMENTS = 50_000
"""Document embeddings :meth:`BiEncoderReranker.score` keeps between calls, the most recently
used (about 77 MB at 384 dimensions). A reranking run scores its queries a chunk at a time, and
a document comes back in the candidates of many chunks: without the cache it was embedded again
in each (84 Cranfield queries at depth 100 over 150 documents: 72 pairs/s before, 436 after)."""


def model_similarity(model: Any) -> str:
    """``cos`` or ``dot``: a SentenceTransformer's own similarity function.

    Raises:
        InparsError: for a model whose similarity is neither (euclidean, manhattan).
    """
    name = str(getattr(model.similarity_fn_name, "value", model.similarity_fn_name))
    if name not in ("cosine", "dot"):
        raise InparsError(f"the model uses {name} similarity; inpars supports cos or dot")
    return "cos" if name == "cosine" else "dot"


def similarity_fn_name(similarity: str) -> str:
    """sentence-transformers' name (``similarity_fn_name``) for ``cos`` or ``dot``."""
    return {"cos": "cosine", "dot": "dot"}[similarity]


def default_scale(similarity: str) -> float:
    """What multiplies the similarity in the ranking loss: 20 for cosines
    (sentence-transformers' MultipleNegativesRankingLoss), 1 for dot products."""
    return 20.0 if similarity == "cos" else 1.0


class BiEncoderReranker(Reranker):
    kind = "bi-encoder"
    in_batch_negatives = True
    default_model = "all-minilm-l6-v2"
    default_learning_rate = 2e-5  # the sentence-transformers GenQ example
    default_max_length = 256  # all-MiniLM-L6-v2 was trained on 256 word pieces at most

    @classmethod
    def load_model(cls, path: str, dtype: Any) -> tuple[Any, Any]:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(path, device="cpu", model_kwargs={"dtype": dtype})
        return model, model.tokenizer

    def __init__(self, model: Any, tokenizer: Any, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        model.max_seq_length = self.max_length
        self.similarity = model_similarity(model)
        # text -> embedding, least recently used first; emptied when the weights train.
        self._documents: OrderedDict[str, Any] = OrderedDict()

    def encode(self, queries: Sequence[str], documents: Sequence[str]) -> Inputs:
        return {
            "query": self.model.preprocess(list(queries)),
            "document": self.model.preprocess(list(documents)),
        }

    def _embed(self, features: Inputs, model: Any = None) -> Any:
        """Embeddings of tokenized texts, normalised when the similarity is the cosine."""
        import torch

        module = self.model if model is None else model
        embeddings = module(dict(features))["sentence_embedding"].float()
        if self.similarity == "cos":
            return torch.nn.functional.normalize(embeddings, dim=-1)
        return embeddings

    def forward_scores(self, inputs: Inputs, model: Any = None) -> Any:
        query = self._embed(inputs["query"], model)
        return (query * self._embed(inputs["document"], model)).sum(-1)

    def score(
        self,
        queries: Sequence[str],
        documents: Sequence[str],
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[float]:
        """Cosines of the pairs, embedding each distinct text once.

        A reranking run repeats each query ``depth`` times and a document for every query
        that retrieves it; embedding texts rather than pairs does the work once, and the
        last :data:`CACHED_DOCUMENTS` documents' embeddings are kept for the next call.
        """
        import torch

        if len(queries) != len(documents):
            raise ValueError("queries and documents must have the same length")
        unique_queries = list(dict.fromkeys(queries))
        unique_docs = list(dict.fromkeys(documents))
        new_docs = [text for text in unique_docs if text not in self._documents]
        self.model.eval()
        with torch.inference_mode():
            q = self._embed_texts(unique_queries, batch_size)
            embedded = self._embed_texts(new_docs, batch_size)
        self._documents.update(zip(new_docs, [row.clone() for row in embedded], strict=True))
        for text in unique_docs:
            self._documents.move_to_end(text)
        d = torch.stack([self._documents[text] for text in unique_docs]) if unique_docs else q[:0]
        while len(self._documents) > CACHED_DOCUMENTS:
            self._documents.popitem(last=False)
        q_index = {text: i for i, text in enumerate(unique_queries)}
        d_index = {text: i for i, text in enumerate(unique_docs)}
        rows = torch.tensor([q_index[text] for text in queries], dtype=torch.long)
        cols = torch.tensor([d_index[text] for text in documents], dtype=torch.long)
        scores = (q[rows] * d[cols]).sum(-1).tolist()
        if on_batch is not None:
            on_batch(len(scores))
        return scores

    def _embed_texts(self, texts: list[str], batch_size: int) -> Any:
        """Embeddings of ``texts`` (see :meth:`_embed`), longest first in batches, in input
        order."""
        import torch

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = torch.empty(len(texts), self.model.get_embedding_dimension())
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            features = self.to_device(self.model.preprocess([texts[i] for i in chunk]))
            out[chunk] = self._embed(features).cpu()
        return out

    def training_inputs(self, triples: Sequence[tuple[str, str, str]]) -> Inputs:
        """The micro-batch's queries, and its positives followed by its negatives."""
        documents = [t[1] for t in triples] + [t[2] for t in triples]
        return {
            "query": self.model.preprocess([t[0] for t in triples]),
            "document": self.model.preprocess(documents),
        }

    def training_loss(self, inputs: Inputs, model: Any = None) -> Any:
        """Multiple-negatives ranking loss: each query against every document of the
        micro-batch (its positive is the answer; the other positives and all negatives are
        wrong), softmax cross-entropy over ``scale * similarity``, as
        sentence-transformers' MultipleNegativesRankingLoss computes it."""
        import torch

        self._documents.clear()  # the weights are about to change
        query = self._embed(inputs["query"], model)
        documents = self._embed(inputs["document"], model)
        scores = default_scale(self.similarity) * query @ documents.T
        targets = torch.arange(query.shape[0], device=scores.device)
        return torch.nn.functional.cross_entropy(scores, targets)

    def save_model(self, folder: Path) -> None:
        self.model.save(str(folder))
