"""Stage 1, generate: few-shot prompts drive an LLM to write queries for each document.

Library use::

    from inpars.engines.hf import HFEngine
    from inpars.generate import GenerateConfig, generate

    summary = generate(HFEngine(), GenerateConfig(corpus="sample", output="queries.jsonl"))

Command line: ``python -m inpars.generate --help`` (:mod:`inpars.cli.generate`).

The output is JSON Lines, one :class:`~inpars.records.GeneratedQuery` per line, written and
committed batch by batch (:class:`inpars.artifacts.Artifact`). Beside it,
``<output>.manifest.json`` records the settings, the engine's options that decide the
output, and the fingerprints of the model and the corpus. Running the same command again
resumes: documents whose queries are committed are skipped, and a batch cut short by a
crash is dropped and generated again. Another model, engine option, setting or corpus is
refused rather than mixed into the same file.

Each query is sampled with its own seed, :func:`~inpars.engines.base.query_seed` of
``--seed``, its document's id and its index (and its passage's index with
``--passage-tokens``: :mod:`inpars.passages`), so a resumed run, or one with another
``--batch-size``, writes the same queries as an uninterrupted one (with the hf engine byte
for byte, on the same machine, dtype and threads). Lines are written as batches finish; when
the run completes, the output is rewritten in its canonical order: the documents in corpus
order (the order of the selection, for ``--max-docs`` and ``--doc-ids``), each document's
queries by query index. The same settings thus give the same bytes whatever the batch size,
the resumes, or the shards merged (``--shard I/N``, :mod:`inpars.shards`).
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inpars.artifacts import Artifact, corpus_input, file_input, jsonl_text, model_input
from inpars.corpus import CorpusFields, read_doc_ids, select_documents
from inpars.engines.base import Engine, Request, SamplingParams
from inpars.errors import InparsError
from inpars.io import read_jsonl
from inpars.merge import order_generated
from inpars.passages import DocumentPrompts, PassageSettings
from inpars.progress import stderr_console
from inpars.prompts import (
    PromptBuilder,
    PromptTemplate,
    draw_examples,
    load_examples,
    load_template,
)
from inpars.records import Document, GeneratedQuery, to_dict
from inpars.shards import parse_shard


@dataclass
class GenerateConfig(CorpusFields):
    """Everything that decides what a generation run writes; the CLI flags map one to one
    (``--prompt`` is ``template``). The corpus is read with the settings of
    :class:`~inpars.corpus.CorpusFields` (``corpus_format``, ``id_field``, ...)."""

    corpus: str
    output: str
    template: str = "inpars"
    examples: str | None = None  # (query, document) pairs file for dynamic few-shot
    num_examples: int | None = None  # default: the template's own
    max_docs: int | None = None
    doc_ids: str | None = None
    num_queries_per_doc: int = 1
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    max_doc_tokens: int = 256
    batch_size: int = 8
    save_prompts: bool = False
    inpars_compat: bool = False  # also write the InPars toolkit's prompt_text/fewshot_examples/text
    shard: str | None = None  # "I/N": only the documents of shard I of N (inpars.shards)
    # Per-passage generation (inpars.passages): windows of this many tokens, every stride
    # tokens (None: the window size, once the run starts), at most max_passages per document.
    passage_tokens: int | None = None
    passage_stride: int | None = None
    max_passages: int | None = None

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
        )

    def passages(self) -> PassageSettings | None:
        """The checked per-passage settings; None without ``passage_tokens``."""
        return PassageSettings.of(self.passage_tokens, self.passage_stride, self.max_passages)


# Settings that change neither which documents are done nor what is written for them, and
# files (compared by content, as inputs).
_NOT_SETTINGS = {"batch_size", "save_prompts", "output", "corpus", "examples", "doc_ids"}
# Engine options that change only speed or access, never the queries.
_SPEED_OPTIONS = {
    "device", "threads", "prefix_cache", "api_key_env", "concurrency", "request_timeout",
    "max_retries", "max_retry_wait", "tensor_parallel_size", "gpu_memory_utilization",
}  # fmt: skip


@dataclass
class GenerateSummary:
    """What a run did (this invocation only; ``skipped_done`` counts resumed documents)."""

    documents: int = 0
    queries: int = 0
    skipped_done: int = 0
    truncated: int = 0
    passages: int = 0  # prompts of --passage-tokens windows (0 without it)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    finish_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def queries_per_second(self) -> float:
        return self.queries / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds else 0.0


def prepare_template(config: GenerateConfig) -> PromptTemplate:
    """The template with its few-shot examples (drawn from ``config.examples`` if given)."""
    template = load_template(config.template)
    if config.examples is not None:
        k = config.num_examples or template.num_examples or 3
        pool = load_examples(config.examples)
        template = template.with_examples(draw_examples(pool, k, config.seed))
    elif template.needs_examples:
        raise InparsError(
            f"template '{template.name}' draws its few-shot examples from a file of "
            "(query, document) pairs: pass --examples FILE (see docs/reference.md, "
            "'Prompt templates')"
        )
    return template


def _documents(config: GenerateConfig) -> Iterator[Document]:
    """The documents of the run, in corpus order: the selection, then the shard."""
    reader = config.corpus_reader()
    doc_ids = read_doc_ids(config.doc_ids) if config.doc_ids else None
    docs = select_documents(reader, max_docs=config.max_docs, doc_ids=doc_ids, seed=config.seed)
    # The shard is taken from the selection (not the corpus), so that the shards of a
    # --max-docs sample partition that sample.
    shard = parse_shard(config.shard)
    return docs if shard is None else (doc for doc in docs if doc.id in shard)


def _toolkit_fields(prompt: str, template: PromptTemplate, doc: Document) -> dict[str, Any]:
    """The InPars toolkit's own fields of a generated query (``--inpars-compat``)."""
    return {
        "prompt_text": prompt,
        "fewshot_examples": list(template.fewshot_ids),
        "text": doc.contents,
    }


def count_documents(config: GenerateConfig) -> int:
    """How many documents the run covers (after ``--doc-ids`` and ``--max-docs``).

    A pass over the corpus that reads every line: bad input, and ``--doc-ids`` that are not
    in the corpus, are reported before any model is loaded, and the progress bar knows its
    total.
    """
    return sum(1 for _ in _documents(config))


def completed_documents(output: Path) -> set[str]:
    """Ids of the documents in ``output`` (committed batches hold documents whole)."""
    if not output.exists():
        return set()
    return {str(obj["doc_id"]) for _, obj in read_jsonl(output)}


def artifact(
    config: GenerateConfig,
    engine_name: str,
    model: str,
    engine_options: dict[str, Any] | None = None,
) -> Artifact:
    """The output as an :class:`~inpars.artifacts.Artifact`: the settings and engine options
    that decide the queries; the corpus, the model (``engine.model``, as the engine names
    it), template, examples and ids by content. Known without loading the model."""
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in _NOT_SETTINGS}
    settings["engine"] = engine_name
    options = engine_options or {}
    settings["engine_options"] = {k: v for k, v in options.items() if k not in _SPEED_OPTIONS}
    inputs: dict[str, Any] = {
        "corpus": corpus_input(config.corpus_reader()),
        "model": model_input(model),
    }
    for name in ("examples", "doc_ids", "template"):
        path = getattr(config, name)
        if path is not None and Path(path).is_file():
            inputs[name] = file_input(path)
    return Artifact(config.output, "generate", settings, inputs)


def _sections(
    config: GenerateConfig,
    engine: Engine,
    template: PromptTemplate,
    summary: GenerateSummary,
    engine_options: dict[str, Any],
) -> dict[str, Any]:
    """The manifest's free sections: what ran, and what this invocation did."""
    import torch
    import transformers

    return {
        "engine": engine.name,
        "model": engine.model,
        "engine_options": engine_options,
        "template": {
            "name": template.name,
            "source": template.source,
            "fewshot_ids": template.fewshot_ids,
        },
        "config": dataclasses.asdict(config),
        # How each query's sampling seed follows from config.seed (reproducible by anyone).
        "query_seeds": "inpars.engines.base.query_seed(config.seed, doc_id, query_index"
        + (", passage_index)" if config.passage_tokens else ")"),
        "last_invocation": {
            "documents": summary.documents,
            "queries": summary.queries,
            "resumed_documents": summary.skipped_done,
            "truncated_documents": summary.truncated,
            "prompt_tokens": summary.prompt_tokens,
            "completion_tokens": summary.completion_tokens,
            "seconds": round(summary.seconds, 3),
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
    }


def generate(
    engine: Engine,
    config: GenerateConfig,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
    engine_options: dict[str, Any] | None = None,
    total: int | None = None,
) -> GenerateSummary:
    """Generates queries for the documents of ``config.corpus`` into ``config.output``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if config.num_queries_per_doc < 1:
        raise InparsError("--num-queries-per-doc must be at least 1")
    if config.batch_size < 1:
        raise InparsError("--batch-size must be at least 1")
    passages = config.passages()
    if passages is not None:  # the manifest records the stride in use, default or given
        config = dataclasses.replace(config, passage_stride=passages.stride)
    output = Path(config.output)
    template = prepare_template(config)
    options = engine_options or {}
    art = artifact(config, engine.name, engine.model, options)
    summary = GenerateSummary(skipped_done=0)
    if art.open(overwrite=overwrite) == "complete":
        engine.close()
        summary.skipped_done = count_documents(config) if total is None else total
        return summary
    context = engine.context_length
    builder = PromptBuilder(
        template,
        engine.tokenizer,
        max_doc_tokens=config.max_doc_tokens,
        max_prompt_tokens=context - config.max_new_tokens if context else None,
    )
    prompter = DocumentPrompts(builder, passages, engine.tokenizer)
    art.update(**_sections(config, engine, template, summary, options))
    if total is None:
        total = count_documents(config)
    params = config.sampling()
    n = config.num_queries_per_doc
    shared_prefix, _ = template.split()  # the instruction and examples: the same in every prompt
    start = time.perf_counter()
    progress = Progress(
        TextColumn("[bold]generate"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("docs"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr_console(),
        disable=not show_progress,
        transient=False,
    )
    with progress, art.appender() as writer:
        done = completed_documents(output)
        task = progress.add_task("generate", total=total, rate="")
        for batch in _batches(_documents(config), config.batch_size, done, summary):
            progress.advance(task, 0)
            units = [(doc, prompt) for doc in batch for prompt in prompter.of(doc.contents)]
            requests = [
                Request(prompt.text, prompt.seeds(config.seed, doc.id, n), shared_prefix)
                for doc, prompt in units
            ]
            generations = engine.generate(requests, params)
            records = []
            for (doc, prompt), gens in zip(units, generations, strict=True):
                for gen, index in zip(gens, prompt.query_indices(n), strict=True):
                    records.append(
                        to_dict(
                            GeneratedQuery(
                                doc_id=doc.id,
                                query=gen.text,
                                log_probs=gen.log_probs,
                                tokens=gen.tokens,
                                query_index=index,
                                finish_reason=gen.finish_reason,
                                template=template.name,
                                fewshot_ids=template.fewshot_ids,
                                model=engine.model,
                                engine=engine.name,
                                temperature=config.temperature,
                                top_p=config.top_p,
                                max_new_tokens=config.max_new_tokens,
                                seed=config.seed,
                                prompt_tokens=gen.prompt_tokens,
                                prompt=prompt.text if config.save_prompts else None,
                                **(_toolkit_fields(prompt.text, template, doc)
                                   if config.inpars_compat else {}),
                                **prompt.record_fields(),
                            )
                        )
                    )
                    summary.prompt_tokens += gen.prompt_tokens
                    summary.completion_tokens += gen.completion_tokens
                    summary.finish_reasons[gen.finish_reason] += 1
                summary.passages += prompt.passage is not None
            writer.append(jsonl_text(records, output))
            summary.documents += len(batch)
            summary.queries += len(records)
            summary.seconds = time.perf_counter() - start
            progress.update(
                task,
                completed=summary.documents + summary.skipped_done,
                rate=f"{summary.queries_per_second:.2f} queries/s",
            )
    summary.truncated = prompter.truncated
    engine.close()
    order_generated(output, (doc.id for doc in _documents(config)))
    summary.seconds = time.perf_counter() - start
    art.complete(**_sections(config, engine, template, summary, options))
    return summary


def _batches(
    docs: Iterator[Document], size: int, done: set[str], summary: GenerateSummary
) -> Iterator[list[Document]]:
    """Batches of documents not yet done, each of similar lengths.

    Rows of a batch are padded to its longest prompt, so documents are read ahead a few
    batches at a time and grouped by length: much less padding for the model to read.
    """
    window: list[Document] = []

    def flush() -> Iterator[list[Document]]:
        window.sort(key=lambda d: len(d.contents))
        for i in range(0, len(window), size):
            yield window[i : i + size]
        window.clear()

    for doc in docs:
        if doc.id in done:
            summary.skipped_done += 1
            continue
        window.append(doc)
        if len(window) == size * _LOOKAHEAD_BATCHES:
            yield from flush()
    yield from flush()


_LOOKAHEAD_BATCHES = 16


if __name__ == "__main__":
    from inpars.cli.generate import main

    sys.exit(main())
