"""The end-to-end pipeline on a small BEIR collection, with the real SmolLM2 generator."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from inpars.cli.pipeline import main
from inpars.errors import InparsError
from inpars.pipeline import RESULTS_FILE, PipelineConfig, few_shot_examples, run_pipeline

from conftest import TOPICS, write_beir_collection


@pytest.mark.slow
def test_pipeline_runs_every_step_then_skips_them(tmp_path: Path, tiny_cross_encoder: Path) -> None:
    collection = write_beir_collection(tmp_path / "collection")
    # Keyword queries: the collection's one query template, shown as few-shot examples,
    # would have the generator copy it for every topic, and the filter drop the copies.
    (collection / "queries.jsonl").write_text("".join(
        json.dumps({"_id": f"q{t}", "text": topic}) + "\n" for t, topic in enumerate(TOPICS)
    ))  # fmt: skip
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
    before = _written(config)
    again = run_pipeline(config, show_progress=False)
    assert again.means == results.means and again.seconds == results.seconds
    assert _written(config) == before
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
    # Promptagator's few-shot setting: two judged queries are the prompt's examples, their
    # queries get their own files, and the two are left out of the evaluation.
    few_shot = replace(config, template="promptagator", few_shot=2, name="fs")
    results = run_pipeline(few_shot, show_progress=False)
    examples = [json.loads(line) for line in (work / "examples-promptagator-fewshot2.jsonl").open()]
    assert sorted(e["id"] for e in examples) == results.excluded_queries
    assert results.queries == 5 - 2
    generated = [json.loads(line) for line in (work / "queries-promptagator-fewshot2.jsonl").open()]
    assert generated and all(
        record["fewshot_ids"] == [e["id"] for e in examples] for record in generated
    )


def test_pipeline_needs_qrels(tmp_path: Path, capsys) -> None:
    (tmp_path / "c").mkdir()
    assert main(["--collection", str(tmp_path / "c"), "--work-dir", str(tmp_path / "w")]) == 2
    assert "qrels" in capsys.readouterr().err


def test_few_shot_examples_are_judged_queries_with_their_shortest_relevant_document(
    tmp_path: Path,
) -> None:
    collection = write_beir_collection(tmp_path / "collection")
    with (collection / "qrels" / "test.tsv").open("a") as qrels:
        qrels.write("q0\td0-3\t1\nq1\td1-2\t0\n")  # a longer relevant one; a non-relevant one
    examples = few_shot_examples(collection, 5, seed=3)
    assert sorted(e["id"] for e in examples) == ["q0", "q1", "q2", "q3", "q4"]
    first = next(e for e in examples if e["id"] == "q0")
    assert first["doc_id"] == "d0-0"  # 8 words, against d0-3's 24
    assert first["document"].startswith("On ") and first["query"].startswith("what does")
    assert few_shot_examples(collection, 2, seed=3) == few_shot_examples(collection, 2, seed=3)
    with pytest.raises(InparsError, match="has only 5 judged queries"):
        few_shot_examples(collection, 6, seed=3)


def _small_config(tmp_path: Path, model: Path, **changes) -> PipelineConfig:
    """The pipeline on a 6-topic collection, small enough to run in seconds."""
    collection = tmp_path / "collection"
    if not collection.is_dir():
        write_beir_collection(collection)
        (collection / "queries.jsonl").write_text("".join(
            json.dumps({"_id": f"q{t}", "text": topic}) + "\n" for t, topic in enumerate(TOPICS)
        ))  # fmt: skip
    config = PipelineConfig(
        collection=str(collection), work_dir=str(tmp_path / "work"), max_docs=6,
        queries_per_doc=1, temperature=0.0, max_new_tokens=16, negatives_depth=10,
        kind="cross-encoder", reranker_model=str(model), max_steps=2,
        train_batch_size=2, micro_batch_size=2, depth=10, device="cpu",
    )  # fmt: skip
    return replace(config, **changes)


def _outputs(config: PipelineConfig) -> dict[str, Path]:
    """The file each step writes (the trained model: its weights)."""
    work, variant = Path(config.work_dir), Path(config.work_dir) / config.kind
    return {
        "generate": work / "queries.jsonl",
        "filter": work / "filtered.jsonl",
        "triples": work / f"triples-depth{config.negatives_depth}-neg1.tsv",
        "train": variant / "reranker" / "model.safetensors",
        "rerank zero-shot": work / f"zero-shot-top{config.depth}.trec",
        "rerank": variant / f"trained-top{config.depth}.trec",
        "evaluate": variant / RESULTS_FILE,
    }


def _written(config: PipelineConfig) -> dict[str, int | None]:
    """Each step's output's modification time (None: not there)."""
    return {
        step: path.stat().st_mtime_ns if path.exists() else None
        for step, path in _outputs(config).items()
    }


def _rerun_steps(before: dict[str, int | None], after: dict[str, int | None]) -> set[str]:
    return {step for step in after if after[step] != before.get(step)}


@pytest.mark.slow
def test_a_changed_filter_setting_is_refused_then_reruns_every_step_downstream(
    tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    """--keep-top-k changes what the filter keeps: refused while the old outputs stand
    (naming the step and the setting); with --overwrite the filter, triples, training,
    reranking and evaluation run again, and generation and the zero-shot run are reused."""
    config = _small_config(tmp_path, tiny_cross_encoder)
    first = run_pipeline(config, show_progress=False)
    assert not (tmp_path / "work" / "pipeline-state.json").exists()  # manifests say it all
    before = _written(config)
    assert all(before.values()), before
    changed = replace(config, keep_top_k=3)
    with pytest.raises(InparsError, match=r"(?s)filter.*keep_top_k.*10000.*3.*--overwrite"):
        run_pipeline(changed, show_progress=False)
    assert _written(config) == before  # nothing touched
    again = run_pipeline(changed, show_progress=False, overwrite=True)
    assert _rerun_steps(before, _written(changed)) == {
        "filter", "triples", "train", "rerank", "evaluate",
    }  # fmt: skip
    assert len(Path(_outputs(changed)["filter"]).read_text().splitlines()) == 3
    assert again.means["BM25"] == first.means["BM25"]
    # Step times come from the manifests: a reused step keeps its first run's time.
    assert again.seconds["generate"] == first.seconds["generate"]
    manifest = Path(f"{_outputs(changed)['filter']}.manifest.json").read_text()
    assert again.seconds["filter"] == json.loads(manifest)["seconds"]


@pytest.mark.slow
def test_a_changed_depth_reruns_only_reranking_and_evaluation(
    tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    config = _small_config(tmp_path, tiny_cross_encoder)
    run_pipeline(config, show_progress=False)
    before = _written(config)
    shallower = replace(config, depth=3)  # a topic's query finds its 5 documents: top 3 differ
    run_pipeline(shallower, show_progress=False, overwrite=True)
    assert _rerun_steps(before, _written(shallower)) == {"rerank zero-shot", "rerank", "evaluate"}
    # And back: every output of depth 10 is still there and complete, so nothing runs
    # but the evaluation, whose inputs (the runs) changed back.
    again = _written(config)
    run_pipeline(config, show_progress=False, overwrite=True)
    assert _rerun_steps(again, _written(config)) == {"evaluate"}


@pytest.mark.slow
def test_a_model_retrained_in_the_same_folder_is_reranked_again(
    tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    """More training steps retrain the model in the same folder: its run is redone (the
    model's contents are an input of the rerank step, not its path)."""
    config = _small_config(tmp_path, tiny_cross_encoder)
    run_pipeline(config, show_progress=False)
    before = _written(config)
    longer = replace(config, max_steps=3)
    with pytest.raises(InparsError, match=r"(?s)train.*max_steps.*2.*3"):
        run_pipeline(longer, show_progress=False)
    run_pipeline(longer, show_progress=False, overwrite=True)
    assert _rerun_steps(before, _written(longer)) == {"train", "rerank", "evaluate"}


@pytest.mark.slow
def test_rerun_redoes_a_step_and_what_its_output_changes(
    tmp_path: Path, tiny_cross_encoder: Path, capsys
) -> None:
    """--rerun STEP runs a step again although it is done; the steps after it run again only
    where their inputs changed (training is deterministic: the same weights, the same runs)."""
    config = _small_config(tmp_path, tiny_cross_encoder)
    run_pipeline(config, show_progress=False)
    before = _written(config)
    argv = [
        "--collection", config.collection, "--work-dir", config.work_dir, "--max-docs", "6",
        "--queries-per-doc", "1", "--temperature", "0", "--max-new-tokens", "16",
        "--negatives-depth", "10", "--kind", "cross-encoder",
        "--reranker-model", str(tiny_cross_encoder), "--max-steps", "2",
        "--train-batch-size", "2", "--micro-batch-size", "2", "--depth", "10",
        "--device", "cpu", "--quiet",
    ]  # fmt: skip
    assert main([*argv, "--rerun", "evaluate"]) == 0
    assert _rerun_steps(before, _written(config)) == {"evaluate"}
    before = _written(config)
    assert main([*argv, "--rerun", "triples", "--rerun", "train"]) == 0
    assert _rerun_steps(before, _written(config)) == {"triples", "train"}
    capsys.readouterr()
    assert main([*argv, "--keep-top-k", "3"]) == 2
    err = capsys.readouterr().err
    assert "keep_top_k" in err and "--overwrite" in err and "--rerun filter" in err


def test_max_docs_is_a_count_all_or_auto() -> None:
    from inpars.cli.options import config_from_args
    from inpars.cli.pipeline import build_parser
    from inpars.pipeline_expand import docs_to_generate

    def parsed(*argv: str) -> PipelineConfig:
        args = build_parser().parse_args(["--collection", "c", "--work-dir", "w", *argv])
        return config_from_args(PipelineConfig, args)

    assert parsed().max_docs == "auto" and not parsed().expand
    assert docs_to_generate(parsed().max_docs, False) == 300
    assert docs_to_generate(parsed("--expand").max_docs, True) is None  # every document
    assert docs_to_generate(parsed("--max-docs", "all").max_docs, False) is None
    assert docs_to_generate(parsed("--max-docs", "50", "--expand").max_docs, True) == 50
    with pytest.raises(SystemExit):
        parsed("--max-docs", "0")
    with pytest.raises(InparsError, match="max_docs"):
        docs_to_generate("some", False)


def test_expansion_settings_that_cannot_work_are_refused_before_any_step(
    tmp_path: Path, capsys
) -> None:
    collection = write_beir_collection(tmp_path / "collection")
    argv = ["--collection", str(collection), "--work-dir", str(tmp_path / "work")]
    assert main([*argv, "--drop-fraction", "0.3"]) == 2
    assert "--drop-fraction goes with --expand" in capsys.readouterr().err
    assert main([*argv, "--expand", "--drop-fraction", "1"]) == 2
    assert "--drop-fraction must be in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "work" / "queries-alldocs.jsonl").exists()


@pytest.mark.slow
def test_pipeline_expand_reports_the_expansion_against_the_zero_shot_bar(
    tmp_path: Path, tiny_cross_encoder: Path
) -> None:
    import io

    from rich.console import Console

    from inpars.cli.pipeline import print_results
    from inpars.corpus import read_corpus
    from inpars.pipeline_expand import EXPAND_BASELINES, FIRST_STAGES

    config = _small_config(
        tmp_path, tiny_cross_encoder, expand=True, max_docs="auto", max_new_tokens=8, max_steps=1
    )
    # One document per topic, the judged one: every document is generated for (max_docs
    # "auto" with expand), as few as the other pipeline tests generate for.
    corpus = Path(config.collection) / "corpus.jsonl"
    corpus.write_text("".join(line for line in corpus.open() if '-0"' in line))
    collection = Path(config.collection)
    results = run_pipeline(config, show_progress=False)
    work = tmp_path / "work"
    # Every document got its query (max_docs "auto" with expand), and kept it in the expansion.
    generated = [json.loads(line) for line in (work / "queries-alldocs.jsonl").open()]
    assert {record["doc_id"] for record in generated} == {f"d{t}-0" for t in range(6)}
    expanded = {doc.id: doc.contents for doc in read_corpus(work / "expanded-alldocs")}
    original = {doc.id: doc.contents for doc in read_corpus(collection)}
    for record in generated:
        if record["query"].strip():
            assert expanded[record["doc_id"]].startswith(original[record["doc_id"]])
            assert " ".join(record["query"].split()) in expanded[record["doc_id"]]
    expansion_rows = {
        "BM25 + expansion", "zero-shot dense", "zero-shot dense + BM25 (RRF)",
        "zero-shot dense + BM25 + expansion (RRF)", f"trained over {results.best_first_stage}",
    }  # fmt: skip
    assert expansion_rows <= set(results.means)
    assert results.best_first_stage in FIRST_STAGES
    best_recall = results.first_stage_recall[results.best_first_stage]
    assert best_recall == max(results.first_stage_recall.values())
    best, trained = results.best_first_stage, f"trained over {results.best_first_stage}"
    for label in expansion_rows - set(EXPAND_BASELINES) - {trained}:
        assert list(results.p_values[label]) == list(EXPAND_BASELINES)
    also = [] if best in EXPAND_BASELINES else [best]  # and against what it reranked
    assert list(results.p_values[trained]) == [*EXPAND_BASELINES, *also]
    assert list(results.p_values["trained"]) == [
        "BM25", "zero-shot bi-encoder", "zero-shot + BM25 (RRF)",
    ]  # fmt: skip
    # The expansion's BM25 run is its own: another index, other rankings than BM25's.
    assert (work / "bm25-index-expanded-alldocs").is_dir()
    assert (work / "bm25-expanded-alldocs-top10.trec").read_text() != (
        work / "bm25-top10.trec"
    ).read_text()
    console = Console(file=io.StringIO(), width=400, color_system=None)
    print_results(results, console)
    printed = console.file.getvalue()
    assert "zero-shot dense + BM25 + expansion (RRF)" in printed
    assert f"trained reranker over {results.best_first_stage}" in printed
    # Done: a second run redoes nothing.
    outputs = sorted(p for p in work.rglob("*") if p.is_file() and "index" not in str(p))
    written = {p: p.stat().st_mtime_ns for p in outputs}
    again = run_pipeline(config, show_progress=False)
    assert again.means == results.means and again.seconds == results.seconds
    assert {p: p.stat().st_mtime_ns for p in outputs} == written
    # The variant's own folder: it trains on every document's queries.
    assert (work / "cross-encoder-expand" / "results.json").is_file()
