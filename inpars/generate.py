"""Stage 1, generate: few-shot prompts drive an LLM to write queries for each document.

Library use::

    from inpars.engines.hf import HFEngine
    from inpars.generate import GenerateConfig, generate

    summary = generate(HFEngine(), GenerateConfig(corpus="sample", output="queries.jsonl"))

Command line: ``python -m inpars.generate --help``.

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

import argparse
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
from inpars.cli import compat
from inpars.cli.options import DefaultsHelpFormatter
from inpars.corpus import (
    CORPUS_FORMATS,
    CorpusReader,
    read_corpus,
    read_doc_ids,
    select_documents,
)
from inpars.engines.base import (
    Engine,
    Request,
    SamplingParams,
    add_engine_arguments,
    available_engines,
    engine_from_args,
    engine_options,
)
from inpars.errors import InparsError
from inpars.io import read_jsonl
from inpars.merge import order_generated
from inpars.models import DEFAULT_MODEL
from inpars.passages import DocumentPrompts, PassageSettings, add_passage_arguments
from inpars.progress import (
    console_warnings,
    print_error,
    stderr_console,
    summary_table,
)
from inpars.prompts import (
    PromptBuilder,
    PromptTemplate,
    builtin_templates,
    draw_examples,
    load_examples,
    load_template,
)
from inpars.records import Document, GeneratedQuery, to_dict
from inpars.shards import add_shard_argument, parse_shard


@dataclass
class GenerateConfig:
    """Everything that decides what a generation run writes."""

    corpus: str
    output: str
    template: str = "inpars"
    examples: str | None = None  # (query, document) pairs file for dynamic few-shot
    num_examples: int | None = None  # default: the template's own
    corpus_format: str | None = None
    id_field: str | None = None
    text_field: str | None = None
    title_field: str | None = None
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


def _reader(config: GenerateConfig) -> CorpusReader:
    return read_corpus(
        config.corpus,
        format=config.corpus_format,
        id_field=config.id_field,
        text_field=config.text_field,
        title_field=config.title_field,
    )


def _documents(config: GenerateConfig) -> Iterator[Document]:
    """The documents of the run, in corpus order: the selection, then the shard."""
    reader = _reader(config)
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
        "corpus": corpus_input(_reader(config)),
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


# --- command line -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = compat.ArgumentParser(
        command="generate",
        prog="python -m inpars.generate",
        description=(
            "Generate synthetic queries for the documents of a corpus with a few-shot prompted "
            "LLM, keeping the log-probability of every generated token. Writes one JSON line "
            "per query and a run manifest (<output>.manifest.json). Rerunning the same "
            "command resumes an interrupted run."
        ),
        formatter_class=DefaultsHelpFormatter,
    )
    io = parser.add_argument_group("input and output")
    io.add_argument(
        "--corpus",
        required=True,
        help="the documents: a BEIR folder (corpus.jsonl), a .jsonl, .tsv (id<TAB>text) or "
        ".csv file (optionally .gz), or 'sample' for the bundled sample corpus",
    )
    io.add_argument("--output", required=True, help="the JSONL file to write (or resume)")
    io.add_argument(
        "--corpus-format",
        choices=CORPUS_FORMATS,
        default=None,
        help="the corpus format when it can't be told from the path",
    )
    io.add_argument(
        "--id-field",
        default=None,
        help="JSONL/CSV field holding the document id (default: _id, id, docid, "
        "doc_id, whichever is present)",
    )
    io.add_argument(
        "--text-field",
        default=None,
        help="JSONL/CSV field holding the text (default: text, contents, body)",
    )
    io.add_argument(
        "--title-field",
        default=None,
        help="JSONL/CSV field holding the title (default: title, if present)",
    )
    io.add_argument(
        "--max-docs",
        type=int,
        default=None,
        help="generate for a random sample of this many documents (seeded by --seed); default: all",
    )
    io.add_argument(
        "--doc-ids",
        default=None,
        help="file with one document id per line: generate for these only",
    )
    io.add_argument(
        "--overwrite",
        action="store_true",
        help="start again instead of resuming an existing output",
    )
    io.add_argument(
        "--inpars-compat",
        action="store_true",
        help="also write the InPars toolkit's fields (prompt_text, "
        "fewshot_examples, text: the document), for scripts written for it",
    )
    io.add_argument(
        "--save-prompts",
        action="store_true",
        help="also store each prompt's full text in its records",
    )
    io.add_argument("--quiet", action="store_true", help="no progress bar")
    add_shard_argument(io)

    prompt = parser.add_argument_group("prompt")
    prompt.add_argument(
        "--prompt",
        dest="template",
        default="inpars",
        help="a built-in template (" + ", ".join(builtin_templates()) + ") or the path of "
        "a template file (.toml or .txt with a {document} placeholder; see docs/reference.md, "
        "'Prompt templates')",
    )
    prompt.add_argument(
        "--examples",
        default=None,
        help="file of (query, document) pairs (JSONL with query/document fields, or TSV "
        "query<TAB>document) to draw few-shot examples from; required by 'promptagator'",
    )
    prompt.add_argument("--num-examples", type=int, default=None,
                        help="how many examples to draw from --examples (default: the "
                        "template's num_examples, else 3)")
    prompt.add_argument("--max-doc-tokens", type=int, default=256,
                        help="truncate each document to this many tokens (only the document "
                        "is ever truncated, never the instruction, examples or cue); not used "
                        "with --passage-tokens")
    add_passage_arguments(prompt)

    sampling = parser.add_argument_group("model and sampling")
    sampling.add_argument(
        "--engine",
        choices=available_engines(),
        default="hf",
        help="hf: a local Hugging Face model; openai: any OpenAI-compatible "
        "server (OpenAI, vLLM, llama.cpp, TGI); vllm: vLLM in this process, "
        "the engine for GPUs (its own environment: scripts/install.sh --vllm)",
    )
    sampling.add_argument(
        "--model",
        default=None,
        help="model name, folder, hub id or .gguf file (hf and vllm default: "
        f"'{DEFAULT_MODEL}', the bundled SmolLM2-135M-Instruct)",
    )
    sampling.add_argument("--num-queries-per-doc", type=int, default=1,
                          help="queries to generate for each document (for each passage, "
                          "with --passage-tokens)")
    sampling.add_argument("--max-new-tokens", type=int, default=64,
                          help="the longest query, in tokens (generation stops at the first "
                          "newline before that)")
    sampling.add_argument("--temperature", type=float, default=0.0,
                          help="0 = greedy decoding; above 0, sampling at this temperature")
    sampling.add_argument("--top-p", type=float, default=1.0,
                          help="nucleus sampling: sample from the smallest set of tokens whose "
                          "probability reaches this (with --temperature > 0)")
    sampling.add_argument("--seed", type=int, default=0,
                          help="seed for sampling, document sampling and example drawing. Each "
                          "query is sampled with its own seed, a hash of this seed, its "
                          "document's id, its index (and its passage's), so the same seed "
                          "gives the same queries whatever the batch size, and after a resume")
    sampling.add_argument("--batch-size", type=int, default=8,
                          help="documents per engine call; results are saved after each batch "
                          "(hf: computes each document on its own, so this only sets how often "
                          "results are saved; openai: requests issued together; vllm: requests "
                          "handed to vLLM together, which batches them continuously: use "
                          "hundreds on a GPU)")
    add_engine_arguments(parser)
    return parser


def config_from_args(args: argparse.Namespace) -> GenerateConfig:
    names = {f.name for f in dataclasses.fields(GenerateConfig)}
    return GenerateConfig(**{k: v for k, v in vars(args).items() if k in names})


def print_summary(
    summary: GenerateSummary,
    output: str,
    console: Any,
    extra_rows: list[tuple[str, str]] | None = None,
) -> None:
    """The run's summary table; ``extra_rows`` are the engine's own (API usage, retries)."""
    rows = [
        ("documents (this run)", f"{summary.documents:,}"),
        ("documents already done", f"{summary.skipped_done:,}"),
        ("queries", f"{summary.queries:,}"),
        ("documents truncated", f"{summary.truncated:,}"),
        *([("passages", f"{summary.passages:,}")] if summary.passages else []),
        ("finish reasons", ", ".join(f"{k} {v:,}" for k, v in summary.finish_reasons.items())),
        ("prompt tokens", f"{summary.prompt_tokens:,}"),
        ("generated tokens", f"{summary.completion_tokens:,}"),
        ("seconds", f"{summary.seconds:,.1f}"),
        ("queries/s", f"{summary.queries_per_second:.2f}"),
        ("generated tokens/s", f"{summary.tokens_per_second:.1f}"),
        *(extra_rows or []),
    ]
    console.print(summary_table(f"inpars.generate → {output}", rows))


@console_warnings()
def main(argv: list[str] | None = None) -> int:
    console = stderr_console()
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        config.passages()  # bad --passage-* values fail before a model loads
        prepare_template(config)  # bad templates and bad input fail before a model loads
        total = count_documents(config)
        engine = engine_from_args(args)
        summary = generate(
            engine,
            config,
            overwrite=args.overwrite,
            show_progress=not args.quiet,
            engine_options=engine_options(args),
            total=total,
        )
    except InparsError as exc:
        print_error(exc, console)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: rerun the same command to resume[/]")
        return 130
    usage = getattr(engine, "usage", None)
    print_summary(summary, config.output, console, usage.rows() if usage is not None else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
