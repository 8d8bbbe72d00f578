"""Kind ``bi-encoder``: query and document embedded apart, scored by cosine similarity.

A sentence-transformers model (``all-minilm-l6-v2``, bundled). Zero-shot it is the baseline
that shows what synthetic data adds; trained, it learns with sentence-transformers'
MultipleNegativesRankingLoss over (query, positive, negative) triples: every other document
of the batch is a negative too, as in GenQ.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inpars.rerankers.base import Inputs, Reranker


class BiEncoderReranker(Reranker):
    kind = "bi-encoder"
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

    def encode(self, queries: Sequence[str], documents: Sequence[str]) -> Inputs:
        return {
            "query": self.model.preprocess(list(queries)),
            "document": self.model.preprocess(list(documents)),
        }

    def _embed(self, features: Inputs) -> Any:
        import torch

        embeddings = self.model(dict(features))["sentence_embedding"]
        return torch.nn.functional.normalize(embeddings.float(), dim=-1)

    def forward_scores(self, inputs: Inputs) -> Any:
        return (self._embed(inputs["query"]) * self._embed(inputs["document"])).sum(-1)

    def training_loss(self, batch: dict[str, Inputs]) -> Any:
        from sentence_transformers.losses import MultipleNegativesRankingLoss

        loss = MultipleNegativesRankingLoss(self.model)
        features = [
            dict(batch["pos"]["query"]),
            dict(batch["pos"]["document"]),
            dict(batch["neg"]["document"]),
        ]
        return loss(features, labels=None)

    def save_model(self, folder: Path) -> None:
        self.model.save(str(folder))
