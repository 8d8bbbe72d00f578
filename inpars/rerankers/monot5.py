"""Kind ``monot5``: a T5 sequence-to-sequence model asked "Relevant:" and answering true/false.

Input ``Query: {q} Document: {d} Relevant:``; the score is the log of P(true) under a softmax
over the ``true`` and ``false`` logits of the first decoder step: one decoder step, no
``generate()``. Training (as monoT5 and InPars did) is the usual sequence-to-sequence loss
with target ``true`` for a positive and ``false`` for a negative.

Truncation cuts only the document, so the ``Relevant:`` cue always reaches the model (the
original InPars toolkit truncated the whole string and lost it on long documents). A query
longer than half the input budget is cut to that half, so that a document always has room.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inpars.errors import InparsError
from inpars.rerankers.base import Inputs, Reranker

QUERY_PREFIX = "Query: "
DOCUMENT_PREFIX = " Document:"
CUE = " Relevant:"


def single_token_id(tokenizer: Any, word: str) -> int:
    """The id of ``word`` when the tokenizer writes it as one token (``true``, ``false``)."""
    ids = tokenizer.encode(word, add_special_tokens=False)
    if len(ids) != 1:
        raise InparsError(f"the tokenizer splits {word!r} into {len(ids)} tokens; monoT5 needs 1")
    return ids[0]


def special_tokens_around(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special token ids the tokenizer puts before and after a single text.

    T5 adds ``</s>`` after; BERT-style tokenizers ``[CLS]`` before and ``[SEP]`` after.
    """
    plain = tokenizer.encode("true", add_special_tokens=False)
    full = tokenizer.encode("true", add_special_tokens=True)
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start], full[start + len(plain) :]
    raise InparsError("cannot tell where the tokenizer puts its special tokens")


class MonoT5Reranker(Reranker):
    kind = "monot5"
    default_model = "t5-base"  # InPars fine-tuned T5; castorini/monot5-base-msmarco-10k scores
    default_learning_rate = 3e-4  # InPars' monoT5 fine-tuning (constant, no warm-up)
    default_max_length = 512

    def __init__(self, model: Any, tokenizer: Any, **kwargs: Any) -> None:
        super().__init__(model, tokenizer, **kwargs)
        self.true_id = single_token_id(tokenizer, "true")
        self.false_id = single_token_id(tokenizer, "false")
        start = model.config.decoder_start_token_id
        self.decoder_start_id = start if start is not None else tokenizer.pad_token_id
        self._special_before, self._special_after = special_tokens_around(tokenizer)
        self._document_prefix = tokenizer.encode(DOCUMENT_PREFIX, add_special_tokens=False)
        self._cue = tokenizer.encode(CUE, add_special_tokens=False)

    @classmethod
    def load_model(cls, path: str, dtype: Any) -> tuple[Any, Any]:
        from transformers import AutoTokenizer, T5ForConditionalGeneration

        return T5ForConditionalGeneration.from_pretrained(
            path, dtype=dtype
        ), AutoTokenizer.from_pretrained(path)

    def input_ids(self, query: list[int], document: list[int]) -> list[int]:
        """The ids of one pair: ``Query: q Document: d Relevant:`` plus special tokens."""
        room = (
            self.max_length
            - len(self._special_before)
            - len(self._special_after)
            - len(self._document_prefix)
            - len(self._cue)
        )
        if room < 2:
            raise InparsError(f"max_length {self.max_length} leaves no room for query and document")
        query = query[: max(room - len(document), room // 2)]
        document = document[: room - len(query)]
        return [
            *self._special_before,
            *query,
            *self._document_prefix,
            *document,
            *self._cue,
            *self._special_after,
        ]

    def encode(self, queries: Sequence[str], documents: Sequence[str]) -> Inputs:
        tok = self.tokenizer
        query_ids = tok([QUERY_PREFIX + q for q in queries], add_special_tokens=False)["input_ids"]
        doc_ids = tok([" " + d for d in documents], add_special_tokens=False)["input_ids"]
        rows = [self.input_ids(q, d) for q, d in zip(query_ids, doc_ids, strict=True)]
        return tok.pad({"input_ids": rows}, return_tensors="pt")

    def _first_step_logits(self, inputs: Inputs, model: Any = None) -> Any:
        import torch

        batch = inputs["input_ids"].shape[0]
        start = torch.full((batch, 1), self.decoder_start_id, device=inputs["input_ids"].device)
        out = (self.model if model is None else model)(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            decoder_input_ids=start,
        )
        return out.logits[:, 0, :]

    def forward_scores(self, inputs: Inputs, model: Any = None) -> Any:
        import torch

        logits = self._first_step_logits(inputs, model)[:, [self.false_id, self.true_id]]
        return torch.log_softmax(logits.float(), dim=-1)[:, 1]

    def training_loss(self, inputs: Inputs, model: Any = None) -> Any:
        """Sequence-to-sequence loss on targets ``true`` (positives) and ``false`` (negatives).

        Only the first target token is scored (the one ranking reads); T5's trailing ``</s>``
        after it says nothing about relevance. ``inputs`` are :meth:`training_inputs`'s:
        the positives' pairs, then the negatives'.
        """
        import torch

        logits = self._first_step_logits(inputs, model).float()
        half = logits.shape[0] // 2
        targets = torch.full((logits.shape[0],), self.false_id, device=logits.device)
        targets[:half] = self.true_id
        return torch.nn.functional.cross_entropy(logits, targets)

    def save_model(self, folder: Path) -> None:
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
