"""inpars.fuse: reciprocal rank fusion of TREC runs on disk (library and command line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inpars.cli import main as inpars_main
from inpars.cli.fuse import main
from inpars.errors import InparsError
from inpars.fuse import FuseConfig, fuse_runs


def _write(path: Path, lines: list[str]) -> str:
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def _ranked(path: Path) -> dict[str, list[str]]:
    ranked: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        query_id, _, doc_id, rank, _, _ = line.split()
        assert int(rank) == len(ranked.setdefault(query_id, [])) + 1
        ranked[query_id].append(doc_id)
    return ranked


@pytest.fixture
def runs(tmp_path: Path) -> list[str]:
    # The rank column of "a" disagrees with its scores: ranks must follow the scores.
    bm25 = _write(tmp_path / "a.trec", [
        "q1 Q0 d1 3 3.0 a", "q1 Q0 d2 1 2.0 a", "q1 Q0 d3 2 1.0 a",
        "q9 Q0 d7 1 5.0 a",
    ])  # fmt: skip
    dense = _write(tmp_path / "b.trec", [
        "q2 Q0 d4 1 0.7 b",
        "q1 Q0 d3 1 0.9 b", "q1 Q0 d1 2 0.5 b",
    ])  # fmt: skip
    return [bm25, dense]


def test_fused_by_reciprocal_rank_of_each_runs_scores(tmp_path: Path, runs: list[str]) -> None:
    output = tmp_path / "rrf.trec"
    summary = fuse_runs(FuseConfig(runs=runs, output=str(output)))
    # q1, k 60: d1 1/61 + 1/62, d3 1/63 + 1/61, d2 1/62 (ranks from the scores, not column 4).
    # A query of one run only is fused from that run; queries in order of first appearance.
    assert _ranked(output) == {"q1": ["d1", "d3", "d2"], "q9": ["d7"], "q2": ["d4"]}
    assert list(_ranked(output)) == ["q1", "q9", "q2"]
    first = output.read_text().splitlines()[0].split()
    assert float(first[4]) == pytest.approx(1 / 61 + 1 / 62) and first[5] == "inpars-rrf"
    assert (summary.queries, summary.documents, summary.skipped) == (3, 5, False)


def test_depth_cuts_each_run_before_fusing_and_the_fused_run(tmp_path: Path, runs) -> None:
    output = tmp_path / "rrf.trec"
    fuse_runs(FuseConfig(runs=runs, output=str(output), depth=1, k=0))
    # Top 1 of each run: d1 (a) and d3 (b) both score 1/1; trec_eval's tie order (doc id
    # descending) puts d3 first, and the fused run keeps 1 document.
    assert _ranked(output)["q1"] == ["d3"]


def test_k_changes_the_fusion(tmp_path: Path) -> None:
    one = _write(tmp_path / "one.trec", ["q Q0 p 1 9 a", "q Q0 x 2 8 a", "q Q0 c 3 7 a"])
    two = _write(tmp_path / "two.trec", ["q Q0 y 1 9 b", "q Q0 z 2 8 b", "q Q0 c 3 7 b"])
    # c, third in both runs, scores 2 / (k + 3); p and y, first in one run, 1 / (k + 1).
    # k 0: 0.67 < 1, c after them; k 60: 0.032 > 0.016, c first. Ties: doc ids descending.
    for k, expected in ((0, ["y", "p", "c", "z", "x"]), (60, ["c", "y", "p", "z", "x"])):
        fuse_runs(FuseConfig(runs=[one, two], output=str(tmp_path / f"k{k}.trec"), k=k))
        assert _ranked(tmp_path / f"k{k}.trec")["q"] == expected


def test_same_fusion_is_skipped_and_a_changed_run_is_refused(tmp_path: Path, runs) -> None:
    output = tmp_path / "rrf.trec"
    config = FuseConfig(runs=runs, output=str(output))
    fuse_runs(config)
    written = output.read_text()
    assert fuse_runs(config).skipped
    Path(runs[1]).write_text("q1 Q0 d2 1 0.9 b\n")
    with pytest.raises(InparsError, match="another run"):
        fuse_runs(config)
    assert output.read_text() == written  # nothing lost
    with pytest.raises(InparsError, match="another run"):
        fuse_runs(FuseConfig(runs=runs, output=str(output), k=10))
    fuse_runs(config, overwrite=True)
    assert _ranked(output)["q1"] == ["d2", "d1", "d3"]


def test_cli_writes_the_run_and_names_a_bad_line(tmp_path: Path, runs, capsys) -> None:
    output = tmp_path / "rrf.trec"
    assert inpars_main(["fuse", *runs, "--output", str(output), "--tag", "mine"]) == 0
    assert output.read_text().splitlines()[0].endswith(" mine")
    assert "3 queries, 5 documents" in capsys.readouterr().err
    bad = _write(tmp_path / "bad.trec", ["q1 Q0 d1 1 0.5 x", "q1 Q0 d2 two 0.4 x"])
    assert main([runs[0], bad, "--output", str(tmp_path / "other.trec")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2" in err and "Traceback" not in err
    assert not (tmp_path / "other.trec").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--depth", "0"], "--depth must be at least 1"),
        (["--k", "-1"], "--k must be 0 or more"),
        (["--tag", "two words"], "--tag must be one word"),
    ],
)
def test_cli_refuses_bad_settings(tmp_path: Path, runs, capsys, argv, message) -> None:
    assert main([*runs, "--output", str(tmp_path / "o.trec"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_needs_two_runs(tmp_path: Path, runs, capsys) -> None:
    assert main([runs[0], "--output", str(tmp_path / "o.trec")]) == 2
    assert "at least two runs" in capsys.readouterr().err
