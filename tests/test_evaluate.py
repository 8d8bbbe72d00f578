"""Evaluation: measures on a hand-checked toy run, query selection, comparisons, the CLI,
and BM25 on Cranfield against the shared baseline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from images import columns_with_colour, png_size

from inpars.cli.evaluate import main
from inpars.errors import InparsError
from inpars.evaluate import compare, evaluate, paired_t_test, read_excluded_ids

from conftest import shared_collection

QRELS = {
    "q1": {"d1": 1, "d3": 2, "d9": 0},
    "q2": {"d5": 1},
    "q3": {"d7": 0},  # no relevant document: not counted
}
RUN = {"q1": {"d1": 0.9, "d2": 0.8, "d3": 0.7}, "q4": {"d1": 1.0}}


def test_measures_on_a_hand_checked_run() -> None:
    result = evaluate(RUN, QRELS)
    assert result.query_ids == ["q1", "q2"]
    assert result.missing == 1  # q2 is judged but absent: it scores 0
    q1 = {m: result.per_query[m]["q1"] for m in result.measures}
    # trec_eval's nDCG: gain = relevance. DCG = 1/log2(2) + 2/log2(4) = 2;
    # ideal = 2/log2(2) + 1/log2(3).
    assert q1["nDCG@10"] == pytest.approx(2 / (2 + 1 / math.log2(3)), abs=1e-6)
    assert q1["RR@10"] == 1.0
    assert q1["R@100"] == 1.0
    assert q1["AP"] == pytest.approx((1 / 1 + 2 / 3) / 2, abs=1e-6)
    assert all(result.per_query[m]["q2"] == 0.0 for m in result.measures)
    assert result.mean("AP") == pytest.approx((1 + 2 / 3) / 4, abs=1e-6)


def test_excluded_queries_are_not_counted(tmp_path: Path) -> None:
    assert evaluate(RUN, QRELS, exclude={"q2"}).query_ids == ["q1"]
    generated = tmp_path / "queries.jsonl"
    generated.write_text(
        json.dumps({"doc_id": "d", "query": "x", "fewshot_ids": ["q2", "q8"]})
        + "\n"
        + json.dumps({"doc_id": "e", "query": "y", "fewshot_ids": ["q2"]})
        + "\n"
    )
    assert read_excluded_ids(generated) == {"q2", "q8"}
    # The InPars-v2 toolkit's queries.jsonl names its examples fewshot_examples (numbers
    # too), as every other reader accepts.
    v2 = tmp_path / "v2.jsonl"
    v2.write_text(
        json.dumps(
            {
                "doc_id": "d",
                "query": "x",
                "log_probs": [-1.0],
                "prompt_text": "p",
                "fewshot_examples": [2, "q9"],
                "text": "doc",
            }
        )
        + "\n"
    )
    assert read_excluded_ids(v2) == {"2", "q9"}
    listed = tmp_path / "ids.txt"
    listed.write_text("q1\n\n# a comment\nq2  # trailing\n")
    assert read_excluded_ids(listed) == {"q1", "q2"}


def test_unknown_measure_and_empty_qrels_are_clear_errors() -> None:
    with pytest.raises(InparsError, match="unknown measure 'nDCG@x'"):
        evaluate(RUN, QRELS, measures=["nDCG@x"])
    with pytest.raises(InparsError, match="no query left"):
        evaluate(RUN, {"q3": {"d7": 0}})


def test_paired_t_test_matches_scipy_and_handles_identical_runs() -> None:
    from scipy.stats import ttest_rel

    a, b = [0.1, 0.5, 0.3, 0.9], [0.2, 0.7, 0.35, 0.95]
    assert paired_t_test(a, b) == pytest.approx(ttest_rel(b, a).pvalue)
    assert paired_t_test(a, a) == 1.0


def test_compare_reports_means_and_p_values() -> None:
    better = {"q1": {"d3": 0.9, "d1": 0.8}, "q2": {"d5": 1.0}}
    rows = {row.measure: row for row in compare(evaluate(RUN, QRELS), evaluate(better, QRELS))}
    assert rows["RR@10"].baseline_mean == 0.5 and rows["RR@10"].mean == 1.0
    assert rows["RR@10"].delta == 0.5
    assert 0 < rows["nDCG@10"].p_value <= 1


def test_cli_compares_runs_and_writes_per_query_and_json(tmp_path: Path, capsys) -> None:
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td3\t2\nq2\td5\t1\n")
    run_a, run_b = tmp_path / "a.trec", tmp_path / "b.trec"
    run_a.write_text("q1 Q0 d1 1 0.9 a\nq1 Q0 d2 2 0.8 a\nq1 Q0 d3 3 0.7 a\n")
    run_b.write_text("q1 Q0 d3 1 0.9 b\nq1 Q0 d1 2 0.8 b\nq2 Q0 d5 1 1 b\n")
    code = main([
        "--qrels", str(qrels), "--run", str(run_a), "--run", str(run_b),
        "--per-query", str(tmp_path / "pq.tsv"), "--json", str(tmp_path / "out.json"),
    ])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "a.trec" in out and "b.trec" in out and "p=" in out
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["queries"] == 2
    assert report["runs"][1]["means"]["RR@10"] == 1.0
    assert report["runs"][0]["p_values_vs_first"] is None
    lines = (tmp_path / "pq.tsv").read_text().splitlines()
    assert lines[0] == "run\tmeasure\tquery_id\tvalue"
    assert "b.trec\tRR@10\tq2\t1.000000" in lines
    # The results know what made them: a changed run is refused, not silently replaced.
    manifest = json.loads((tmp_path / "out.json.manifest.json").read_text())
    assert manifest["stage"] == "evaluate" and manifest["status"] == "complete"
    assert set(manifest["inputs"]) == {"qrels", "run a.trec", "run b.trec"}
    argv = ["--qrels", str(qrels), "--run", str(run_a), "--run", str(run_b),
            "--per-query", str(tmp_path / "pq.tsv"),
            "--json", str(tmp_path / "out.json")]  # fmt: skip
    assert main(argv) == 0  # the same evaluation again
    run_b.write_text("q1 Q0 d1 1 0.9 b\n")
    capsys.readouterr()
    assert main(argv) == 2
    assert "input run b.trec changed" in capsys.readouterr().err
    assert json.loads((tmp_path / "out.json").read_text()) == report
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads((tmp_path / "out.json").read_text())["runs"][1]["means"]["RR@10"] == 0.5


def test_cli_reports_bad_input_without_traceback(tmp_path: Path, capsys) -> None:
    run = tmp_path / "bad.trec"
    run.write_text("q1 Q0 d1 1\n")
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("q1\td1\t1\n")
    assert main(["--qrels", str(qrels), "--run", str(run)]) == 2
    assert f"{run}:1" in capsys.readouterr().err


def test_plot_draws_sorted_per_query_differences(tmp_path: Path, capsys) -> None:
    # 12 judged queries, one relevant document each; the baseline ranks it 3rd everywhere,
    # the other run 1st for q00-q06, 3rd for q07-q08 (tied) and absent for q09-q11.
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("".join(f"q{i:02d}\tgood{i}\t1\n" for i in range(12)))
    base, better = tmp_path / "bm25.trec", tmp_path / "reranked.trec"

    def ranking(i: int, order: list[str], tag: str) -> str:
        return "".join(f"q{i:02d} Q0 {d}{i} {r} {9 - r} {tag}\n" for r, d in enumerate(order, 1))

    base.write_text("".join(ranking(i, ["x", "y", "good"], "b") for i in range(12)))
    better.write_text(
        "".join(ranking(i, ["good", "x"], "r") for i in range(7))
        + "".join(ranking(i, ["x", "y", "good"], "r") for i in range(7, 9))
    )
    plot = tmp_path / "plots" / "diff.png"
    code = main(["--qrels", str(qrels), "--run", str(base), "--run", str(better),
                 "--measures", "RR@10", "--plot", str(plot)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert png_size(plot) == (800, 500)
    green = columns_with_colour(plot, (0x2C, 0xA0, 0x2C))
    red = columns_with_colour(plot, (0xD6, 0x27, 0x28))
    assert green and red and max(green) < min(red)  # sorted: gains left, losses right
    # ~7/12 of the bars' width is green and ~3/12 red.
    assert 1.5 < len(green) / len(red) < 3.5
    assert main(["--qrels", str(qrels), "--run", str(base), "--plot", str(plot)]) == 2
    assert "give at least two --run" in capsys.readouterr().err
    code = main(["--qrels", str(qrels), "--run", str(base), "--run", str(better),
                 "--plot", str(plot), "--plot-measure", "P@5"])  # fmt: skip
    assert code == 2 and "--plot-measure 'P@5' is not among" in capsys.readouterr().err


@pytest.mark.slow
def test_bm25_on_cranfield_matches_the_shared_baseline(tmp_path: Path) -> None:
    """BM25 top-100 on Cranfield within 0.03 nDCG@10 of shared/data/README.md's 0.352."""
    from inpars.bm25 import Bm25Searcher, ensure_index
    from inpars.corpus import read_corpus, read_qrels, read_queries

    cranfield = shared_collection("cranfield")
    info = ensure_index(read_corpus(cranfield), tmp_path / "index", threads=2)
    queries = list(read_queries(cranfield))
    with Bm25Searcher(info.path) as searcher:
        rankings = searcher.batch_search([q.text for q in queries], 100, threads=2)
    run = {q.id: {h.doc_id: h.score for h in r} for q, r in zip(queries, rankings, strict=True)}
    result = evaluate(run, read_qrels(cranfield))
    assert len(result.query_ids) == 225
    assert result.mean("nDCG@10") == pytest.approx(0.352, abs=0.03)
