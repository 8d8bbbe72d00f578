"""Models trained by inpars load in the tools IR people use, and score pairs as inpars does.

Each kind is trained for a few steps with ``inpars.train`` (tiny models built from configs: no
checkpoint installs offline), then loaded by the other library and scored on the same pairs:

* monoT5: Hugging Face ``T5ForConditionalGeneration`` and PyTerrier's
  ``pyterrier_t5.MonoT5ReRanker``, with a real SentencePiece-style T5 tokenizer;
* cross-encoder: ``sentence_transformers.CrossEncoder``;
* bi-encoder: ``sentence_transformers.SentenceTransformer``.

The other way round, folders written by those libraries load in ``inpars.rerank``.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from inpars.rerankers import load_reranker
from inpars.train import TrainConfig, train

from conftest import build_tiny_cross_encoder, write_learnable_triples

QUERIES = ["what about the wing", "what about the heat", "the shock", "jet noise answer"]
DOCUMENTS = [
    "answer: the wing is explained here",
    "noise: the crack was never measured",
    "the shock wave of a jet",
    "answer: the jet noise is explained here and the heat was measured",
]
WORDS = [
    "what", "about", "the", "wing", "shell", "heat", "flutter", "plate", "shock", "jet", "crack",
    "answer", "is", "explained", "here", "noise", "was", "never", "measured", "a", "of", "wave",
    "boundary", "layer", "growth", "true", "false",
]  # fmt: skip


def build_t5_tokenizer(folder: Path) -> object:
    """A real T5 (SentencePiece unigram) tokenizer trained on the test vocabulary.

    ``true`` and ``false`` are whole pieces, as in T5's own vocabulary; every other character
    the tests use is a piece too, so nothing maps to ``<unk>``.
    """
    import sentencepiece as spm
    from transformers import T5Tokenizer

    rng = random.Random(0)
    lines = [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(2000)]
    lines += ["Query: what Document: the Relevant: true", "Relevant: false"] * 200
    lines.append("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 :.,?!'-")
    text = folder / "spm-train.txt"
    text.write_text("\n".join(lines), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(folder / "spm"), vocab_size=100, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=1.0,
        hard_vocab_limit=False, minloglevel=2,
    )  # fmt: skip
    processor = spm.SentencePieceProcessor(model_file=str(folder / "spm.model"))
    vocab = [(processor.id_to_piece(i), processor.get_score(i)) for i in range(len(processor))]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


@pytest.fixture(scope="module")
def trained_monot5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration

    root = tmp_path_factory.mktemp("monot5")
    tokenizer = build_t5_tokenizer(root)
    config = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        decoder_start_token_id=tokenizer.pad_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, dropout_rate=0.0, n_positions=512,
    )  # fmt: skip
    torch.manual_seed(0)
    base = root / "base"
    T5ForConditionalGeneration(config).save_pretrained(base)
    tokenizer.save_pretrained(base)
    return _train(root, "monot5", base)


def _train(root: Path, kind: str, model: Path | str) -> Path:
    triples = write_learnable_triples(root / "triples.tsv", n=16)
    summary = train(
        TrainConfig(
            triples=str(triples), output=str(root / "trained"), kind=kind, model=str(model),
            batch_size=8, micro_batch_size=8, max_steps=3, learning_rate=1e-3,
            max_length=128, save_steps=100, device="cpu", precision="fp32",
        ),
        show_progress=False,
    )  # fmt: skip
    assert summary.steps == 3
    return Path(summary.output)


def _inpars_scores(folder: Path) -> list[float]:
    return load_reranker(str(folder), max_length=128, device="cpu").score(QUERIES, DOCUMENTS)


def test_monot5_scores_equal_in_transformers(trained_monot5: Path) -> None:
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(trained_monot5)
    model = T5ForConditionalGeneration.from_pretrained(trained_monot5).eval()
    true_id, false_id = tokenizer.encode("true")[0], tokenizer.encode("false")[0]
    expected = []
    for query, document in zip(QUERIES, DOCUMENTS, strict=True):
        # monoT5's input, written out whole (inpars tokenizes it in pieces).
        inputs = tokenizer(f"Query: {query} Document: {document} Relevant:", return_tensors="pt")
        start = torch.full((1, 1), model.config.decoder_start_token_id)
        with torch.inference_mode():
            logits = model(**inputs, decoder_input_ids=start).logits[0, 0, [false_id, true_id]]
        expected.append(torch.log_softmax(logits, -1)[1].item())
    scores = _inpars_scores(trained_monot5)
    assert scores == pytest.approx(expected, abs=1e-5)
    assert len(set(round(s, 4) for s in scores)) > 1  # trained weights tell the pairs apart


def test_monot5_scores_equal_in_pyterrier(trained_monot5: Path) -> None:
    pd = pytest.importorskip("pandas")
    pyterrier_t5 = pytest.importorskip("pyterrier_t5")

    # batch_size=1: PyTerrier appends "Relevant:" after the padding of shorter rows in a batch,
    # so only unpadded rows read the input monoT5 was trained on.
    ranker = pyterrier_t5.MonoT5ReRanker(
        tok_model=str(trained_monot5), model=str(trained_monot5), batch_size=1,
        device="cpu", verbose=False,
    )  # fmt: skip
    run = pd.DataFrame(
        {
            "qid": [f"q{i}" for i in range(len(QUERIES))],
            "query": QUERIES,
            "docno": [f"d{i}" for i in range(len(DOCUMENTS))],
            "text": DOCUMENTS,
            "score": [0.0] * len(QUERIES),
            "rank": [0] * len(QUERIES),
        }
    )
    scored = ranker.transform(run).set_index("qid").loc[run["qid"], "score"].tolist()
    assert scored == pytest.approx(_inpars_scores(trained_monot5), abs=1e-5)


def test_cross_encoder_scores_equal_in_sentence_transformers(tmp_path: Path) -> None:
    from sentence_transformers import CrossEncoder

    trained = _train(tmp_path, "cross-encoder", build_tiny_cross_encoder(tmp_path / "base"))
    model = CrossEncoder(str(trained), device="cpu", activation_fn=torch.nn.Identity())
    expected = model.predict(list(zip(QUERIES, DOCUMENTS, strict=True))).tolist()
    assert _inpars_scores(trained) == pytest.approx(expected, abs=1e-5)


def test_bi_encoder_scores_equal_in_sentence_transformers(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    trained = _train(tmp_path, "bi-encoder", "all-minilm-l6-v2")
    model = SentenceTransformer(str(trained), device="cpu")
    similarity = model.similarity(model.encode(QUERIES), model.encode(DOCUMENTS))
    expected = torch.diagonal(similarity).tolist()
    assert _inpars_scores(trained) == pytest.approx(expected, abs=1e-5)


def test_folders_written_by_sentence_transformers_load_in_inpars(tmp_path: Path) -> None:
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from inpars.models import resolve_model_path

    # A cross-encoder as sentence-transformers saves one (the format of cross-encoder/* models).
    source = CrossEncoder(str(build_tiny_cross_encoder(tmp_path / "tiny")), device="cpu")
    source.save(str(tmp_path / "ce"))
    reranker = load_reranker(str(tmp_path / "ce"), max_length=128, device="cpu")
    assert reranker.kind == "cross-encoder"
    loaded = CrossEncoder(str(tmp_path / "ce"), device="cpu", activation_fn=torch.nn.Identity())
    expected = loaded.predict(list(zip(QUERIES, DOCUMENTS, strict=True))).tolist()
    assert reranker.score(QUERIES, DOCUMENTS) == pytest.approx(expected, abs=1e-5)

    # A sentence-transformers bi-encoder folder (the format of sentence-transformers/* models).
    SentenceTransformer(str(resolve_model_path("all-minilm-l6-v2"))).save(str(tmp_path / "st"))
    bi = load_reranker(str(tmp_path / "st"), device="cpu")
    assert bi.kind == "bi-encoder"
    model = SentenceTransformer(str(tmp_path / "st"), device="cpu")
    expected = torch.diagonal(model.similarity(model.encode(QUERIES), model.encode(DOCUMENTS)))
    assert bi.score(QUERIES, DOCUMENTS) == pytest.approx(expected.tolist(), abs=1e-5)
