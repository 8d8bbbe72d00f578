"""The whole InPars pipeline on a BEIR folder: generate, filter, triples, train, rerank, evaluate.

Library use::

    from inpars.pipeline import PipelineConfig, run_pipeline

    results = run_pipeline(PipelineConfig(collection="data/cranfield", work_dir="runs/cranfield"))

Command line: ``python -m inpars.pipeline --help`` (:mod:`inpars.cli.pipeline`;
``scripts/pipeline.sh`` runs it on the shared collections).

Every step writes into ``work_dir`` through :mod:`inpars.artifacts`, and the pipeline keeps
no state of its own: a step is skipped exactly when its output's manifest is complete and
records the same settings and the same fingerprints of its inputs. Since an input's
fingerprint is its content, a change anywhere re-runs the steps downstream of it (those whose
inputs then differ) and nothing else. A step whose output holds another run is refused,
naming every difference, unless ``overwrite`` (redo every step that differs) or ``rerun``
names it (redo it although it is done); the long steps (generate, triples, train, rerank)
resume from where a crash left them. The step times reported are the manifests'.

Three runs are evaluated on the collection's judged queries: BM25 (the first stage), the
zero-shot bi-encoder reranking the same BM25 top ``depth`` (no synthetic data: the bar
synthetic data has to clear), and the trained reranker; the trained one is compared with
each baseline by a paired t-test. With ``expand``, document expansion is measured too
(:mod:`inpars.pipeline_expand`).
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from inpars import irds
from inpars.artifacts import Artifact, differences, file_input, read_producer
from inpars.consistency import DEFAULT_DEPTH as DEFAULT_CONSISTENCY_DEPTH
from inpars.errors import InparsError
from inpars.evaluate import DEFAULT_MEASURES, qrels_input
from inpars.io import atomic_write_json, atomic_write_text, dumps_json
from inpars.pipeline_expand import check_expand_settings, docs_tag, docs_to_generate, run_expansion
from inpars.pipeline_report import TRAINED_BASELINES, PipelineResults, evaluate_pipeline

STEPS = ("generate", "filter", "triples", "train", "rerank", "expand", "search", "evaluate")
"""The steps, in order, as ``rerun`` (``--rerun``) names them."""
BASELINES = TRAINED_BASELINES
RESULTS_FILE = "results.json"


@dataclass
class PipelineConfig:
    """Every setting of every step; the CLI flags map one to one."""

    collection: str  # BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv
    work_dir: str
    # generate
    generator: str = "smollm2-135m"
    template: str = "inpars"
    max_docs: int | str | None = "auto"  # a count, "all"; "auto": 300, all with expand
    queries_per_doc: int = 2
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 32
    max_doc_tokens: int = 200
    generate_batch_size: int = 16
    generate_dtype: str = "auto"  # the generator's; bfloat16 is about 2x faster on CPUs
    few_shot: int = 0  # judged queries drawn as the prompt's examples; 0: the template's own
    # filter
    keep_top_k: int = 10_000
    max_per_doc: int | None = None
    max_query_words: int = 40
    consistency_model: str | None = None  # None: no round-trip filter
    consistency_depth: int = DEFAULT_CONSISTENCY_DEPTH
    # triples
    negatives_depth: int = 100
    negatives_per_query: int = 1
    # train
    kind: str = "cross-encoder"
    reranker_model: str | None = None  # default: the kind's
    epochs: float = 1.0
    max_steps: int | None = None
    train_batch_size: int = 16
    micro_batch_size: int = 16
    learning_rate: float | None = None
    max_length: int = 256
    # rerank and evaluate
    name: str | None = None  # the variant's folder in work_dir (default: the kind)
    depth: int = 100
    baseline_model: str = "all-minilm-l6-v2"
    rerank_batch_size: int = 32
    rerank_dtype: str = "auto"  # for the trained reranker; the zero-shot baseline: auto
    seed: int = 1
    device: str = "auto"
    # document expansion (inpars.pipeline_expand)
    expand: bool = False
    drop_fraction: float = 0.0  # Doc2Query--: the share of (query, document) pairs dropped

    def path(self, name: str) -> Path:
        """A file shared by every variant of this collection's work folder."""
        return Path(self.work_dir) / name

    def variant_path(self, name: str) -> Path:
        """A file of this variant (its trained model, run and results); the default variant
        folder is the kind's, ``<kind>-expand`` with ``expand`` (it trains on other queries)."""
        variant = self.name or (f"{self.kind}-expand" if self.expand else self.kind)
        return Path(self.work_dir) / variant / name


class _Steps:
    """The one rule of :mod:`inpars.artifacts` applied to the steps of a pipeline run."""

    def __init__(self, overwrite: bool, rerun: Collection[str]) -> None:
        unknown = set(rerun) - set(STEPS)
        if unknown:
            raise InparsError(
                f"--rerun {', '.join(sorted(unknown))}: not a step; the steps: {', '.join(STEPS)}"
            )
        self.overwrite = overwrite
        self.rerun = set(rerun)

    def run(self, step: str, art: Artifact, action: Callable[[bool], Any]) -> float:
        """Runs ``action(overwrite)`` unless ``art`` holds this very run, complete; returns
        the step's seconds as its manifest records them.

        Raises:
            InparsError: when the output holds another run (every difference named) and
                neither ``overwrite`` nor ``rerun`` covers the step.
        """
        forced = step in self.rerun
        if forced or not art.is_complete():
            manifest = read_producer(art.output)
            found = differences(manifest, art.stage, art.settings, art.inputs) if manifest else []
            if found and not (forced or self.overwrite):
                lines = "".join(f"\n  - {line}" for line in found)
                raise InparsError(
                    f"step {step}: {art.output} holds another run:{lines}\npass --overwrite to "
                    f"redo every step whose output differs, or --rerun {step}"
                )
            # A partial output of this very run resumes; only another run's is replaced.
            action(forced or bool(found))
        # The run's time over all its attempts, as the manifest records it.
        return float((read_producer(art.output) or {}).get("seconds", 0.0))


def run_pipeline(
    config: PipelineConfig,
    *,
    show_progress: bool = True,
    overwrite: bool = False,
    rerun: Collection[str] = (),
) -> PipelineResults:
    """Runs (or resumes) every step that is not done and returns the evaluation of the runs.

    ``overwrite``: redo the steps whose outputs hold another run (other settings or inputs)
    instead of refusing; ``rerun``: steps (:data:`STEPS`) to redo although done.

    Raises:
        InparsError: for bad settings or input, or a step's output holding another run.
    """
    from inpars import filter as filter_stage
    from inpars import generate as generate_stage
    from inpars import rerank as rerank_stage
    from inpars import train as train_stage
    from inpars.corpus import read_qrels
    from inpars.filter import FilterConfig, filter_queries
    from inpars.generate import GenerateConfig, generate
    from inpars.models import resolve_model
    from inpars.rerank import RerankConfig, rerank
    from inpars.train import TrainConfig, train
    from inpars.triples import TriplesConfig, make_triples

    collection = Path(config.collection)
    if not irds.is_irds(collection) and not (collection / "qrels").is_dir():
        raise InparsError(f"{collection}: not a BEIR folder with qrels/ (needed to evaluate)")
    check_expand_settings(config)
    Path(config.work_dir).mkdir(parents=True, exist_ok=True)
    steps = _Steps(overwrite, rerun)
    index = str(config.path("bm25-index"))
    seconds: dict[str, float] = {}

    # Settings that change which queries there are name their own files, so variants with
    # and without them share one work folder (and BM25 and zero-shot runs).
    data = data_tag(config)
    examples: list[dict[str, str]] = []
    if config.few_shot:
        examples = few_shot_examples(collection, config.few_shot, config.seed)
        examples_file = config.path(f"examples{data}.jsonl")
        atomic_write_text(examples_file, "".join(dumps_json(e) + "\n" for e in examples))
    gen = GenerateConfig(
        corpus=str(collection), output=str(config.path(f"queries{data}.jsonl")),
        examples=str(examples_file) if examples else None,
        num_examples=config.few_shot or None,
        template=config.template, max_docs=docs_to_generate(config.max_docs, config.expand),
        num_queries_per_doc=config.queries_per_doc, temperature=config.temperature,
        top_p=config.top_p, max_new_tokens=config.max_new_tokens,
        max_doc_tokens=config.max_doc_tokens, batch_size=config.generate_batch_size,
        seed=config.seed,
    )  # fmt: skip
    engine_options = {"dtype": config.generate_dtype}
    # The model as the hf engine names it, known without loading it.
    generator = resolve_model(config.generator).name

    def generate_step(overwrite: bool) -> None:
        from inpars.engines.hf import HFEngine

        engine = HFEngine(config.generator, device=config.device, dtype=config.generate_dtype)
        try:
            generate(engine, gen, overwrite=overwrite, show_progress=show_progress,
                     engine_options=engine_options)  # fmt: skip
        finally:
            engine.close()

    seconds["generate"] = steps.run(
        "generate", generate_stage.artifact(gen, "hf", generator, engine_options), generate_step
    )

    if config.consistency_model is not None:
        data += f"-roundtrip{config.consistency_depth}"
    filtered = FilterConfig(
        input=gen.output, output=str(config.path(f"filtered{data}.jsonl")),
        corpus=str(collection), keep_top_k=config.keep_top_k, max_per_doc=config.max_per_doc,
        max_words=config.max_query_words or None,
        consistency_model=config.consistency_model, consistency_depth=config.consistency_depth,
        device=config.device,
    )  # fmt: skip
    seconds["filter"] = steps.run(
        "filter",
        filter_stage.artifact(filtered),
        lambda overwrite: filter_queries(
            replace(filtered, overwrite=overwrite), show_progress=show_progress
        ),
    )
    if Path(filtered.output).stat().st_size == 0:
        raise InparsError(
            f"{filtered.output}: the filter kept none of the generated queries; "
            f"{Path(filtered.output).name}.manifest.json counts what each rule dropped"
        )

    negatives = f"depth{config.negatives_depth}-neg{config.negatives_per_query}"
    triples = TriplesConfig(
        queries=filtered.output, corpus=str(collection),
        output=str(config.path(f"triples{data}-{negatives}.tsv")), index=index,
        depth=config.negatives_depth, negatives_per_query=config.negatives_per_query,
        seed=config.seed,
    )  # fmt: skip
    seconds["triples"] = steps.run(
        "triples",
        triples.artifact(triples.bm25_index()),
        lambda overwrite: make_triples(
            replace(triples, overwrite=overwrite), show_progress=show_progress
        ),
    )

    trained = TrainConfig(
        triples=triples.output, output=str(config.variant_path("reranker")), kind=config.kind,
        model=config.reranker_model, epochs=config.epochs, max_steps=config.max_steps,
        batch_size=config.train_batch_size, micro_batch_size=config.micro_batch_size,
        learning_rate=config.learning_rate, max_length=config.max_length,
        save_steps=50, seed=config.seed, device=config.device,
    )  # fmt: skip
    seconds["train"] = steps.run(
        "train",
        train_stage.artifact(trained),
        lambda overwrite: train(trained, overwrite=overwrite, show_progress=show_progress),
    )

    runs = {
        "BM25": config.path(f"bm25-top{config.depth}.trec"),
        "zero-shot bi-encoder": config.path(f"zero-shot-top{config.depth}.trec"),
        "trained": config.variant_path(f"trained-top{config.depth}.trec"),
    }
    for label, model, output, first_stage in (
        ("zero-shot bi-encoder", config.baseline_model, runs["zero-shot bi-encoder"], runs["BM25"]),
        ("trained", trained.output, runs["trained"], None),
    ):
        step = RerankConfig(
            queries=str(collection), corpus=str(collection), output=str(output), model=model,
            depth=config.depth, qrels=str(collection), batch_size=config.rerank_batch_size,
            max_length=config.max_length, device=config.device, index=index,
            first_stage_output=str(first_stage) if first_stage else None,
            dtype=config.rerank_dtype if label == "trained" else "auto",
        )  # fmt: skip
        seconds[f"rerank: {label}"] = steps.run(
            "rerank",
            rerank_stage.prepare(step)[0],
            lambda overwrite, step=step: rerank(
                step, overwrite=overwrite, show_progress=show_progress
            ),
        )

    qrels = read_qrels(collection)
    # The few-shot examples' queries were shown to the generator: not counted.
    excluded = sorted(example["id"] for example in examples)
    expansion = None
    if config.expand:
        expansion = run_expansion(
            config, steps, queries=gen.output, bm25_run=runs["BM25"], bm25_index=index,
            trained_model=trained.output, qrels=qrels, excluded=excluded,
            show_progress=show_progress,
        )  # fmt: skip
        seconds.update(expansion.seconds)
    results_file = config.variant_path(RESULTS_FILE)
    evaluated = {**runs, **(expansion.runs if expansion else {})}
    evaluation = Artifact(
        results_file, "evaluate", {"measures": DEFAULT_MEASURES, "excluded_queries": excluded},
        {"qrels": qrels_input(collection, qrels),
         **{f"run {label}": file_input(path) for label, path in evaluated.items()}},
    )  # fmt: skip

    def evaluate_step(overwrite: bool) -> None:
        evaluation.open(overwrite)
        results = evaluate_pipeline(config, collection, qrels, runs, excluded, seconds, expansion)
        atomic_write_json(results_file, asdict(results))
        evaluation.complete()

    seconds["evaluate"] = steps.run("evaluate", evaluation, evaluate_step)
    saved = json.loads(results_file.read_text(encoding="utf-8"))
    return PipelineResults(**{**saved, "seconds": seconds})


def data_tag(config: PipelineConfig) -> str:
    """What names the generated queries' files apart from the defaults' (``""`` for those)."""
    defaults = PipelineConfig(collection="", work_dir="")
    parts = []
    if config.generator != defaults.generator:
        parts.append(_slug(Path(config.generator).stem))
    if config.template != defaults.template:
        parts.append(_slug(Path(config.template).stem))
    if config.few_shot:
        parts.append(f"fewshot{config.few_shot}")
    if config.generate_dtype != defaults.generate_dtype:
        parts.append(config.generate_dtype)
    parts.append(docs_tag(docs_to_generate(config.max_docs, config.expand)))
    return "".join(f"-{part}" for part in parts if part)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_." else "-" for c in text).strip("-.") or "x"


def few_shot_examples(collection: Path, k: int, seed: int) -> list[dict[str, str]]:
    """``k`` judged queries of a BEIR folder (seeded draw), each with a relevant document.

    Promptagator's few-shot setting: the prompt shows the collection's own kind of query.
    Each example's document is the query's shortest relevant one, to keep prompts short.
    Records: ``id`` (the query id), ``query``, ``doc_id``, ``document``.
    """
    from inpars.corpus import read_corpus, read_qrels, read_queries

    qrels = read_qrels(collection)
    judged = sorted(qid for qid, docs in qrels.items() if any(rel > 0 for rel in docs.values()))
    if k > len(judged):
        raise InparsError(f"--few-shot {k}: {collection} has only {len(judged)} judged queries")
    chosen = random.Random(seed).sample(judged, k)
    texts = {q.id: q.text for q in read_queries(collection) if q.id in set(chosen)}
    relevant = {doc for qid in chosen for doc, rel in qrels[qid].items() if rel > 0}
    documents = {doc.id: doc.contents for doc in read_corpus(collection) if doc.id in relevant}
    examples = []
    for qid in chosen:
        if qid not in texts:
            raise InparsError(f"{collection}: judged query {qid!r} is not in its queries file")
        found = [d for d, rel in qrels[qid].items() if rel > 0 and d in documents]
        if not found:
            raise InparsError(f"{collection}: no relevant document of query {qid!r} in the corpus")
        doc_id = min(found, key=lambda d: (len(documents[d].split()), d))
        examples.append(
            {"id": qid, "query": texts[qid], "doc_id": doc_id, "document": documents[doc_id]}
        )
    return examples


if __name__ == "__main__":
    from inpars.cli.pipeline import main

    sys.exit(main())
