"""The pipeline's ``--expand`` variant: document expansion measured against the zero-shot bar.

With ``expand``, :func:`inpars.pipeline.run_pipeline` also

1. expands the collection with the generated queries (:mod:`inpars.expand`: every query of
   every document it generated for, appended to the document's text; ``drop_fraction`` > 0
   drops the least relevant pairs first, Doc2Query--, scored by the zero-shot bi-encoder
   ``baseline_model``);
2. retrieves with the zero-shot bi-encoder over the whole corpus (:mod:`inpars.search`, dense
   retrieval, not reranking) fused by reciprocal rank with BM25 over the corpus, and with BM25
   over the expansion (``inpars.search --hybrid --bm25-corpus``, :mod:`inpars.bm25_corpus`);
3. reranks, with the trained reranker, the top ``depth`` of the best first stage: the one with
   the highest recall at ``depth`` on the judged queries (what bounds a reranker), ties going to
   the higher nDCG@10, then to the later run of :data:`FIRST_STAGES`.

Each of the new runs is compared with :data:`EXPAND_BASELINES` (BM25, the zero-shot dense
retrieval, and their fusion, the best system without synthetic data) by a paired t-test.
Every document's queries are needed for an expansion to change retrieval: ``max_docs``
defaults to every document with ``expand`` (:func:`docs_to_generate`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from inpars.errors import InparsError

DEFAULT_MAX_DOCS = 300
"""Documents the pipeline generates queries for without ``expand`` (training data only)."""

EXPANSION = "BM25 + expansion"
DENSE = "zero-shot dense"
DENSE_RRF = "zero-shot dense + BM25 (RRF)"
EXPANDED_RRF = "zero-shot dense + BM25 + expansion (RRF)"
EXPAND_BASELINES = ("BM25", DENSE, DENSE_RRF)
"""What the expansion runs are compared with: BM25, the zero-shot bi-encoder retrieving on its
own, and the two fused (the best system without synthetic data)."""

FIRST_STAGES = ("BM25", EXPANSION, DENSE, DENSE_RRF, EXPANDED_RRF)
"""The first stages the trained reranker may rerank, in order of preference on ties."""

def docs_to_generate(max_docs: int | str | None, expand: bool) -> int | None:
    """The documents to generate for (None: all): ``auto`` is all with ``expand``, else 300."""
    if max_docs == "auto":
        return None if expand else DEFAULT_MAX_DOCS
    if max_docs in ("all", None):
        return None
    if isinstance(max_docs, int) and not isinstance(max_docs, bool) and max_docs >= 1:
        return max_docs
    raise InparsError(f"max_docs must be a positive count, 'all' or 'auto' (got {max_docs!r})")


def check_expand_settings(config: Any) -> None:
    """Refuses expansion settings that cannot work, before any step runs."""
    from inpars import irds

    if not 0 <= config.drop_fraction < 1:
        raise InparsError(f"--drop-fraction must be in [0, 1) (got {config.drop_fraction})")
    if config.drop_fraction and not config.expand:
        raise InparsError("--drop-fraction goes with --expand")
    if config.expand and irds.is_irds(config.collection):
        raise InparsError(
            f"{config.collection}: --expand needs a BEIR folder (an expansion is written as one)"
        )
    docs_to_generate(config.max_docs, config.expand)


def docs_tag(max_docs: int | None) -> str:
    """What names the generated queries of every document apart (``""`` for a count).

    Counts share the default's files, as before ``all`` existed (a changed count is a
    changed setting of the generate step).
    """
    return "alldocs" if max_docs is None else ""


@dataclass
class ExpansionRuns:
    """The runs of the ``expand`` variant (label -> TREC run), and what was chosen."""

    runs: dict[str, Path]
    best_first_stage: str
    first_stage_recall: dict[str, float]  # first stage -> R@depth on the judged queries
    recall_measure: str
    trained_label: str
    seconds: dict[str, float]


def run_expansion(
    config: Any,
    steps: Any,
    *,
    queries: str,
    bm25_run: Path,
    bm25_index: str,
    trained_model: str,
    qrels: dict[str, dict[str, int]],
    excluded: list[str],
    show_progress: bool,
) -> ExpansionRuns:
    """Expands the collection, retrieves, and reranks the best first stage (module docstring).

    ``config`` is the :class:`inpars.pipeline.PipelineConfig` and ``steps`` its step runner
    (each step skipped when its output holds this very run); ``queries`` the generated
    queries (``queries<tag>.jsonl``: the expansion is ``expanded<tag>``); ``bm25_run`` the
    pipeline's BM25 run (top ``depth``) and ``bm25_index`` its index of the collection.
    """
    from inpars import expand as expand_stage
    from inpars import rerank as rerank_stage
    from inpars.evaluate import evaluate
    from inpars.expand import ExpandConfig
    from inpars.runs import read_run
    from inpars.search import SearchConfig

    collection = str(config.collection)
    seconds: dict[str, float] = {}
    drop = f"-drop{config.drop_fraction:g}" if config.drop_fraction else ""
    name = f"expanded{Path(queries).stem.removeprefix('queries')}{drop}"
    expanded = ExpandConfig(
        corpus=collection, queries=queries, output=str(config.path(name)),
        drop_fraction=config.drop_fraction, scorer=config.baseline_model, device=config.device,
    )  # fmt: skip
    seconds["expand"] = steps.run(
        "expand",
        expand_stage.artifact(expanded, expanded.corpus_reader()),
        lambda overwrite: expand_stage.expand(
            expanded, overwrite=overwrite, show_progress=show_progress
        ),
    )
    depth = config.depth
    runs = {
        "BM25": bm25_run,
        DENSE: config.path(f"dense-top{depth}.trec"),
        DENSE_RRF: config.path(f"dense-bm25-rrf-top{depth}.trec"),
        EXPANSION: config.path(f"bm25-{name}-top{depth}.trec"),
        EXPANDED_RRF: config.path(f"dense-bm25-{name}-rrf-top{depth}.trec"),
    }
    common = {
        "queries": collection, "corpus": collection, "qrels": collection,
        "model": config.baseline_model, "k": depth, "hybrid": True, "device": config.device,
    }  # fmt: skip
    searches = {
        DENSE_RRF: SearchConfig(
            **common, output=str(runs[DENSE_RRF]), dense_output=str(runs[DENSE]),
            bm25_index=bm25_index,
        ),
        EXPANDED_RRF: SearchConfig(
            **common, output=str(runs[EXPANDED_RRF]), bm25_output=str(runs[EXPANSION]),
            bm25_corpus=expanded.output, bm25_index=str(config.path(f"bm25-index-{name}")),
        ),
    }  # fmt: skip
    for label, search in searches.items():
        art = search_artifact(search)
        seconds[f"search: {label}"] = steps.run(
            "search",
            art,
            lambda overwrite, search=search, art=art: _search(
                search, art, overwrite, show_progress
            ),
        )

    measure = f"R@{depth}"
    recall, ndcg = {}, {}
    for label in FIRST_STAGES:
        found = evaluate(read_run(runs[label]), qrels, [measure, "nDCG@10"], excluded)
        recall[label], ndcg[label] = found.mean(measure), found.mean("nDCG@10")
    best = max(
        FIRST_STAGES, key=lambda label: (recall[label], ndcg[label], FIRST_STAGES.index(label))
    )
    trained_label = f"trained over {best}"
    reranked = rerank_stage.RerankConfig(
        queries=collection, corpus=collection, run=str(runs[best]), model=trained_model,
        output=str(config.variant_path(f"trained-over-{Path(runs[best]).stem}.trec")),
        depth=depth, qrels=collection, batch_size=config.rerank_batch_size,
        max_length=config.max_length, device=config.device, dtype=config.rerank_dtype,
        index=bm25_index,
    )  # fmt: skip
    seconds[f"rerank: {trained_label}"] = steps.run(
        "rerank",
        rerank_stage.prepare(reranked)[0],
        lambda overwrite: rerank_stage.rerank(
            reranked, overwrite=overwrite, show_progress=show_progress
        ),
    )
    runs[trained_label] = Path(reranked.output)
    return ExpansionRuns(runs, best, recall, measure, trained_label, seconds)


def search_artifact(search: Any) -> Any:
    """A hybrid search run (:class:`inpars.search.SearchConfig`) as an
    :class:`~inpars.artifacts.Artifact`: the settings that decide it and the fingerprints of
    the queries searched (as read), the corpus, the bi-encoder and the BM25 corpus."""
    from inpars.artifacts import Artifact, CorpusFingerprint, corpus_input, model_input
    from inpars.corpus import read_qrels, read_queries

    judged = set(read_qrels(search.qrels)) if search.qrels else None
    queries = CorpusFingerprint()
    for query in read_queries(search.queries):
        if judged is None or query.id in judged:
            queries.add(query.id, query.text)
    inputs = {
        "queries": {"path": search.queries, "fingerprint": queries.hexdigest()},
        "corpus": corpus_input(search.corpus_reader()),
        "model": model_input(search.model),
    }
    if search.bm25_corpus:
        inputs["bm25 corpus"] = corpus_input(search.corpus_reader(search.bm25_corpus))
    decisive = (
        "k",
        "similarity",
        "hybrid",
        "rrf_k",
        "bm25_depth",
        "max_length",
        "dtype",
        "k1",
        "b",
    )
    settings = {key: getattr(search, key) for key in decisive}
    files = [f for f in (search.bm25_output, search.dense_output) if f]
    return Artifact(search.output, "search", settings, inputs, files=files)


def _search(search: Any, art: Any, overwrite: bool, show_progress: bool) -> None:
    from inpars.search import search_run

    art.open(overwrite)
    summary = search_run(search, show_progress=show_progress)
    art.complete(summary=asdict(summary))


def expansion_p_values(evaluations: dict[str, Any], expansion: ExpansionRuns) -> dict[str, Any]:
    """Each run of ``expansion`` against each of :data:`EXPAND_BASELINES` (the trained
    reranker also against the first stage it reranked): baseline -> measure -> p-value."""
    from inpars.evaluate import compare

    p_values = {}
    for label in expansion.runs:
        if label in EXPAND_BASELINES:
            continue
        baselines = list(EXPAND_BASELINES)
        if label == expansion.trained_label and expansion.best_first_stage not in baselines:
            baselines.append(expansion.best_first_stage)
        p_values[label] = {
            baseline: {
                c.measure: c.p_value for c in compare(evaluations[baseline], evaluations[label])
            }
            for baseline in baselines
        }
    return p_values
