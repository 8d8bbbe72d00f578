"""GenQ and GPL: a tiny bi-encoder learns with each loss, teacher margins, mined negatives,
resuming, and the command line."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from inpars.cli.dense import main
from inpars.corpus import read_corpus
from inpars.dense import (
    GenQConfig,
    GplLabelConfig,
    GplTrainConfig,
    fit_margin_scale,
    fuse_with_bm25,
    gpl_columns,
    label_gpl,
    read_labels,
    sample_query_negatives,
    score_spread,
    train_genq,
    train_gpl,
)
from inpars.dense.labels import _label_chunk
from inpars.errors import InparsError, InputError
from inpars.rerankers import load_reranker
from inpars.search import DenseRetriever

from conftest import (
    build_tiny_cross_encoder,
    minilm_tokenizer,
    write_expansion,
    write_learnable_triples,
)
from dense_fixtures import (
    WordOverlapTeacher,
    build_tiny_bi_encoder,
    write_dense_collection,
    write_learnable_pairs,
)


@pytest.fixture(scope="module")
def tiny_bi_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bi_encoder(tmp_path_factory.mktemp("tiny-bi-encoder"))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_learnable_pairs(tmp_path_factory.mktemp("pairs"))


@pytest.fixture(scope="module")
def dense_collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_dense_collection(tmp_path_factory.mktemp("dense-collection"))


def logged_losses(output: Path) -> list[float]:
    lines = (output / "train-log.jsonl").read_text().splitlines()
    return [row["loss"] for row in map(json.loads, lines) if "loss" in row]


def genq_config(pairs: tuple[Path, Path], model: Path, output: Path, **changes) -> GenQConfig:
    corpus, queries = pairs
    base = GenQConfig(
        queries=str(queries), corpus=str(corpus), output=str(output), model=str(model),
        batch_size=8, epochs=4, learning_rate=3e-3, warmup_ratio=0.0, logging_steps=4,
        max_length=32, device="cpu",
    )  # fmt: skip
    return replace(base, **changes)


def test_genq_loss_falls_and_the_model_is_a_bi_encoder(
    pairs: tuple[Path, Path], tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    summary = train_genq(genq_config(pairs, tiny_bi_encoder, tmp_path / "out"), show_progress=False)
    assert summary.examples == 48 and summary.steps == 24 and summary.method == "genq"
    losses = logged_losses(tmp_path / "out")
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0]
    metadata = json.loads((tmp_path / "out" / "inpars-reranker.json").read_text())
    assert metadata["kind"] == "bi-encoder" and metadata["steps"] == 24
    assert json.loads((tmp_path / "out.manifest.json").read_text())["status"] == "complete"
    # The folder serves inpars.rerank (kind told from its metadata) and inpars.search.
    reranker = load_reranker(str(tmp_path / "out"), device="cpu")
    assert reranker.kind == "bi-encoder" and reranker.max_length == 32
    corpus, _ = pairs
    retriever = DenseRetriever.open(
        str(tmp_path / "out"), str(corpus), embeddings_dir=tmp_path / "emb", device="cpu"
    )
    hits = retriever.search(["what about the rotor", "keel explained"], k=1)
    assert [ranking[0][0] for ranking in hits] == ["doc-rotor", "doc-keel"]
    # The same command again: already trained.
    again = train_genq(genq_config(pairs, tiny_bi_encoder, tmp_path / "out"), show_progress=False)
    assert again.already_trained and again.steps == 24


def test_genq_with_bm25_negatives_and_cached_micro_batches(
    tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    triples = write_learnable_triples(tmp_path / "triples.tsv", n=64)
    config = GenQConfig(
        triples=str(triples), output=str(tmp_path / "out"), model=str(tiny_bi_encoder),
        batch_size=4, micro_batch_size=2, max_steps=6, learning_rate=3e-3, logging_steps=1,
        max_length=32, device="cpu",
    )  # fmt: skip
    summary = train_genq(config, show_progress=False)
    assert summary.examples == 8  # 64 lines, 8 distinct triples
    assert summary.steps == 6 and summary.final_loss is not None


class Crash(Exception):
    pass


class CrashAfterSaving(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Crash


def test_genq_resumes_after_a_crash_to_the_weights_of_an_uninterrupted_run(
    pairs: tuple[Path, Path], tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    straight = genq_config(
        pairs, tiny_bi_encoder, tmp_path / "straight", epochs=1.0, save_steps=2, seed=3
    )
    train_genq(straight, show_progress=False)
    crashed = replace(straight, output=str(tmp_path / "crashed"))
    with pytest.raises(Crash):
        train_genq(crashed, show_progress=False, callbacks=[CrashAfterSaving(4)])
    assert not (tmp_path / "crashed" / "inpars-reranker.json").exists()
    summary = train_genq(crashed, show_progress=False)
    assert summary.resumed_from is not None and summary.resumed_from.endswith("checkpoint-4")
    a = load_file(tmp_path / "straight" / "model.safetensors")
    b = load_file(tmp_path / "crashed" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    with pytest.raises(InparsError, match=r"setting learning_rate: 0\.003 -> 0\.001"):
        train_genq(replace(crashed, learning_rate=1e-3), show_progress=False)


def test_genq_input_errors_name_the_file_and_line(
    pairs: tuple[Path, Path], tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    corpus, _ = pairs
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"doc_id": "doc-wing", "query": "w"}\n{"doc_id": "nope", "query": "x"}\n')
    config = genq_config((corpus, queries), tiny_bi_encoder, tmp_path / "out")
    with pytest.raises(InputError, match=r"queries\.jsonl:2, field 'doc_id': doc_id 'nope'"):
        train_genq(config, show_progress=False)
    with pytest.raises(InparsError, match="either --queries"):
        train_genq(replace(config, triples="t.tsv"), show_progress=False)
    with pytest.raises(InparsError, match="--micro-batch-size"):
        train_genq(replace(config, micro_batch_size=3), show_progress=False)


def test_a_bi_encoder_trained_with_dot_products_scores_with_them_everywhere(
    pairs: tuple[Path, Path], tmp_path: Path
) -> None:
    """--similarity dot on a cosine model without a Normalize layer: the saved model's own
    similarity is the trained one, for sentence-transformers, inpars.search and rerank."""
    from sentence_transformers import SentenceTransformer

    start = build_tiny_bi_encoder(tmp_path / "start", normalize=False)
    output = tmp_path / "out"
    config = genq_config(pairs, start, output, similarity="dot", max_steps=2)
    train_genq(config, show_progress=False)
    model = SentenceTransformer(str(output), device="cpu")
    assert str(getattr(model.similarity_fn_name, "value", model.similarity_fn_name)) == "dot"
    corpus, _ = pairs
    retriever = DenseRetriever.open(
        str(output), str(corpus), embeddings_dir=tmp_path / "emb", device="cpu"
    )
    assert retriever.similarity == "dot"
    query, document = "what about the rotor", "the rotor is explained here"
    q, d = model.encode([query, document], convert_to_tensor=True)
    assert abs(float(q.norm()) - 1) > 1e-3  # not normalised: cosine and dot differ
    reranker = load_reranker(str(output), device="cpu")
    assert reranker.score([query], [document]) == pytest.approx([float(q @ d)], rel=1e-4)


def test_margins_are_teacher_positive_minus_teacher_negative() -> None:
    class Row:
        query = "heat transfer in plates"
        doc_id = "pos"
        line = 1

    texts = {
        "pos": "heat transfer in flat plates",  # shares 4 of the query's words
        "neg1": "transfer of heat",  # shares 2
        "neg2": "shock waves",  # shares none
    }

    class Store:
        def doc_contents(self, doc_id: str) -> str:
            return texts[doc_id]

    negatives = [("dense", "neg1", 3), ("bm25", "neg2", 7)]
    config = GplLabelConfig(queries="q", corpus="c", output="o", teacher="t")
    lines = _label_chunk([(Row(), negatives)], WordOverlapTeacher(), Store(), config)
    labels = [json.loads(line) for line in lines]
    assert labels == [
        {"query": "heat transfer in plates", "pos_id": "pos", "neg_id": "neg1", "margin": 2.0,
         "pos_score": 4.0, "neg_score": 2.0, "retriever": "dense", "neg_rank": 3},
        {"query": "heat transfer in plates", "pos_id": "pos", "neg_id": "neg2", "margin": 4.0,
         "pos_score": 4.0, "neg_score": 0.0, "retriever": "bm25", "neg_rank": 7},
    ]  # fmt: skip


def test_a_teacher_fused_with_bm25_gives_margins_in_each_scorers_spread() -> None:
    class Row:
        query = "heat transfer in plates"
        doc_id = "pos"
        line = 1

    texts = {"pos": "heat transfer in flat plates", "neg1": "transfer of heat", "neg2": "shock"}
    bm25 = {"pos": 9.0, "neg1": 1.0, "neg2": 5.0}

    class Store:
        def doc_contents(self, doc_id: str) -> str:
            return texts[doc_id]

        def scores(self, query: str, doc_ids: list[str]) -> list[float]:
            return [bm25[doc_id] for doc_id in doc_ids]

    # Word-overlap teacher: (4, 2, 0), mean 2; BM25 (9, 1, 5), mean 5. Spreads 2 (teacher)
    # and 4 (BM25), weight 1/4 on BM25: scores 3/4 * (1, 0, -1) + 1/4 * (1, -1, 0).
    config = GplLabelConfig(
        queries="q", corpus="c", output="o", teacher="t", teacher_bm25_weight=0.25
    )
    negatives = [("bm25", "neg1", 2), ("dense", "neg2", 5)]
    lines = _label_chunk([(Row(), negatives)], WordOverlapTeacher(), Store(), config, (2.0, 4.0))
    labels = [json.loads(line) for line in lines]
    assert [label["pos_score"] for label in labels] == pytest.approx([1.0, 1.0])
    assert [label["neg_score"] for label in labels] == pytest.approx([-0.25, -0.75])
    assert [label["margin"] for label in labels] == pytest.approx([1.25, 1.75])


def test_fusion_with_bm25_keeps_each_scorers_margins() -> None:
    # One negative per query: a margin twice as large stays twice as large (standardizing
    # over {positive, negative} made every margin 2).
    scales = (2.0, 10.0)
    wide = fuse_with_bm25([8.0, 0.0], [30.0, 10.0], 0.5, scales)
    narrow = fuse_with_bm25([4.0, 0.0], [20.0, 10.0], 0.5, scales)
    assert wide[0] - wide[1] == pytest.approx(0.5 * 8 / 2 + 0.5 * 20 / 10)
    assert narrow[0] - narrow[1] == pytest.approx(0.5 * 4 / 2 + 0.5 * 10 / 10)
    assert fuse_with_bm25([3.0, 1.0, 2.0], [7.0, 7.0, 7.0], 0.5, scales) == pytest.approx(
        [0.25, -0.25, 0.0]
    )
    # The spread pools each query's deviations from its own mean.
    assert score_spread([[1.0, 3.0], [10.0, 10.0]]) == pytest.approx((2 / 4) ** 0.5)
    assert score_spread([[5.0, 5.0]]) == 1.0  # every query ties: nothing to scale


def test_labels_fused_with_bm25_keep_the_teachers_margins_with_one_negative(
    tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    from inpars.bm25 import Bm25Searcher

    from conftest import write_beir_corpus

    # Documents of random words from a small vocabulary; each query takes some words of its
    # document, so the candidates BM25 finds share more or fewer of them.
    rng = random.Random(0)
    vocabulary = [f"w{i}" for i in range(30)]
    docs = [(f"d{i}", "", " ".join(rng.choices(vocabulary, k=12))) for i in range(40)]
    corpus = write_beir_corpus(tmp_path / "corpus", docs)
    rows = []
    for doc_id, _, text in docs[:20]:
        words = text.split()
        query = " ".join(rng.sample(words, k=rng.randint(2, 6)))
        rows.append(json.dumps({"doc_id": doc_id, "query": query}) + "\n")
    queries = tmp_path / "queries.jsonl"
    queries.write_text("".join(rows))
    config = label_config(
        (corpus, queries), tiny_bi_encoder, tmp_path, retrievers=["bm25"],
        negatives_per_retriever=1, teacher_bm25_weight=0.5,
    )  # fmt: skip
    summary = label_gpl(config, teacher=WordOverlapTeacher())
    labels = [label for _, label in read_labels(config.output)]
    assert summary.labels == len(labels) >= 15
    # Margins carry the scorers' differences, not only their signs (-2, 0 or +2).
    assert len({round(label.margin, 6) for label in labels}) > 8
    spreads = summary.fusion_scales
    assert spreads is not None and spreads["teacher"] > 0 and spreads["bm25"] > 0
    texts = {doc.id: doc.contents for doc in read_corpus(config.corpus)}
    teacher = WordOverlapTeacher()
    with Bm25Searcher(config.index_path, config.k1, config.b) as searcher:
        for label in labels:
            t_pos, t_neg = teacher.score([label.query] * 2, [texts[label.pos_id],
                                                             texts[label.neg_id]])  # fmt: skip
            b_pos, b_neg = searcher.scores(label.query, [label.pos_id, label.neg_id])
            expected = (
                0.5 * (t_pos - t_neg) / spreads["teacher"] + 0.5 * (b_pos - b_neg) / spreads["bm25"]
            )
            assert label.margin == pytest.approx(expected)


def test_sampled_negatives_skip_positives_and_repeats() -> None:
    rankings = [("a", ["p1", "x", "p2", "y"]), ("b", ["x", "y", "z", "p1"])]
    for seed in range(20):
        chosen = sample_query_negatives(rankings, {"p1", "p2"}, 2, random.Random(seed))
        ids = [doc_id for _, doc_id, _ in chosen]
        assert len(ids) == len(set(ids)) and not {"p1", "p2"} & set(ids)
        assert [r for r, _, _ in chosen][:2] == ["a", "a"]  # x and y, both of a's
        assert chosen[-1] == ("b", "z", 3)  # all b has left
    assert sample_query_negatives([("a", ["p1"])], {"p1"}, 1, random.Random(0)) == []


def label_config(collection: tuple[Path, Path], model: Path, tmp_path: Path, **changes):
    corpus, queries = collection
    base = GplLabelConfig(
        queries=str(queries), corpus=str(corpus), output=str(tmp_path / "labels.jsonl"),
        teacher="word-overlap", retrievers=[str(model), "bm25"], depth=20,
        negatives_per_retriever=3, queries_per_chunk=4, threads=1, device="cpu",
        index=str(tmp_path.parent / f"{tmp_path.name}-index"),
        embeddings_dir=str(tmp_path.parent / f"{tmp_path.name}-emb"),
    )  # fmt: skip
    return replace(base, **changes)


def test_mined_negatives_are_never_positives_and_margins_are_the_teachers(
    dense_collection: tuple[Path, Path], tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    config = label_config(dense_collection, tiny_bi_encoder, tmp_path)
    teacher = WordOverlapTeacher()
    summary = label_gpl(config, teacher=teacher)
    assert summary.queries_read == 11 and summary.queries_labelled == 11
    # Every query shares words with its own document: it is in both retrievers' top 20.
    assert summary.positive_in_top == {str(tiny_bi_encoder): 11, "bm25": 11}
    labels = [label for _, label in read_labels(config.output)]
    assert len(labels) == summary.labels
    negatives: dict[tuple[str, str], list[str]] = {}
    for label in labels:
        negatives.setdefault((label.query, label.pos_id), []).append(label.neg_id)
        assert label.margin == label.pos_score - label.neg_score
        assert label.retriever in {str(tiny_bi_encoder), "bm25"} and 1 <= label.neg_rank <= 20
    assert len(negatives) == 11
    for (_, pos_id), negs in negatives.items():
        assert pos_id not in negs and 3 <= len(negs) == len(set(negs)) <= 6
    # "what is known about wing flutter" was generated for d0-0, and (written otherwise) for
    # d0-1: both are its positives, for both records.
    flutter = [negs for (q, _), negs in negatives.items() if "known about wing" in q.lower()]
    assert len(flutter) == 2 and not {"d0-0", "d0-1"} & {n for negs in flutter for n in negs}
    # BM25 matches only the 4 wing-flutter documents: 2 left, fewer than asked.
    assert summary.short >= 2
    # The teacher scored each positive once and each negative once.
    assert teacher.pairs_scored == len(labels) + 11
    manifest = json.loads(Path(config.output + ".manifest.json").read_text())
    assert manifest["stage"] == "gpl-label" and manifest["summary"]["labels"] == len(labels)


def test_bm25_corpus_mines_negatives_from_the_expansion_while_the_teacher_reads_the_corpus(
    dense_collection: tuple[Path, Path], tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    corpus, _ = dense_collection
    expanded = write_expansion(corpus, tmp_path, "d2-3", "aeroacoustic turbofan")
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"doc_id": "d0-0", "query": "aeroacoustic turbofan"}) + "\n")
    plain = label_config(
        (corpus, queries), tiny_bi_encoder, tmp_path / "plain", retrievers=["bm25"],
        negatives_per_retriever=1,
    )  # fmt: skip
    summary = label_gpl(plain, teacher=WordOverlapTeacher())
    assert summary.without_negatives == 1 and summary.labels == 0  # only the expansion matches
    config = replace(plain, bm25_corpus=str(expanded), output=str(tmp_path / "expanded.jsonl"))
    summary = label_gpl(config, teacher=WordOverlapTeacher())
    [(_, label)] = read_labels(config.output)
    assert (label.neg_id, label.retriever, label.neg_rank) == ("d2-3", "bm25", 1)
    assert label.neg_score == 0.0  # the teacher read d2-3 unexpanded: no word in common
    manifest = json.loads(Path(config.output + ".manifest.json").read_text())
    assert manifest["inputs"]["corpus"]["fingerprint"]  # the teacher's texts: an input
    # Fused with BM25, the BM25 side scores the expansion: d2-3 above its positive.
    fused = replace(config, teacher_bm25_weight=0.5, output=str(tmp_path / "fused.jsonl"))
    label_gpl(fused, teacher=WordOverlapTeacher())
    [(_, label)] = read_labels(fused.output)
    assert label.margin == pytest.approx(-1.0)


def test_labelling_resumes_after_a_crash_and_refuses_other_settings(
    dense_collection: tuple[Path, Path], tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    straight = label_config(dense_collection, tiny_bi_encoder, tmp_path / "a")
    label_gpl(straight, teacher=WordOverlapTeacher())

    class CrashingTeacher(WordOverlapTeacher):
        def score(self, queries, documents, batch_size=32, **kwargs):
            if self.pairs_scored:
                raise Crash
            return super().score(queries, documents, batch_size)

    crashed = label_config(dense_collection, tiny_bi_encoder, tmp_path / "b")
    with pytest.raises(Crash):
        label_gpl(crashed, teacher=CrashingTeacher())
    first_chunk = Path(crashed.output).read_text()
    assert first_chunk and Path(straight.output).read_text().startswith(first_chunk)
    assert {json.loads(line)["pos_id"] for line in first_chunk.splitlines()} <= {"d0-0", "d1-0"}
    summary = label_gpl(crashed, teacher=WordOverlapTeacher())
    assert summary.already_done == 4 and summary.queries_labelled == 7
    assert Path(crashed.output).read_text() == Path(straight.output).read_text()
    with pytest.raises(InparsError, match="setting depth: 20 -> 10"):
        label_gpl(replace(crashed, depth=10), teacher=WordOverlapTeacher())


def test_labels_of_an_edited_queries_file_or_a_retrained_teacher_are_not_resumed(
    dense_collection: tuple[Path, Path], tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    import shutil

    from transformers import BertConfig, BertForSequenceClassification

    corpus, queries = dense_collection
    own_queries = tmp_path / "queries.jsonl"
    shutil.copy(queries, own_queries)
    teacher = build_tiny_cross_encoder(tmp_path / "teacher")
    config = label_config(
        (corpus, own_queries), tiny_bi_encoder, tmp_path / "run", teacher=str(teacher),
        retrievers=["bm25"], negatives_per_retriever=1,
    )  # fmt: skip
    label_gpl(config)
    labels = Path(config.output).read_bytes()
    assert label_gpl(config).already_done > 0  # the same inputs: done, nothing redone
    # A teacher retrained in the same folder (other weights, same name) is another teacher.
    shutil.rmtree(teacher)
    tokenizer = minilm_tokenizer()
    torch.manual_seed(1)
    BertForSequenceClassification(
        BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                   num_attention_heads=4, intermediate_size=64, num_labels=1)
    ).save_pretrained(teacher)  # fmt: skip
    tokenizer.save_pretrained(teacher)
    with pytest.raises(InparsError, match="input teacher changed"):
        label_gpl(config)
    # An edited queries file at the same path is another input: refused, never appended to.
    build_tiny_cross_encoder(teacher)  # the first teacher back
    own_queries.write_text(own_queries.read_text().replace("wing", "wings", 1))
    with pytest.raises(InparsError, match="input queries changed"):
        label_gpl(config)
    assert Path(config.output).read_bytes() == labels


def test_a_real_cross_encoder_teacher_gives_its_score_differences(
    dense_collection: tuple[Path, Path],
    tiny_bi_encoder: Path,
    tiny_cross_encoder: Path,
    tmp_path: Path,
) -> None:
    config = label_config(
        dense_collection, tiny_bi_encoder, tmp_path, teacher=str(tiny_cross_encoder),
        retrievers=["bm25"], negatives_per_retriever=1,
    )  # fmt: skip
    label_gpl(config)
    teacher = load_reranker(str(tiny_cross_encoder), device="cpu")
    texts = {doc.id: doc.contents for doc in read_corpus(dense_collection[0])}
    labels = [label for _, label in read_labels(config.output)]
    pos, neg = teacher.score(
        [labels[0].query] * 2, [texts[labels[0].pos_id], texts[labels[0].neg_id]]
    )
    assert labels[0].margin == pytest.approx(pos - neg, abs=1e-4)


def test_the_fitted_scale_maps_the_models_margins_onto_the_teachers(
    tiny_bi_encoder: Path,
) -> None:
    from sentence_transformers import SentenceTransformer, util

    model = SentenceTransformer(str(tiny_bi_encoder), device="cpu")
    words = ["wing", "flutter", "heat", "plate", "shock", "wave", "tide", "moon", "gear"]
    rng = random.Random(0)
    data = {
        column: [" ".join(rng.sample(words, 3)) for _ in range(40)]
        for column in ("query", "positive", "negative")
    }
    embed = {column: model.encode(texts, convert_to_tensor=True) for column, texts in data.items()}
    margins = util.pairwise_cos_sim(embed["query"], embed["positive"]) - util.pairwise_cos_sim(
        embed["query"], embed["negative"]
    )
    data["label"] = (7.0 * margins).tolist()
    assert fit_margin_scale(model, "cos", data) == pytest.approx(7.0, rel=1e-3)
    assert fit_margin_scale(model, "cos", {**data, "label": (-margins).tolist()}) == 1.0


def test_gpl_train_loss_falls(
    dense_collection: tuple[Path, Path], tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    config = label_config(dense_collection, tiny_bi_encoder, tmp_path)
    label_gpl(config, teacher=WordOverlapTeacher())
    train = GplTrainConfig(
        labels=config.output, corpus=config.corpus, output=str(tmp_path / "gpl"),
        model=str(tiny_bi_encoder), batch_size=8, micro_batch_size=4, epochs=4,
        learning_rate=3e-3, warmup_ratio=0.0, logging_steps=4, max_length=32, device="cpu",
    )  # fmt: skip
    summary = train_gpl(train, show_progress=False)
    labels = len(read_labels(config.output))
    assert summary.examples == labels and summary.method == "gpl"
    assert summary.steps == 4 * -(-labels // 8)
    losses = logged_losses(tmp_path / "gpl")
    assert losses[-1] < 0.5 * losses[0]
    metadata = json.loads((tmp_path / "gpl" / "inpars-reranker.json").read_text())
    # Without --scale, the scale is fitted to the teacher's margins from the starting model.
    from sentence_transformers import SentenceTransformer

    start = SentenceTransformer(str(tiny_bi_encoder), device="cpu")
    start.max_seq_length = 32
    fitted = fit_margin_scale(start, "cos", gpl_columns(train))
    assert metadata["similarity"] == "cos" and metadata["scale"] == pytest.approx(fitted)


def test_command_line(
    pairs: tuple[Path, Path],
    dense_collection: tuple[Path, Path],
    tiny_bi_encoder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corpus, queries = pairs
    common = ["--model", str(tiny_bi_encoder), "--max-steps", "2", "--batch-size", "4",
              "--device", "cpu", "--quiet"]  # fmt: skip
    genq = ["genq", "--queries", str(queries), "--corpus", str(corpus)]
    assert main([*genq, "--output", str(tmp_path / "genq"), *common]) == 0
    assert "optimizer steps" in capsys.readouterr().err
    assert main([*genq, "--output", str(tmp_path / "genq"), *common, "--seed", "1"]) == 2
    assert "setting seed: 42 -> 1" in capsys.readouterr().err
    corpus, queries = dense_collection
    labels = tmp_path / "labels.jsonl"
    label = ["gpl-label", "--queries", str(queries), "--corpus", str(corpus), "--output",
             str(labels), "--teacher", str(tmp_path / "no-teacher"), "--retriever", "bm25",
             "--index", str(tmp_path / "index"), "--threads", "1", "--quiet"]  # fmt: skip
    assert main(label) == 2  # the teacher cannot be found: a clear error, no traceback
    assert "no-teacher" in capsys.readouterr().err
    bad = tmp_path / "labels-bad.jsonl"
    bad.write_text('{"query": "q", "pos_id": "d0-0", "neg_id": "d1-0", "margin": "big"}\n')
    train = ["gpl-train", "--labels", str(bad), "--corpus", str(corpus)]
    assert main([*train, "--output", str(tmp_path / "gpl"), *common]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "labels-bad.jsonl:1, field 'margin': must be a finite number" in err


def test_command_line_reads_a_jsonl_corpus_with_its_own_field_names(
    pairs: tuple[Path, Path], tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    """--corpus-format and the field flags reach genq, gpl-label and gpl-train."""
    beir, queries = pairs
    corpus = tmp_path / "docs.data"  # a name that does not say the format
    rows = [{"pid": doc.id, "body": doc.text} for doc in read_corpus(beir)]
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows))
    fields = ["--corpus", str(corpus), "--corpus-format", "jsonl", "--id-field", "pid",
              "--text-field", "body"]  # fmt: skip
    common = ["--model", str(tiny_bi_encoder), "--max-steps", "2", "--batch-size", "4",
              "--device", "cpu", "--quiet"]  # fmt: skip
    genq = ["genq", "--queries", str(queries), "--output", str(tmp_path / "genq"), *common]
    assert main([*genq, *fields]) == 0
    assert (tmp_path / "genq" / "inpars-reranker.json").is_file()
    labels = tmp_path / "labels.jsonl"
    teacher = build_tiny_cross_encoder(tmp_path / "teacher")
    label = ["gpl-label", "--queries", str(queries), "--output", str(labels), "--teacher",
             str(teacher), "--retriever", "bm25", "--index", str(tmp_path / "index"),
             "--threads", "1", "--device", "cpu", "--quiet"]  # fmt: skip
    assert main([*label, *fields]) == 0
    written = read_labels(labels)
    assert written and all(label.pos_id.startswith("doc-") for _, label in written)
    train = ["gpl-train", "--labels", str(labels), "--output", str(tmp_path / "gpl"), *common]
    assert main([*train, *fields]) == 0
    assert (tmp_path / "gpl" / "inpars-reranker.json").is_file()
    # Without the field names the corpus has no ids to read: an error, no traceback.
    assert main([*train, "--corpus", str(corpus), "--corpus-format", "jsonl"]) == 2
