"""Reranking a first stage (real BM25 index, or a run file) into a resumable TREC run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import inpars.rerank as rerank_module
from inpars.cli.rerank import main
from inpars.errors import InparsError, InputError
from inpars.rerank import RerankConfig, rerank
from inpars.runs import read_rankings, read_run

from conftest import write_beir_collection, write_expansion


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_beir_collection(tmp_path_factory.mktemp("collection"))


def config(collection: Path, tmp_path: Path, model: Path, **changes) -> RerankConfig:
    base = RerankConfig(
        queries=str(collection), corpus=str(collection), output=str(tmp_path / "run.trec"),
        model=str(model), depth=8, queries_per_chunk=2, batch_size=5,
        index=str(tmp_path.parent / f"{tmp_path.name}-index"), threads=2,
        first_stage_output=str(tmp_path / "bm25.trec"),
    )  # fmt: skip
    return replace(base, **changes)


def test_rerank_bm25_top_depth(collection: Path, tmp_path: Path, tiny_cross_encoder: Path) -> None:
    summary = rerank(config(collection, tmp_path, tiny_cross_encoder))
    assert summary.queries == 6 and summary.pairs == 6 * 8
    run = read_run(tmp_path / "run.trec")
    first = read_rankings(tmp_path / "bm25.trec")
    assert set(run) == set(first) == {f"q{t}" for t in range(6)}
    for query_id, ranking in first.items():
        assert len(ranking) == 8
        assert set(run[query_id]) == {doc_id for doc_id, _ in ranking}  # same candidates
        assert ranking[0][0].startswith(f"d{query_id[1:]}-")  # BM25 finds the topic
    lines = (tmp_path / "run.trec").read_text().splitlines()
    assert lines[0].split()[1] == "Q0" and lines[0].split()[5] == "inpars-cross-encoder"
    ranks = [int(line.split()[3]) for line in lines[:8]]
    assert ranks == list(range(1, 9))
    scores = [float(line.split()[4]) for line in lines[:8]]
    assert scores == sorted(scores, reverse=True)


def test_rerank_resumes_after_a_crash(
    collection: Path, tmp_path: Path, tiny_cross_encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    straight = config(collection, tmp_path / "a", tiny_cross_encoder)
    rerank(straight)
    crashed = config(collection, tmp_path / "b", tiny_cross_encoder)
    real_load = rerank_module.load_reranker
    calls = {"n": 0}

    def crashing_load(*args, **kwargs):
        reranker = real_load(*args, **kwargs)
        score = reranker.score

        def crash_on_third_chunk(*a, **k):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
            return score(*a, **k)

        reranker.score = crash_on_third_chunk
        return reranker

    monkeypatch.setattr(rerank_module, "load_reranker", crashing_load)
    with pytest.raises(KeyboardInterrupt):
        rerank(crashed)
    assert len(read_run(crashed.output)) == 4  # two chunks of two queries committed
    monkeypatch.setattr(rerank_module, "load_reranker", real_load)
    summary = rerank(crashed)
    assert summary.already_done == 4 and summary.pairs == 2 * 8
    assert Path(crashed.output).read_text() == Path(straight.output).read_text()
    with pytest.raises(InparsError, match="setting depth: 8 -> 5"):
        rerank(replace(crashed, depth=5))


def test_rerank_a_run_file_and_only_judged_queries(
    collection: Path, tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    first = tmp_path / "first.trec"
    first.write_text("q0 Q0 d0-0 1 3 x\nq0 Q0 d1-0 2 2 x\nq0 Q0 d2-0 3 1 x\nq5 Q0 d5-0 1 1 x\n")
    cfg = config(
        collection, tmp_path, tiny_cross_encoder, run=str(first), depth=2, qrels=str(collection)
    )
    summary = rerank(cfg)
    run = read_run(cfg.output)
    # Only judged queries (q5 is not) that the run has candidates for.
    assert set(run) == {"q0"}
    assert set(run["q0"]) == {"d0-0", "d1-0"}  # the run's top 2
    assert summary.without_candidates == 4


def test_unknown_document_in_a_run_is_an_error(
    collection: Path, tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    first = tmp_path / "first.trec"
    first.write_text("q0 Q0 nowhere 1 3 x\n")
    with pytest.raises(InputError, match="'nowhere' is not in the corpus"):
        rerank(config(collection, tmp_path, tiny_cross_encoder, run=str(first)))


def test_cli_without_a_model_is_a_clear_error(collection: Path, tmp_path: Path, capsys) -> None:
    code = main(
        ["--queries", str(collection), "--corpus", str(collection), "--output", str(tmp_path / "r")]
    )
    assert code == 2
    assert "--model" in capsys.readouterr().err


def test_bm25_corpus_searches_the_expansion_while_the_reranker_reads_the_original(
    collection: Path, tmp_path: Path, tiny_cross_encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    expanded = write_expansion(collection, tmp_path, "d4-3", "aeroacoustic turbofan")
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"_id": "x", "text": "aeroacoustic turbofan"}) + "\n")
    scored: list[str] = []
    real_load = rerank_module.load_reranker

    def spying_load(*args, **kwargs):
        reranker = real_load(*args, **kwargs)
        real_score = reranker.score

        def score(queries, documents, batch_size=32, on_batch=None):
            scored.extend(documents)
            return real_score(queries, documents, batch_size=batch_size)

        reranker.score = score
        return reranker

    monkeypatch.setattr(rerank_module, "load_reranker", spying_load)
    base = config(collection, tmp_path, tiny_cross_encoder, queries=str(queries))
    plain = rerank(replace(base, output=str(tmp_path / "plain.trec"), index=str(tmp_path / "i1")))
    assert plain.without_candidates == 1  # the query's words are only in the expansion
    summary = rerank(replace(base, bm25_corpus=str(expanded), index=str(tmp_path / "i2")))
    assert summary.without_candidates == 0
    assert read_rankings(tmp_path / "bm25.trec")["x"][0][0] == "d4-3"
    assert list(read_run(tmp_path / "run.trec")["x"]) == ["d4-3"]
    original = ("a study of jet noise number 3 " * 4).strip()
    assert scored == [original]  # the reranker read the document unexpanded


def _reverse_scores(model: Path) -> None:
    """Rewrites the cross-encoder in ``model`` with its output negated: the same folder,
    other weights, the reverse ranking."""
    import torch
    from transformers import BertForSequenceClassification

    loaded = BertForSequenceClassification.from_pretrained(model)
    with torch.no_grad():
        loaded.classifier.weight.neg_()
        loaded.classifier.bias.neg_()
    loaded.save_pretrained(model)


def test_a_model_retrained_in_the_same_folder_is_not_resumed_as_done(
    collection: Path, tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_cross_encoder, model)
    cfg = config(collection, tmp_path, model)
    rerank(cfg)
    first = Path(cfg.output).read_text()
    _reverse_scores(model)
    with pytest.raises(InparsError, match=r"(?s)model.*changed.*--overwrite"):
        rerank(cfg)
    assert Path(cfg.output).read_text() == first  # refused: nothing appended or cut
    summary = rerank(cfg, overwrite=True)
    assert summary.already_done == 0 and summary.pairs == 6 * 8
    assert Path(cfg.output).read_text() != first


def test_changed_queries_or_first_stage_run_are_refused(
    collection: Path, tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    """Inputs are compared by content: an edited queries file or first-stage run at the same
    path is another input, never resumed as if it were the old one."""
    import json

    queries = tmp_path / "queries.jsonl"
    queries.write_text("".join(
        json.dumps({"_id": f"q{t}", "text": f"study of topic {t}"}) + "\n" for t in range(4)
    ))  # fmt: skip
    first = tmp_path / "first.trec"
    first.write_text("".join(f"q{t} Q0 d{t}-0 1 3 x\nq{t} Q0 d{t}-1 2 2 x\n" for t in range(4)))
    cfg = config(collection, tmp_path, tiny_cross_encoder, queries=str(queries), run=str(first))
    rerank(cfg)
    queries.write_text(queries.read_text().replace("topic 3", "topic 9"))
    with pytest.raises(InparsError, match=r"(?s)queries.*changed"):
        rerank(cfg)
    queries.write_text(queries.read_text().replace("topic 9", "topic 3"))
    assert rerank(cfg).already_done == 4  # the same inputs again: done
    first.write_text(first.read_text().replace("d3-1", "d3-2"))
    with pytest.raises(InparsError, match=r"(?s)run.*changed"):
        rerank(cfg)


def test_rerank_killed_mid_run_resumes_to_the_uninterrupted_run(
    collection: Path, tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    """A SIGKILL (no handler runs, nothing is flushed) after two committed chunks: the same
    command resumes after them and writes what an uninterrupted run writes."""
    import signal
    import subprocess
    import sys

    straight = config(collection, tmp_path / "a", tiny_cross_encoder)
    rerank(straight)
    killed = config(collection, tmp_path / "b", tiny_cross_encoder)
    argv = [
        "--queries", killed.queries, "--corpus", killed.corpus, "--output", killed.output,
        "--model", str(tiny_cross_encoder), "--depth", "8", "--queries-per-chunk", "2",
        "--batch-size", "5", "--index", str(killed.index), "--threads", "2",
        "--first-stage-output", str(killed.first_stage_output), "--quiet",
    ]  # fmt: skip
    child = (
        KILL_ON_THIRD_SCORE + "from inpars.cli.rerank import main\nsys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run([sys.executable, "-c", child, *argv], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert len(read_run(killed.output)) == 4  # two chunks of two queries committed
    summary = rerank(killed)
    assert summary.already_done == 4 and summary.pairs == 2 * 8
    assert Path(killed.output).read_text() == Path(straight.output).read_text()


KILL_ON_THIRD_SCORE = """
import os, signal, sys
import inpars.rerank as rerank
real_load = rerank.load_reranker
calls = [0]
def load(*args, **kwargs):
    reranker = real_load(*args, **kwargs)
    score = reranker.score
    def killing_score(*a, **k):
        calls[0] += 1
        if calls[0] == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return score(*a, **k)
    reranker.score = killing_score
    return reranker
rerank.load_reranker = load
"""


def test_cli_reads_a_corpus_by_its_own_field_names(
    collection: Path, tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    """A JSONL corpus named .txt with fields pid/heading/body, given --corpus-format and the
    field flags, reranks exactly as the BEIR folder it was made from."""
    import json

    corpus = tmp_path / "docs.txt"
    with open(collection / "corpus.jsonl") as source, corpus.open("w") as out:
        for line in source:
            doc = json.loads(line)
            out.write(json.dumps({"pid": doc["_id"], "heading": doc.get("title", ""),
                                  "body": doc["text"]}) + "\n")  # fmt: skip
    reference = config(collection, tmp_path / "a", tiny_cross_encoder)
    (tmp_path / "a").mkdir()
    rerank(reference)
    output = tmp_path / "b.trec"
    code = main([
        "--queries", str(collection), "--corpus", str(corpus), "--corpus-format", "jsonl",
        "--id-field", "pid", "--title-field", "heading", "--text-field", "body",
        "--output", str(output), "--model", str(tiny_cross_encoder), "--depth", "8",
        "--index", str(tmp_path / "b-index"), "--threads", "2", "--batch-size", "5",
        "--queries-per-chunk", "2", "--quiet",
    ])  # fmt: skip
    assert code == 0
    assert read_run(output) == read_run(reference.output)
