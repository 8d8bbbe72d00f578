"""The end-to-end pipeline on a small BEIR collection, with the real SmolLM2 generator."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from inpars.pipeline import RESULTS_FILE, STATE_FILE, PipelineConfig, main, run_pipeline

from conftest import write_beir_collection


@pytest.mark.slow
def test_pipeline_runs_every_step_then_skips_them(tmp_path: Path, tiny_cross_encoder: Path) -> None:
    collection = write_beir_collection(tmp_path / "collection")
    config = PipelineConfig(
        collection=str(collection), work_dir=str(tmp_path / "work"), max_docs=6,
        queries_per_doc=1, temperature=0.0, max_new_tokens=16, negatives_depth=10,
        kind="cross-encoder", reranker_model=str(tiny_cross_encoder), max_steps=2,
        train_batch_size=2, micro_batch_size=2, depth=10, device="cpu",
    )  # fmt: skip
    results = run_pipeline(config, show_progress=False)
    work = tmp_path / "work"
    for name in (
        "queries.jsonl", "filtered.jsonl", "triples-depth10-neg1.tsv", "bm25-top10.trec",
        "zero-shot-top10.trec", "cross-encoder/trained-top10.trec",
    ):  # fmt: skip
        assert (work / name).stat().st_size > 0, name
    assert results.queries == 5
    assert set(results.means) == {
        "BM25", "zero-shot bi-encoder", "zero-shot + BM25 (RRF)", "trained",
        "trained + BM25 (RRF)",
    }  # fmt: skip
    # BM25 finds each topic's judged document in its top 10.
    assert results.means["BM25"]["R@100"] == 1.0
    assert set(results.p_values) == {"trained", "trained + BM25 (RRF)"}
    assert set(results.p_values["trained"]) == {
        "BM25", "zero-shot bi-encoder", "zero-shot + BM25 (RRF)",
    }  # fmt: skip
    saved = json.loads((work / "cross-encoder" / RESULTS_FILE).read_text())
    assert saved["means"] == results.means
    # Everything is done: a second run skips every step (same times, no new work).
    state = (work / STATE_FILE).read_text()
    mtime = (work / "cross-encoder" / "trained-top10.trec").stat().st_mtime_ns
    again = run_pipeline(config, show_progress=False)
    assert again.means == results.means and again.seconds == results.seconds
    assert (work / STATE_FILE).read_text() == state
    assert (work / "cross-encoder" / "trained-top10.trec").stat().st_mtime_ns == mtime
    # A variant with the round-trip filter gets its own filtered queries and triples, and
    # leaves the first variant's files alone.
    filtered_mtime = (work / "filtered.jsonl").stat().st_mtime_ns
    variant = replace(config, consistency_model="all-minilm-l6-v2", consistency_depth=3, name="rt")
    run_pipeline(variant, show_progress=False)
    kept = [json.loads(line) for line in (work / "filtered-roundtrip3.jsonl").open()]
    assert 0 < len(kept) <= 5
    assert (work / "triples-roundtrip3-depth10-neg1.tsv").stat().st_size > 0
    assert (work / "rt" / RESULTS_FILE).is_file()
    assert (work / "filtered.jsonl").stat().st_mtime_ns == filtered_mtime


def test_pipeline_needs_qrels(tmp_path: Path, capsys) -> None:
    (tmp_path / "c").mkdir()
    assert main(["--collection", str(tmp_path / "c"), "--work-dir", str(tmp_path / "w")]) == 2
    assert "qrels" in capsys.readouterr().err
