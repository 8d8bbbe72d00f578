"""The pipeline's results: the evaluation of its runs (:func:`evaluate_pipeline`); the table
``python -m inpars.pipeline`` prints is :func:`inpars.cli.pipeline.print_results`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inpars import irds
from inpars.evaluate import DEFAULT_MEASURES, Evaluation, compare, evaluate
from inpars.pipeline_expand import ExpansionRuns, expansion_p_values

TRAINED_BASELINES = ("BM25", "zero-shot bi-encoder", "zero-shot + BM25 (RRF)")
"""The runs each trained run is compared with (:data:`inpars.pipeline.BASELINES`)."""


@dataclass
class PipelineResults:
    """Means per run, p-values of the trained reranker against each baseline, step times."""

    collection: str
    queries: int
    means: dict[str, dict[str, float]]  # run label -> measure -> mean
    # run -> baseline -> measure -> p-value of the run against the baseline (paired t-test)
    p_values: dict[str, dict[str, dict[str, float]]]
    seconds: dict[str, float]  # step -> seconds (as first run)
    settings: dict[str, Any]
    excluded_queries: list[str] = field(default_factory=list)  # the few-shot examples' ids
    # expand: the first stage the trained reranker reranked, and each one's recall at depth
    best_first_stage: str | None = None
    first_stage_recall: dict[str, float] = field(default_factory=dict)


def evaluate_pipeline(
    config: Any,
    collection: Path,
    qrels: dict[str, dict[str, int]],
    runs: dict[str, Path],
    excluded: list[str],
    seconds: dict[str, float],
    expansion: ExpansionRuns | None = None,
) -> PipelineResults:
    """The evaluation of the pipeline's three ``runs`` (BM25, zero-shot, trained) and their
    fusions with BM25, each trained run against :data:`TRAINED_BASELINES`; and of
    ``expansion``'s runs, each against its own baselines."""
    from inpars.runs import read_run, reciprocal_rank_fusion

    bm25, zero_shot, trained_run = (read_run(path) for path in runs.values())
    # Fusion with the first stage, the cheap hybrid; the zero-shot model gets it too, so that
    # what the synthetic data adds is measured against a baseline as strong.
    loaded = {
        "BM25": bm25,
        "zero-shot bi-encoder": zero_shot,
        "zero-shot + BM25 (RRF)": reciprocal_rank_fusion([zero_shot, bm25]),
        "trained": trained_run,
        "trained + BM25 (RRF)": reciprocal_rank_fusion([trained_run, bm25]),
    }
    extra = {k: v for k, v in (expansion.runs if expansion else {}).items() if k not in loaded}
    loaded.update({label: read_run(path) for label, path in extra.items()})
    evaluations: dict[str, Evaluation] = {
        label: evaluate(run, qrels, DEFAULT_MEASURES, excluded) for label, run in loaded.items()
    }
    p_values = {
        label: {
            baseline: {c.measure: c.p_value for c in compare(evaluations[baseline], result)}
            for baseline in TRAINED_BASELINES
        }
        for label, result in evaluations.items()
        if label not in TRAINED_BASELINES and label not in extra
    }
    if expansion is not None:
        p_values.update(expansion_p_values(evaluations, expansion))
    return PipelineResults(
        collection=irds.dataset_id(collection) if irds.is_irds(collection) else collection.name,
        queries=len(evaluations["BM25"].query_ids),
        means={label: result.means() for label, result in evaluations.items()},
        p_values=p_values,
        seconds=dict(seconds),
        settings=asdict(config),
        excluded_queries=excluded,
        best_first_stage=expansion.best_first_stage if expansion else None,
        first_stage_recall=expansion.first_stage_recall if expansion else {},
    )
