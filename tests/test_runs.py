"""TREC run files and the committed (crash-safe, resumable) append output."""

from __future__ import annotations

from pathlib import Path

import pytest

from inpars.errors import InparsError, InputError
from inpars.records import RunEntry
from inpars.runs import (
    format_run,
    rank_scores,
    read_rankings,
    read_run,
    reciprocal_rank_fusion,
    trec_order,
)


def test_rank_scores_orders_by_score_and_keeps_first_stage_order_on_ties() -> None:
    entries = rank_scores("q1", [("d1", 0.5), ("d2", 0.9), ("d3", 0.5), ("d4", 0.1)], tag="t")
    assert [(e.doc_id, e.rank) for e in entries] == [("d2", 1), ("d1", 2), ("d3", 3), ("d4", 4)]
    assert entries[0] == RunEntry("q1", "d2", 1, 0.9, "t")


def test_run_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run.trec"
    path.write_text(
        format_run(rank_scores("q1", [("a", 2.0), ("b", 3.5)]))
        + format_run(rank_scores("q2", [("c", -1.25)]))
    )
    assert path.read_text().splitlines()[0] == "q1 Q0 b 1 3.5 inpars"
    assert read_run(path) == {"q1": {"a": 2.0, "b": 3.5}, "q2": {"c": -1.25}}
    assert read_rankings(path) == {"q1": [("b", 3.5), ("a", 2.0)], "q2": [("c", -1.25)]}
    assert read_rankings(path, depth=1)["q1"] == [("b", 3.5)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("q1 Q0 d1 1 0.5", "expected 6"),
        ("q1 Q0 d1 first 0.5 tag", "field 'rank'"),
        ("q1 Q0 d1 1 high tag", "field 'score'"),
        ("q1 Q0 d1 1 nan tag", "NaN"),
    ],
)
def test_bad_run_lines_name_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.trec"
    path.write_text("q0 Q0 d0 1 1.0 tag\n" + line + "\n")
    with pytest.raises(InputError, match=message) as info:
        read_run(path)
    assert f"{path}:2" in str(info.value)


def test_duplicate_document_for_a_query_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.trec"
    path.write_text("q1 Q0 d1 1 1.0 t\nq1 Q0 d1 2 0.5 t\n")
    with pytest.raises(InputError, match="appears twice"):
        read_run(path)


def test_reciprocal_rank_fusion_by_hand() -> None:
    a = {"q": {"d1": 3.0, "d2": 2.0, "d3": 1.0}}
    b = {"q": {"d3": 0.9, "d1": 0.5}, "other": {"x": 1.0}}
    fused = reciprocal_rank_fusion([a, b], k=60)
    assert fused["q"] == pytest.approx(
        {"d1": 1 / 61 + 1 / 62, "d2": 1 / 62, "d3": 1 / 63 + 1 / 61}
    )
    assert fused["other"] == {"x": 1 / 61}


def test_run_scores_keep_full_precision(tmp_path: Path) -> None:
    """Scores that differ past the 6th digit stay distinct: no ties made by the writer."""
    scored = [("a", 12.3456789012), ("b", 12.3456781), ("c", 0.1 + 0.2), ("d", -1e-9)]
    path = tmp_path / "run.trec"
    path.write_text(format_run(rank_scores("q", scored)))
    assert read_run(path) == {"q": dict(scored)}  # the same floats, bit for bit
    assert path.read_text().splitlines()[0] == "q Q0 a 1 12.3456789012 inpars"


def test_a_nan_score_is_refused_when_writing() -> None:
    with pytest.raises(InparsError, match=r"'d2'.*NaN"):
        format_run(rank_scores("q", [("d1", 1.0), ("d2", float("nan"))]))


def test_trec_order_breaks_ties_by_doc_id_descending() -> None:
    assert trec_order({"d1": 1.0, "d3": 1.0, "d2": 1.0, "x": 2.0}) == ["x", "d3", "d2", "d1"]


def test_reciprocal_rank_fusion_ranks_ties_as_trec_eval_does() -> None:
    fused = reciprocal_rank_fusion([{"q": {"d1": 1.0, "d2": 1.0, "d0": 0.5}}], k=60)
    assert fused["q"] == pytest.approx({"d2": 1 / 61, "d1": 1 / 62, "d0": 1 / 63})


def test_trec_order_is_the_order_trec_eval_evaluates(tmp_path: Path) -> None:
    """Asks trec_eval itself (pytrec_eval wraps its C code): with two documents tied, the
    reciprocal rank of the relevant one says which of them trec_eval put first."""
    pytrec_eval = pytest.importorskip("pytrec_eval")
    run = {"q": {"doc-a": 1.0, "doc-b": 1.0, "doc-c": 0.5}}
    for relevant in ("doc-a", "doc-b"):
        evaluator = pytrec_eval.RelevanceEvaluator({"q": {relevant: 1}}, {"recip_rank"})
        rank = round(1 / evaluator.evaluate(run)["q"]["recip_rank"])
        assert rank == trec_order(run["q"]).index(relevant) + 1
