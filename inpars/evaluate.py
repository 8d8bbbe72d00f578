"""Stage 5b, evaluate: score TREC runs against relevance judgments, and compare runs.

Library use::

    from inpars.corpus import read_qrels
    from inpars.evaluate import compare, evaluate
    from inpars.runs import read_run

    qrels = read_qrels("data/cranfield")
    bm25 = evaluate(read_run("bm25.trec"), qrels)
    reranked = evaluate(read_run("reranked.trec"), qrels)
    for row in compare(bm25, reranked):
        print(row.measure, row.baseline_mean, row.mean, row.p_value)

Command line: ``python -m inpars.evaluate --help`` (:mod:`inpars.cli.evaluate`).

The measures are computed by ir_measures (with pytrec_eval, i.e. trec_eval's code), never
here. Which queries count: every query of the qrels with at least one relevant judgment,
minus ``exclude`` (the few-shot example queries of generation, for instance). A counted query
the run lacks scores 0 on every measure, so a run cannot look better by dropping hard
queries (trec_eval's ``-c`` convention). Runs are compared with a two-sided paired t-test
over those queries (scipy).

What the command writes (``--json``, ``--per-query``, ``--plot``) is an
:class:`inpars.artifacts.Artifact`: the manifest beside the first of them records the measures
and the fingerprints of the qrels, each run and the excluded queries' file, so results of
other runs are never silently replaced (``--overwrite`` replaces them).
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpars.artifacts import Artifact, file_input
from inpars.errors import InparsError, InputError
from inpars.io import atomic_write_json, atomic_write_text, open_lines
from inpars.published import read_generated_queries

DEFAULT_MEASURES = ("nDCG@10", "RR@10", "R@100", "R@1000", "AP")
"""nDCG@10, MRR@10, Recall@100, Recall@1000 and MAP, in ir_measures' names."""


@dataclass
class Evaluation:
    """Per-query values of each measure for one run."""

    measures: list[str]
    query_ids: list[str]  # the queries counted, sorted
    per_query: dict[str, dict[str, float]]  # measure -> query id -> value
    missing: int  # counted queries absent from the run (scored 0)

    def mean(self, measure: str) -> float:
        values = self.per_query[measure]
        return sum(values.values()) / len(values) if values else 0.0

    def means(self) -> dict[str, float]:
        return {measure: self.mean(measure) for measure in self.measures}


@dataclass(frozen=True)
class Comparison:
    """One measure of a run against a baseline run, over the same queries."""

    measure: str
    baseline_mean: float
    mean: float
    p_value: float  # two-sided paired t-test; 1.0 when the runs do not differ at all

    @property
    def delta(self) -> float:
        return self.mean - self.baseline_mean


def parse_measures(names: Iterable[str]) -> list[Any]:
    """ir_measures measure objects for names such as ``nDCG@10`` or ``R@100``."""
    import ir_measures

    parsed = []
    for name in names:
        try:
            parsed.append(ir_measures.parse_measure(name))
        except (ValueError, NameError, SyntaxError, TypeError) as exc:
            raise InparsError(
                f"unknown measure {name!r} ({exc}); use ir_measures names such as nDCG@10, "
                "RR@10, R@100, AP, P@5"
            ) from None
    return parsed


def evaluate(
    run: dict[str, dict[str, float]],
    qrels: dict[str, dict[str, int]],
    measures: Sequence[str] = DEFAULT_MEASURES,
    exclude: Iterable[str] = (),
) -> Evaluation:
    """Each measure for each counted query (see the module docstring for which count)."""
    import ir_measures

    excluded = set(exclude)
    counted = sorted(
        query_id
        for query_id, judged in qrels.items()
        if query_id not in excluded and any(rel > 0 for rel in judged.values())
    )
    if not counted:
        raise InparsError("no query left to evaluate: the qrels have no relevant judgment")
    parsed = parse_measures(measures)
    names = [str(measure) for measure in parsed]
    per_query: dict[str, dict[str, float]] = {name: dict.fromkeys(counted, 0.0) for name in names}
    counted_set = set(counted)
    subset_qrels = {q: qrels[q] for q in counted}
    subset_run = {q: docs for q, docs in run.items() if q in counted_set and docs}
    for metric in ir_measures.iter_calc(parsed, subset_qrels, subset_run):
        per_query[str(metric.measure)][metric.query_id] = float(metric.value)
    missing = sum(1 for q in counted if q not in subset_run)
    return Evaluation(measures=names, query_ids=counted, per_query=per_query, missing=missing)


def paired_t_test(baseline: Sequence[float], other: Sequence[float]) -> float:
    """The two-sided p-value of a paired t-test; 1.0 when every difference is zero."""
    from scipy.stats import ttest_rel

    if len(baseline) < 2 or all(a == b for a, b in zip(baseline, other, strict=True)):
        return 1.0
    with warnings.catch_warnings():
        # Nearly identical runs make scipy warn about precision; the p-value is still ~1.
        warnings.simplefilter("ignore", RuntimeWarning)
        p_value = float(ttest_rel(other, baseline).pvalue)
    return 1.0 if math.isnan(p_value) else p_value


def compare(baseline: Evaluation, other: Evaluation) -> list[Comparison]:
    """Each measure of ``other`` against ``baseline``, with a paired t-test per measure."""
    if baseline.query_ids != other.query_ids or baseline.measures != other.measures:
        raise InparsError("runs can only be compared on the same queries and measures")
    rows = []
    for measure in baseline.measures:
        a = [baseline.per_query[measure][q] for q in baseline.query_ids]
        b = [other.per_query[measure][q] for q in other.query_ids]
        rows.append(
            Comparison(
                measure=measure,
                baseline_mean=baseline.mean(measure),
                mean=other.mean(measure),
                p_value=paired_t_test(a, b),
            )
        )
    return rows


def read_excluded_ids(path: str | Path) -> set[str]:
    """Query ids to leave out of evaluation, from a file of either kind:

    - JSON Lines of generated queries, in any schema the other stages read
      (:func:`inpars.published.read_generated_queries`: ``inpars.generate`` output, or the
      InPars-v2 toolkit's with ``fewshot_examples``): the union of their ``fewshot_ids``,
      the ids of the prompt's example queries;
    - plain text: one query id per line (blank lines and ``#`` comments ignored).
    """
    path = Path(path)
    name = path.name.removesuffix(".gz")
    ids: set[str] = set()
    if name.endswith((".jsonl", ".json")):
        for line, record in read_generated_queries(path):
            found = record.get("fewshot_ids")
            if not isinstance(found, list):
                raise InputError("missing or not a list", path, line, "fewshot_ids")
            ids.update(str(value) for value in found)
        return ids
    for _, raw in open_lines(path):
        text = raw.split("#", 1)[0].strip()
        if text:
            ids.add(text)
    return ids


def write_per_query(path: str | Path, evaluations: dict[str, Evaluation]) -> None:
    """A TSV ``run<TAB>measure<TAB>query_id<TAB>value`` of every run's per-query values."""
    lines = ["run\tmeasure\tquery_id\tvalue\n"]
    for label, result in evaluations.items():
        for measure in result.measures:
            for query_id in result.query_ids:
                lines.append(
                    f"{label}\t{measure}\t{query_id}\t{result.per_query[measure][query_id]:.6f}\n"
                )
    atomic_write_text(path, "".join(lines))


@dataclass
class EvaluateConfig:
    """What :func:`evaluate_runs` needs; the CLI flags map one to one."""

    qrels: str
    runs: list[str]
    measures: list[str]
    exclude_queries: str | None = None
    per_query: str | None = None
    json: str | None = None
    plot: str | None = None  # a PNG of per-query differences against the first run
    plot_measure: str | None = None  # default: the first measure

    @property
    def outputs(self) -> list[str]:
        """The files the evaluation writes (the manifest lies beside the first)."""
        return [path for path in (self.json, self.per_query, self.plot) if path]


@dataclass
class RunReport:
    """One run's means and, for every run after the first, its comparison with the first."""

    label: str
    evaluation: Evaluation
    comparisons: list[Comparison] | None  # None for the baseline


def qrels_input(source: str | Path, qrels: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Relevance judgments as an input: a fingerprint of the judgments as read (the same
    qrels as BEIR or TREC file, or from ir_datasets, are the same input)."""
    import hashlib

    from inpars.io import dumps_json

    ordered = {q: dict(sorted(docs.items())) for q, docs in sorted(qrels.items())}
    digest = hashlib.sha256(dumps_json(ordered).encode("utf-8")).hexdigest()
    return {"path": str(source), "fingerprint": digest, "queries": len(qrels)}


def artifact(config: EvaluateConfig, qrels: dict[str, dict[str, int]]) -> Artifact:
    """What the evaluation writes as an :class:`~inpars.artifacts.Artifact` (needs at least
    one output): the measures and the runs' labels, and the fingerprints of the qrels, the
    runs and the excluded queries' file."""
    inputs: dict[str, Any] = {"qrels": qrels_input(config.qrels, qrels)}
    labels = _labels(config.runs)
    for label, path in zip(labels, config.runs, strict=True):
        inputs[f"run {label}"] = file_input(path)
    if config.exclude_queries:
        inputs["exclude_queries"] = file_input(config.exclude_queries)
    settings = {"measures": list(config.measures), "runs": labels,
                "plot_measure": config.plot_measure}  # fmt: skip
    first, *others = config.outputs
    return Artifact(first, "evaluate", settings, inputs, files=others)


def evaluate_runs(config: EvaluateConfig, *, overwrite: bool = False) -> list[RunReport]:
    """Evaluates every run of ``config`` and compares each with the first one.

    Raises:
        InputError: for bad qrels, runs or excluded queries' file.
        InparsError: for bad settings, or outputs written by another evaluation (other
            measures or inputs), unless ``overwrite``.
    """
    from inpars.corpus import read_qrels
    from inpars.runs import read_run

    if not config.runs:
        raise InparsError("give at least one --run")
    if config.plot and len(config.runs) < 2:
        raise InparsError("--plot draws runs against the first: give at least two --run")
    qrels = read_qrels(config.qrels)
    exclude = read_excluded_ids(config.exclude_queries) if config.exclude_queries else set()
    labels = _labels(config.runs)
    reports: list[RunReport] = []
    for label, path in zip(labels, config.runs, strict=True):
        result = evaluate(read_run(path), qrels, config.measures, exclude)
        comparisons = compare(reports[0].evaluation, result) if reports else None
        reports.append(RunReport(label=label, evaluation=result, comparisons=comparisons))
    plot_measure = _plot_measure(reports[0].evaluation, config.plot_measure)
    art = artifact(config, qrels) if config.outputs else None
    if art is not None:
        art.open(overwrite)
    if config.per_query:
        write_per_query(config.per_query, {r.label: r.evaluation for r in reports})
    if config.json:
        atomic_write_json(config.json, reports_to_json(reports, config))
    if config.plot:
        plot_differences(config.plot, reports, plot_measure)
    if art is not None:
        art.complete(queries=len(reports[0].evaluation.query_ids))
    return reports


def plot_differences(path: str | Path, reports: Sequence[RunReport], measure: str | None) -> Path:
    """Draws, per run after the first, its per-query difference from the first run on
    ``measure`` (default: the first measure), sorted, as a PNG (see :mod:`inpars.plots`)."""
    from inpars.plots import per_query_differences

    baseline = reports[0].evaluation
    measure = _plot_measure(baseline, measure)
    differences = {
        report.label: [
            report.evaluation.per_query[measure][q] - baseline.per_query[measure][q]
            for q in baseline.query_ids
        ]
        for report in reports[1:]
    }
    return per_query_differences(path, differences, measure, reports[0].label)


def _plot_measure(baseline: Evaluation, measure: str | None) -> str:
    """The measure ``--plot-measure`` names (default: the first measure), checked."""
    measure = str(parse_measures([measure])[0]) if measure else baseline.measures[0]
    if measure not in baseline.measures:
        raise InparsError(
            f"--plot-measure {measure!r} is not among the measures: {', '.join(baseline.measures)}"
        )
    return measure


def _labels(paths: Sequence[str]) -> list[str]:
    """Short unique labels for runs: file names, or whole paths when names repeat."""
    names = [Path(p).name for p in paths]
    return names if len(set(names)) == len(names) else list(paths)


def reports_to_json(reports: Sequence[RunReport], config: EvaluateConfig) -> dict[str, Any]:
    first = reports[0].evaluation
    return {
        "qrels": config.qrels,
        "queries": len(first.query_ids),
        "excluded_from": config.exclude_queries,
        "runs": [
            {
                "label": report.label,
                "path": path,
                "missing_queries": report.evaluation.missing,
                "means": report.evaluation.means(),
                "p_values_vs_first": (
                    {c.measure: c.p_value for c in report.comparisons}
                    if report.comparisons is not None
                    else None
                ),
            }
            for report, path in zip(reports, config.runs, strict=True)
        ],
    }


if __name__ == "__main__":
    from inpars.cli.evaluate import main

    sys.exit(main())
