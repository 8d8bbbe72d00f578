"""scripts/expansion_table.py: the document-expansion experiment's tables, read from what
inpars.evaluate writes (its real --json output) and the generation driver's log."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from inpars.cli.evaluate import main as evaluate_main

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "expansion_table.py"


@pytest.fixture(scope="module")
def expansion_table():
    spec = importlib.util.spec_from_file_location("expansion_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_run(path: Path, rankings: dict[str, list[str]]) -> None:
    lines = [
        f"{qid} Q0 {doc} {rank} {10 - rank} t\n"
        for qid, docs in rankings.items()
        for rank, doc in enumerate(docs, start=1)
    ]
    path.write_text("".join(lines))


def test_table_reads_the_three_evaluations(expansion_table, tmp_path: Path) -> None:
    folder = tmp_path / "cranfield"
    runs = folder / "runs"
    runs.mkdir(parents=True)
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t1\n")
    # BM25 finds q1's document first only; the expansion run finds all three first.
    _write_run(runs / "bm25.trec", {"q1": ["d1", "d2"], "q2": ["d1", "d2"], "q3": ["d1", "d3"]})
    _write_run(runs / "zero-shot.trec", {"q1": ["d2", "d1"], "q2": ["d2"], "q3": ["d3"]})
    _write_run(runs / "rrf.trec", {"q1": ["d1"], "q2": ["d2"], "q3": ["d1", "d3"]})
    _write_run(runs / "zero-shot+bm25-d2q-30.trec", {"q1": ["d1"], "q2": ["d2"], "q3": ["d3"]})
    stems = ["bm25", "zero-shot", "rrf", "zero-shot+bm25-d2q-30"]
    for baseline in ("bm25", "zero-shot", "rrf"):
        order = [baseline] + [s for s in stems if s != baseline]
        argv = ["--qrels", str(qrels), "--measures", "nDCG@10", "RR@10", "R@100"]
        argv += ["--json", str(folder / f"eval-vs-{baseline}.json")]
        for stem in order:
            argv += ["--run", str(runs / f"{stem}.trec")]
        assert evaluate_main(argv) == 0

    lines = expansion_table.table(folder).splitlines()

    assert lines[0].startswith("3 judged queries")
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in lines[4:]}
    assert list(rows) == [
        "BM25",
        "zero-shot dense (all-MiniLM-L6-v2)",
        "RRF(BM25, zero-shot)",
        "**RRF(BM25 + expansion (Doc2Query-- 0.3), zero-shot)**",
    ]
    expansion = rows["**RRF(BM25 + expansion (Doc2Query-- 0.3), zero-shot)**"]
    assert expansion[0] == "1.000"  # nDCG@10: every query's document first
    bm25 = json.loads((folder / "eval-vs-bm25.json").read_text())["runs"]
    p_vs_bm25 = bm25[-1]["p_values_vs_first"]["nDCG@10"]
    assert expansion[1] == f"{p_vs_bm25:.3f}"
    assert rows["BM25"][1] == "-"  # BM25 against itself: no test
    assert rows["RRF(BM25, zero-shot)"][3] == "-"


def test_rerankers_over_a_first_stage_are_named_and_tabled(expansion_table, tmp_path) -> None:
    label = expansion_table.label
    first = "zero-shot+bm25-d2q-30"
    assert label(f"trained-over-{first}") == (
        "trained bi-encoder reranking the top 100 of "
        "RRF(BM25 + expansion (Doc2Query-- 0.3), zero-shot)"
    )
    assert label("zero-shot-over-rrf").startswith("zero-shot bi-encoder reranking")
    # The trained run fused with the first stage's BM25 run (scripts/expansion_rerank.sh).
    assert label(f"trained-over-{first}+bm25-d2q-30") == (
        "**RRF(BM25 + expansion (Doc2Query-- 0.3), trained bi-encoder over "
        "RRF(BM25 + expansion (Doc2Query-- 0.3), zero-shot))**"
    )
    assert label("trained-over-zero-shot+bm25") == (
        "**RRF(BM25, trained bi-encoder over zero-shot dense (all-MiniLM-L6-v2))**"
    )
    folder = tmp_path / "cacm"
    runs = folder / "runs"
    runs.mkdir(parents=True)
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    stems = ["bm25", "zero-shot", "rrf", "trained-over-rrf"]
    rankings = (["d2", "d1"], ["d1", "d2"], ["d1", "d2"], ["d2", "d1"])
    for stem, docs in zip(stems, rankings, strict=True):
        _write_run(runs / f"{stem}.trec", {"q1": docs, "q2": docs})
    for baseline in ("bm25", "zero-shot", "rrf"):
        argv = ["--qrels", str(qrels), "--measures", "nDCG@10", "RR@10", "R@100"]
        argv += ["--json", str(folder / f"rerank-vs-{baseline}.json")]
        for stem in [baseline] + [s for s in stems if s != baseline]:
            argv += ["--run", str(runs / f"{stem}.trec")]
        assert evaluate_main(argv) == 0
    assert expansion_table.table(folder) == "not evaluated yet"  # the expansion runs
    lines = expansion_table.table(folder, "rerank").splitlines()
    assert lines[0].startswith("2 judged queries")
    assert lines[-1].startswith("| trained bi-encoder reranking the top 100 of RRF(BM25, ")


def test_not_evaluated_yet(expansion_table, tmp_path: Path) -> None:
    assert expansion_table.table(tmp_path) == "not evaluated yet"


def test_generation_time_sums_finished_invocations(expansion_table, tmp_path: Path) -> None:
    log = tmp_path / "cranfield.log"
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"doc_id": "1", "query": "q"}\n' * 1200)
    log.write_text(
        "start 2026-12-01T18:00:00Z cranfield\n"
        "end 2026-12-01T18:10:00Z cranfield exit=0\n"
        "a warning in between\n"
        "start 2026-12-01T19:00:00Z cranfield\n"
        "end 2026-12-01T19:10:00Z cranfield exit=0\n"
    )
    assert expansion_table.generation_time(log, queries) == (
        "1,200 queries in 20 min (1.00 queries/s)"
    )
    log.write_text("start 2026-12-01T18:00:00Z cranfield\n")
    assert expansion_table.generation_time(log, queries) == (
        "1,200 queries written, generation not finished"
    )


def test_a_killed_run_makes_the_time_a_lower_bound(expansion_table, tmp_path: Path) -> None:
    # A session that ends kills the job before it writes its end line; the rate of the
    # finished runs alone would overstate the speed (all queries over part of the time).
    log = tmp_path / "medline.log"
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"doc_id": "1", "query": "q"}\n' * 3000)
    log.write_text(
        "start 2026-12-01T18:00:00Z medline\n"
        "start 2026-12-01T20:00:00Z medline\n"
        "end 2026-12-01T20:50:00Z medline exit=0\n"
    )
    assert expansion_table.generation_time(log, queries) == (
        "3,000 queries in more than 50 min (1 earlier run(s) killed without an end line)"
    )
