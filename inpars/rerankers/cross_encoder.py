"""Kind ``cross-encoder``: query and document read together by a BERT-style encoder.

``AutoModelForSequenceClassification`` with one output logit, the score. Inputs are the
tokenizer's own pair encoding (``[CLS] query [SEP] document [SEP]``), truncating only the
document. Any encoder body loads: ``all-minilm-l6-v2`` (bundled, a random head is added) or
a trained cross-encoder such as ``cross-encoder/ms-marco-MiniLM-L6-v2`` (two-logit models
score by log-softmax of the second).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inpars.rerankers.base import Inputs, Reranker


class CrossEncoderReranker(Reranker):
    kind = "cross-encoder"
    default_model = "all-minilm-l6-v2"
    default_learning_rate = 2e-5  # sentence-transformers' CrossEncoder default
    default_max_length = 512

    @classmethod
    def load_model(cls, path: str, dtype: Any) -> tuple[Any, Any]:
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        config = AutoConfig.from_pretrained(path)
        # A trained classifier keeps its head; a bare encoder body gets a one-logit head.
        trained = any(a.endswith("ForSequenceClassification") for a in config.architectures or [])
        labels = config.num_labels if trained else 1
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=labels, dtype=dtype
        )
        return model, AutoTokenizer.from_pretrained(path)

    def clip_queries(self, queries: Sequence[str]) -> list[str]:
        """Queries cut to half the input budget, so that a document always has room.

        The tokenizer's ``only_second`` truncation cuts only documents, and fails outright
        when a query alone exceeds the budget (CISI has paragraph-long queries).
        """
        limit = self.max_length // 2
        encoded = self.tokenizer(
            list(queries), add_special_tokens=False, return_offsets_mapping=True
        )
        clipped = []
        for query, ids, offsets in zip(
            queries, encoded["input_ids"], encoded["offset_mapping"], strict=True
        ):
            clipped.append(query if len(ids) <= limit else query[: offsets[limit - 1][1]])
        return clipped

    def encode(self, queries: Sequence[str], documents: Sequence[str]) -> Inputs:
        return self.tokenizer(
            self.clip_queries(queries),
            list(documents),
            truncation="only_second",
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )

    def forward_scores(self, inputs: Inputs, model: Any = None) -> Any:
        import torch

        logits = (self.model if model is None else model)(**inputs).logits.float()
        if logits.shape[-1] == 1:
            return logits[:, 0]
        return torch.log_softmax(logits, dim=-1)[:, -1]

    def save_model(self, folder: Path) -> None:
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
