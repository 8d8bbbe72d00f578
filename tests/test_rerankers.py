"""Reranker kinds: inputs (the monoT5 cue survives truncation), scores, kind detection."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from inpars.errors import InparsError
from inpars.rerankers import available_kinds, load_reranker
from inpars.rerankers.base import infer_kind

LONG_DOCUMENT = " ".join(f"word{i}" for i in range(2000))


def test_kinds_are_discovered() -> None:
    assert {"monot5", "cross-encoder", "bi-encoder"} <= set(available_kinds())
    with pytest.raises(InparsError, match="unknown reranker kind 'colbert'"):
        load_reranker("x", kind="colbert")


def test_monot5_truncates_only_the_document_and_keeps_the_cue(tiny_t5: Path) -> None:
    reranker = load_reranker(str(tiny_t5), max_length=48)
    inputs = reranker.encode(["how do wings flutter", "short"], [LONG_DOCUMENT, "a small text"])
    assert inputs["input_ids"].shape[1] == 48
    text = reranker.tokenizer.decode(inputs["input_ids"][0])
    assert text.startswith("[CLS] query : how do wings flutter document : word0 word1")
    assert text.endswith("relevant : [SEP]")
    short = reranker.tokenizer.decode(inputs["input_ids"][1], skip_special_tokens=True)
    assert short == "query : short document : a small text relevant :"
    # A query longer than the budget keeps half of it, and the document and cue still fit.
    huge = reranker.tokenizer.decode(reranker.encode([LONG_DOCUMENT], ["the doc"])["input_ids"][0])
    assert "document : the doc relevant : [SEP]" in huge


def test_monot5_one_decoder_step_equals_generate_first_step(tiny_t5: Path) -> None:
    reranker = load_reranker(str(tiny_t5), max_length=64)
    queries, docs = ["what is a wing", "heat transfer"], ["a wing lifts", "the heat of a plate"]
    scores = reranker.score(queries, docs)
    inputs = reranker.encode(queries, docs)
    with torch.inference_mode():
        out = reranker.model.generate(
            **inputs, max_new_tokens=1, do_sample=False, output_scores=True,
            return_dict_in_generate=True,
        )  # fmt: skip
    pair = out.scores[0][:, [reranker.false_id, reranker.true_id]]
    expected = torch.log_softmax(pair, dim=-1)[:, 1].tolist()
    assert scores == pytest.approx(expected, abs=1e-5)
    assert all(s < 0 for s in scores)  # the log of P(true)


def test_cross_encoder_truncates_only_the_document(tiny_cross_encoder: Path) -> None:
    reranker = load_reranker(str(tiny_cross_encoder), max_length=32)
    assert reranker.kind == "cross-encoder"
    inputs = reranker.encode(["how do wings flutter"], [LONG_DOCUMENT])
    text = reranker.tokenizer.decode(inputs["input_ids"][0])
    assert inputs["input_ids"].shape[1] == 32
    assert text.startswith("[CLS] how do wings flutter [SEP] word0")
    assert text.endswith("[SEP]")


def test_cross_encoder_cuts_a_query_longer_than_the_budget_to_half(
    tiny_cross_encoder: Path,
) -> None:
    reranker = load_reranker(str(tiny_cross_encoder), max_length=32)
    inputs = reranker.encode([LONG_DOCUMENT], ["the short document"])
    text = reranker.tokenizer.decode(inputs["input_ids"][0])
    # [CLS], 16 query tokens (half of 32), [SEP], 3 document tokens, [SEP]
    assert inputs["input_ids"].shape[1] == 1 + 16 + 1 + 3 + 1
    assert text.startswith("[CLS] word0 word1")
    assert text.endswith("[SEP] the short document [SEP]")


def test_score_keeps_input_order_whatever_the_batching(tiny_cross_encoder: Path) -> None:
    reranker = load_reranker(str(tiny_cross_encoder))
    docs = ["a", "a much longer document " * 20, "mid length document here", "b b"]
    queries = ["q one", "q two", "q three", "q four"]
    batched = reranker.score(queries, docs, batch_size=3)
    single = [reranker.score([q], [d])[0] for q, d in zip(queries, docs, strict=True)]
    assert batched == pytest.approx(single, abs=1e-5)
    assert len(set(round(s, 6) for s in single)) > 1


@pytest.mark.slow
def test_bi_encoder_scores_are_sentence_transformers_cosines() -> None:
    from sentence_transformers import SentenceTransformer

    from inpars.models import resolve_model_path

    reranker = load_reranker("all-minilm-l6-v2")
    assert reranker.kind == "bi-encoder"
    queries = ["how do wings flutter", "heat transfer in a plate"]
    docs = ["flutter of aircraft wings at transonic speed", "the history of the violin"]
    model = SentenceTransformer(resolve_model_path("all-minilm-l6-v2"), device="cpu")
    q = model.encode(queries, normalize_embeddings=True, convert_to_tensor=True)
    d = model.encode(docs, normalize_embeddings=True, convert_to_tensor=True)
    assert reranker.score(queries, docs) == pytest.approx((q * d).sum(-1).tolist(), abs=1e-5)


def test_kind_is_told_from_the_model(
    tiny_t5: Path, tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    assert infer_kind(str(tiny_t5)) == "monot5"
    assert infer_kind(str(tiny_cross_encoder)) == "cross-encoder"
    assert infer_kind("all-minilm-l6-v2") == "bi-encoder"
    saved = tmp_path / "saved"
    load_reranker(str(tiny_cross_encoder), max_length=77).save(saved)
    assert infer_kind(str(saved)) == "cross-encoder"
    assert load_reranker(str(saved)).max_length == 77
    with pytest.raises(InparsError, match="pass --kind"):
        infer_kind(str(tmp_path / "missing"))


def test_bi_encoder_embeds_a_document_once_across_calls_until_it_trains(monkeypatch) -> None:
    from inpars.rerankers import bi_encoder

    reranker = load_reranker("all-minilm-l6-v2")
    embedded: list[str] = []
    real = reranker._embed_texts

    def counting(texts: list[str], batch_size: int):
        embedded.extend(texts)
        return real(texts, batch_size)

    monkeypatch.setattr(reranker, "_embed_texts", counting)
    docs = ["flutter of aircraft wings at transonic speed", "the history of the violin"]
    first = reranker.score(["how do wings flutter"] * 2, docs)
    second = reranker.score(["violin making", "violin making"], docs[::-1])
    # The second chunk of a run embeds its query only: the documents come from the cache.
    assert embedded == ["how do wings flutter", *docs, "violin making"]
    fresh = load_reranker("all-minilm-l6-v2")
    assert second == pytest.approx(fresh.score(["violin making"] * 2, docs[::-1]), abs=1e-6)
    assert first == pytest.approx(fresh.score(["how do wings flutter"] * 2, docs), abs=1e-6)
    # Training changes the weights: nothing embedded before may be reused.
    reranker.training_loss(reranker.training_inputs([("q", docs[0], docs[1])]))
    embedded.clear()
    reranker.score(["violin making"], docs[:1])
    assert embedded == ["violin making", docs[0]]
    # At most CACHED_DOCUMENTS are kept, the least recently used dropped first.
    monkeypatch.setattr(bi_encoder, "CACHED_DOCUMENTS", 2)
    reranker.score(["q"] * 2, ["a", "b"])
    reranker.score(["q"], ["a"])  # a is now the most recent
    reranker.score(["q"], ["c"])  # drops b
    embedded.clear()
    reranker.score(["q", "q"], ["a", "b"])
    assert embedded == ["q", "b"]
