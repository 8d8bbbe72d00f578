"""Dense search: exact top k, the embeddings cache, TREC runs, hybrid fusion, the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from inpars.cli.search import main, print_hits
from inpars.corpus import read_corpus, read_qrels
from inpars.errors import InparsError
from inpars.evaluate import evaluate
from inpars.runs import read_rankings, read_run, reciprocal_rank_fusion, trec_order
from inpars.search import (
    DenseEncoder,
    DenseRetriever,
    SearchConfig,
    ensure_embeddings,
    exact_top_k,
    fuse,
    search_run,
)

from conftest import write_beir_collection, write_beir_corpus, write_expansion
from dense_fixtures import build_tiny_bi_encoder


@pytest.fixture(scope="module")
def tiny_bi_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bi_encoder(tmp_path_factory.mktemp("tiny-bi-encoder"))


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_beir_collection(tmp_path_factory.mktemp("collection"))


@pytest.fixture(scope="module")
def encoder(tiny_bi_encoder: Path) -> DenseEncoder:
    return DenseEncoder.load(str(tiny_bi_encoder), device="cpu")


@pytest.mark.parametrize("normalize", [False, True])
def test_exact_top_k_is_brute_force_whatever_the_block(normalize: bool) -> None:
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(5, 8)).astype(np.float32)
    docs = rng.normal(size=(103, 8)).astype(np.float32)
    q, d = queries, docs
    if normalize:
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
    full = q @ d.T
    expected = np.argsort(-full, axis=1, kind="stable")
    for block in (7, 50, 1000):
        scores, rows = exact_top_k(queries, docs, 10, normalize=normalize, block_size=block)
        assert (rows == expected[:, :10]).all()
        assert np.allclose(scores, np.take_along_axis(full, rows, 1), atol=1e-5)
    scores, rows = exact_top_k(queries, docs, 500, normalize=normalize, block_size=7)
    assert rows.shape == (5, 103) and (np.sort(rows, axis=1) == np.arange(103)).all()


def test_equal_scores_are_ordered_by_corpus_position() -> None:
    docs = np.ones((6, 2), dtype=np.float32)
    _, rows = exact_top_k(np.ones((1, 2), dtype=np.float32), docs, 4, block_size=4)
    assert rows.tolist() == [[0, 1, 2, 3]]


def test_embeddings_are_reused_until_the_corpus_or_the_model_changes(
    encoder: DenseEncoder, tmp_path: Path
) -> None:
    docs = [(f"d{i}", "", f"document number {i} about topic {i % 3}") for i in range(7)]
    corpus = read_corpus(write_beir_corpus(tmp_path / "corpus", docs))
    folder = tmp_path / "embeddings"
    first = ensure_embeddings(corpus, encoder, folder, chunk_size=3, batch_size=2)
    assert not first.reused and first.reason == "no embeddings yet"
    assert first.doc_ids == [f"d{i}" for i in range(7)]
    expected = encoder.encode_documents([text for _, _, text in docs])
    assert np.allclose(first.embeddings, expected, atol=1e-5)

    again = ensure_embeddings(corpus, encoder, folder)
    assert again.reused and again.reason == "unchanged"

    # One changed character in one document: encoded again.
    docs[4] = ("d4", "", "document number 4 about topic 2!")
    corpus = read_corpus(write_beir_corpus(tmp_path / "corpus", docs))
    changed = ensure_embeddings(corpus, encoder, folder)
    assert not changed.reused and changed.reason == "corpus or model changed"
    assert np.allclose(changed.embeddings[4], encoder.encode_documents([docs[4][2]])[0], atol=1e-5)
    assert ensure_embeddings(corpus, encoder, folder).reused

    # Another model (same architecture, other weights): encoded again.
    other = DenseEncoder.load(str(build_tiny_bi_encoder(tmp_path / "other", seed=1)), device="cpu")
    assert other.fingerprint() != encoder.fingerprint()
    assert not ensure_embeddings(corpus, other, folder).reused
    # A shorter maximum input length changes the embeddings too.
    short = DenseEncoder.load(str(build_tiny_bi_encoder(tmp_path / "other", seed=1)), max_length=4)
    assert short.fingerprint() != other.fingerprint()


class Interrupt(Exception):
    pass


def test_interrupted_encoding_resumes_after_the_last_chunk(
    encoder: DenseEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = [(f"d{i}", "", f"text {i} " * (i + 1)) for i in range(10)]
    corpus = read_corpus(write_beir_corpus(tmp_path / "corpus", docs))
    folder = tmp_path / "embeddings"
    real = DenseEncoder.encode_documents
    calls: list[int] = []

    def crashing(self: DenseEncoder, texts, batch_size=64):
        calls.append(len(texts))
        if len(calls) == 3:
            raise Interrupt
        return real(self, texts, batch_size)

    monkeypatch.setattr(DenseEncoder, "encode_documents", crashing)
    with pytest.raises(Interrupt):
        ensure_embeddings(corpus, encoder, folder, chunk_size=3)
    meta = json.loads((folder / "inpars-embeddings.json").read_text())
    assert meta["done"] == 6 and not meta["complete"]
    calls.clear()
    resumed = ensure_embeddings(corpus, encoder, folder, chunk_size=3)
    assert resumed.reason == "resumed" and calls == [3, 1]  # documents 7 to 10 only
    expected = real(encoder, [text for _, _, text in docs])
    assert np.allclose(resumed.embeddings, expected, atol=1e-5)


def test_retriever_scores_are_the_model_cosines(encoder: DenseEncoder, collection: Path) -> None:
    retriever = DenseRetriever.open(
        "tiny", str(collection), encoder=encoder, embeddings_dir=collection / "emb", block_size=4
    )
    assert retriever.similarity == "cos" and len(retriever.index) == 30
    (hits,) = retriever.search(["a study of shock wave"], k=5)
    assert len(hits) == 5 and [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    texts = {doc.id: doc.contents for doc in read_corpus(collection)}
    query = encoder.encode_queries(["a study of shock wave"])[0]
    for doc_id, score in hits:
        vector = encoder.encode_documents([texts[doc_id]])[0]
        cosine = query @ vector / np.linalg.norm(query) / np.linalg.norm(vector)
        assert score == pytest.approx(float(cosine), abs=1e-5)


def test_search_run_is_a_trec_run_that_evaluate_reads(
    collection: Path, tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    config = SearchConfig(
        queries=str(collection), corpus=str(collection), output=str(tmp_path / "dense.trec"),
        model=str(tiny_bi_encoder), k=7, qrels=str(collection),
        embeddings=str(tmp_path / "emb"), device="cpu",
    )  # fmt: skip
    summary = search_run(config)
    assert summary.queries == 5 and summary.documents == 30 and not summary.embeddings_reused
    run = read_run(tmp_path / "dense.trec")
    assert set(run) == {f"q{t}" for t in range(5)}  # q5 is not judged
    lines = (tmp_path / "dense.trec").read_text().splitlines()
    assert [int(line.split()[3]) for line in lines[:7]] == list(range(1, 8))
    assert lines[0].split()[5] == "inpars-dense"
    assert all(len(docs) == 7 for docs in run.values())
    result = evaluate(run, read_qrels(collection), ["nDCG@10", "R@100"])
    assert result.query_ids == [f"q{t}" for t in range(5)]
    assert search_run(config).embeddings_reused


def test_hybrid_fuses_dense_and_bm25_by_reciprocal_rank(
    collection: Path, tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    config = SearchConfig(
        queries=str(collection), corpus=str(collection), output=str(tmp_path / "hybrid.trec"),
        model=str(tiny_bi_encoder), k=6, hybrid=True, rrf_k=10,
        dense_output=str(tmp_path / "dense.trec"), bm25_output=str(tmp_path / "bm25.trec"),
        embeddings=str(tmp_path / "emb"), bm25_index=str(tmp_path / "bm25-index"),
        device="cpu", threads=1,
    )  # fmt: skip
    search_run(config)
    dense, bm25 = read_run(tmp_path / "dense.trec"), read_run(tmp_path / "bm25.trec")
    fused = reciprocal_rank_fusion([dense, bm25], k=10)
    hybrid = read_rankings(tmp_path / "hybrid.trec")
    assert set(hybrid) == set(fused) == {f"q{t}" for t in range(6)}
    for query_id, ranking in hybrid.items():
        assert [doc_id for doc_id, _ in ranking] == trec_order(fused[query_id])[:6]
        assert ranking[0][0].startswith(f"d{query_id[1:]}-")  # BM25 pulls the topic up


def test_fusion_orders_tied_documents_as_trec_eval_does() -> None:
    # "a" is first in the dense ranking, "b" first in BM25's: equal fused scores.
    dense = [[("a", 0.9), ("c", 0.1)]]
    sparse = [[("b", 7.0), ("c", 1.0)]]
    fused = fuse(dense, sparse, k=2, rrf_k=60)
    assert fused == [[("c", 2 / 62), ("b", 1 / 61)]]
    assert [d for d, _ in fuse(dense, sparse, k=3)[0]] == ["c", "b", "a"]


def test_printed_passages_are_not_read_as_markup() -> None:
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=300, color_system=None)
    texts = {"d[1]": "Paris is big [citation needed].", "d2": "He said [/quote] and left."}
    rankings = [[("d[1]", 2.0), ("d2", 1.0)]]
    print_hits(["what [b]is[/b] paris"], rankings, texts, console)
    out = console.file.getvalue()
    assert "[citation needed]" in out and "[/quote]" in out
    assert "d[1]" in out and "what [b]is[/b] paris" in out


def test_cli_prints_the_top_passages(
    collection: Path,
    tiny_bi_encoder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--model", str(tiny_bi_encoder), "--corpus", str(collection), "--quiet",
            "--embeddings", str(tmp_path / "emb"), "--device", "cpu", "--k", "3"]  # fmt: skip
    assert main([*argv, "jet noise study"]) == 0
    out = capsys.readouterr().out
    assert "jet noise study" in out and out.count("a study of") >= 3
    hybrid = ["--hybrid", "--bm25-index", str(tmp_path / "bm25"), "--threads", "1"]
    assert main([*argv, *hybrid, "what about shock wave"]) == 0
    out = capsys.readouterr().out
    assert "d2-0" in out  # BM25's best, fused in
    assert main(argv) == 2  # neither queries nor --queries/--output
    assert "give queries" in capsys.readouterr().err
    assert main([*argv, "--output", str(tmp_path / "x.trec"), "a query"]) == 2


def test_bad_settings_are_refused(collection: Path, tmp_path: Path) -> None:
    with pytest.raises(InparsError, match="--k"):
        search_run(SearchConfig(queries="q", corpus="c", output="o", k=0))
    with pytest.raises(InparsError, match="--hybrid"):
        search_run(SearchConfig(queries="q", corpus="c", output="o", bm25_output="b"))


def _expansion_only_query(collection: Path, tmp_path: Path) -> tuple[Path, Path]:
    """An expansion of ``collection`` giving d4-3 words no document has, and a query of them."""
    expanded = write_expansion(collection, tmp_path, "d4-3", "aeroacoustic turbofan")
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"_id": "x", "text": "aeroacoustic turbofan"}) + "\n")
    return expanded, queries


def test_hybrid_with_bm25_corpus_searches_the_expansion_and_encodes_the_corpus(
    collection: Path, tiny_bi_encoder: Path, tmp_path: Path
) -> None:
    expanded, queries = _expansion_only_query(collection, tmp_path)
    plain = SearchConfig(
        queries=str(queries), corpus=str(collection), output=str(tmp_path / "plain.trec"),
        model=str(tiny_bi_encoder), k=5, hybrid=True, embeddings=str(tmp_path / "emb"),
        bm25_output=str(tmp_path / "bm25-plain.trec"),
        dense_output=str(tmp_path / "dense.trec"), device="cpu", threads=1,
    )  # fmt: skip
    search_run(plain)
    assert "x" not in read_run(tmp_path / "bm25-plain.trec")  # only the expansion has the words
    dense = read_rankings(tmp_path / "dense.trec")["x"]
    assert [d for d, _ in read_rankings(tmp_path / "plain.trec")["x"]] == [d for d, _ in dense]
    expanded_config = replace(
        plain, bm25_corpus=str(expanded), output=str(tmp_path / "expanded.trec"),
        bm25_output=str(tmp_path / "bm25-expanded.trec"),
    )  # fmt: skip
    summary = search_run(expanded_config)
    assert summary.embeddings_reused  # the bi-encoder encodes --corpus, not the expansion
    assert list(read_run(tmp_path / "bm25-expanded.trec")["x"]) == ["d4-3"]
    assert read_rankings(tmp_path / "expanded.trec")["x"][0][0] == "d4-3"  # fused in, first


def test_interactive_hybrid_with_bm25_corpus_prints_the_original_passage(
    collection: Path,
    tiny_bi_encoder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    expanded, _ = _expansion_only_query(collection, tmp_path)
    argv = ["--model", str(tiny_bi_encoder), "--corpus", str(collection), "--quiet",
            "--embeddings", str(tmp_path / "emb"), "--device", "cpu", "--k", "1",
            "--threads", "1", "--bm25-corpus", str(expanded), "aeroacoustic turbofan"]  # fmt: skip
    assert main([*argv, "--hybrid"]) == 0
    out = capsys.readouterr().out
    assert "d4-3" in out and "jet noise number 3" in out
    assert out.count("aeroacoustic") == 1  # the query's title, never the passage
    assert main(argv) == 2
    assert "--bm25-corpus goes with --hybrid" in capsys.readouterr().err


def _printed_hits(out: str) -> list[tuple[str, str]]:
    """(doc id, score) of each row of the tables print_hits printed, in order."""
    import re

    return re.findall(r"│\s*\d+\s*│\s*(\S+)\s*│\s*([0-9.]+)\s*│", out)


@pytest.mark.parametrize("k", [None, "3"])
def test_interactive_hybrid_prints_the_top_of_the_run_with_the_same_settings(
    k: str | None,
    collection: Path,
    tiny_bi_encoder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One hybrid search: the printed hits of a query are the run's first hits for it, with
    the same flags (--k: the run's depth, and the hits printed; default 1000 and 10)."""
    monkeypatch.setenv("COLUMNS", "200")
    query = "what does a study say about shock wave"
    queries = tmp_path / "queries.tsv"
    queries.write_text(f"x\t{query}\n")
    argv = ["--model", str(tiny_bi_encoder), "--corpus", str(collection), "--quiet",
            "--embeddings", str(tmp_path / "emb"), "--device", "cpu", "--hybrid",
            "--bm25-index", str(tmp_path / "bm25"), "--threads", "1", "--rrf-k", "5",
            *(["--k", k] if k else [])]  # fmt: skip
    assert main([*argv, "--queries", str(queries), "--output", str(tmp_path / "run.trec")]) == 0
    capsys.readouterr()
    assert main([*argv, query]) == 0
    printed = _printed_hits(capsys.readouterr().out)
    run = read_rankings(tmp_path / "run.trec")["x"]
    shown = int(k or 10)
    assert len(printed) == shown and len(run) == int(k or 30)  # 30 documents in all
    assert printed == [(doc_id, f"{score:.4f}") for doc_id, score in run[:shown]]


def test_quiet_prints_nothing_but_errors(
    collection: Path, tiny_bi_encoder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--model", str(tiny_bi_encoder), "--corpus", str(collection), "--device", "cpu",
            "--embeddings", str(tmp_path / "emb"), "--queries", str(collection),
            "--output", str(tmp_path / "run.trec"), "--k", "3"]  # fmt: skip
    assert main([*argv, "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(argv) == 0
    assert "inpars.search" in capsys.readouterr().err  # the summary, without --quiet


def test_cli_reads_a_jsonl_corpus_with_its_own_field_names(
    tiny_bi_encoder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--corpus-format and the field flags: the run and the printed passages read them."""
    corpus = tmp_path / "docs.data"  # a name that does not say the format
    rows = [{"pid": f"p{i}", "body": f"passage {i} about {topic}", "heading": topic}
            for i, topic in enumerate(["jet noise", "shock waves", "heat transfer"])]  # fmt: skip
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows))
    queries = tmp_path / "queries.tsv"
    queries.write_text("x\tshock waves\n")
    argv = ["--model", str(tiny_bi_encoder), "--corpus", str(corpus), "--quiet",
            "--corpus-format", "jsonl", "--id-field", "pid", "--text-field", "body",
            "--title-field", "heading", "--embeddings", str(tmp_path / "emb"),
            "--device", "cpu", "--hybrid", "--bm25-index", str(tmp_path / "bm25"),
            "--threads", "1"]  # fmt: skip
    run = tmp_path / "run.trec"
    assert main([*argv, "--queries", str(queries), "--output", str(run)]) == 0
    assert next(d for d, _ in read_rankings(run)["x"]) == "p1"
    assert sorted(d for d, _ in read_rankings(run)["x"]) == ["p0", "p1", "p2"]
    assert main([*argv, "--k", "1", "shock waves"]) == 0
    out = capsys.readouterr().out
    assert "p1" in out and "passage 1 about shock waves" in out
    assert main([*argv[:-2], "--k", "1", "--id-field", "id", "shock waves"]) == 2
