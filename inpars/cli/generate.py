"""``inpars generate`` / ``python -m inpars.generate``: the command line of :mod:`inpars.generate`.

The engines' own flags (``--device``, ``--dtype``, ``--base-url``, ...) are declared by the
engine modules (:func:`inpars.engines.base.add_engine_arguments`), so adding an engine is
adding one file.
"""

from __future__ import annotations

import argparse
from typing import Any

from inpars.cli.command import command
from inpars.cli.options import (
    add_corpus_options,
    add_output_options,
    add_shard_option,
    config_from_args,
    stage_parser,
)
from inpars.engines.base import (
    add_engine_arguments,
    available_engines,
    engine_from_args,
    engine_options,
)
from inpars.generate import (
    GenerateConfig,
    GenerateSummary,
    count_documents,
    generate,
    prepare_template,
)
from inpars.models import DEFAULT_MODEL
from inpars.progress import stderr_console, summary_table
from inpars.prompts import builtin_templates


def add_passage_options(group: argparse._ArgumentGroup) -> None:
    """The flags of per-passage generation (:mod:`inpars.passages`)."""
    group.add_argument(
        "--passage-tokens",
        type=int,
        default=None,
        metavar="N",
        help="split each document into windows of N tokens (the unit of --max-doc-tokens: the "
        "model's tokenizer, or words for an openai engine without --tokenizer) and generate "
        "--num-queries-per-doc queries for every window; --max-doc-tokens then does not apply. "
        "Default: off (one prompt per document, cut to --max-doc-tokens)",
    )
    group.add_argument(
        "--passage-stride",
        type=int,
        default=None,
        metavar="S",
        help="with --passage-tokens: a window starts every S tokens (1 <= S <= N; S < N "
        "overlaps windows); default: N, windows side by side",
    )
    group.add_argument(
        "--max-passages",
        type=int,
        default=None,
        metavar="M",
        help="with --passage-tokens: generate for the first M windows of each document only "
        "(bounds the cost of very long documents); default: every window",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "generate",
        "Generate synthetic queries for the documents of a corpus with a few-shot prompted "
        "LLM, keeping the log-probability of every generated token. Writes one JSON line "
        "per query and a run manifest (<output>.manifest.json). Rerunning the same "
        "command resumes an interrupted run.",
    )
    corpus = add_corpus_options(parser, help="the documents")
    corpus.add_argument(
        "--max-docs",
        type=int,
        default=None,
        help="generate for a random sample of this many documents (seeded by --seed); default: all",
    )
    corpus.add_argument(
        "--doc-ids",
        default=None,
        help="file with one document id per line: generate for these only",
    )
    add_shard_option(corpus)

    output = add_output_options(parser, help="the JSONL file to write (or resume)")
    output.add_argument(
        "--inpars-compat",
        action="store_true",
        help="also write the InPars toolkit's fields (prompt_text, "
        "fewshot_examples, text: the document), for scripts written for it",
    )
    output.add_argument(
        "--save-prompts",
        action="store_true",
        help="also store each prompt's full text in its records",
    )

    prompt = parser.add_argument_group("prompt")
    prompt.add_argument(
        "--prompt",
        dest="template",
        default="inpars",
        help="a built-in template ("
        + ", ".join(builtin_templates())
        + ") or the path of a template file (.toml or .txt with a {document} placeholder; "
        "see docs/reference.md, 'Prompt templates')",
    )
    prompt.add_argument(
        "--examples",
        default=None,
        help="file of (query, document) pairs (JSONL with query/document fields, or TSV "
        "query<TAB>document) to draw few-shot examples from; required by 'promptagator'",
    )
    prompt.add_argument(
        "--num-examples",
        type=int,
        default=None,
        help="how many examples to draw from --examples (default: the template's "
        "num_examples, else 3)",
    )
    prompt.add_argument(
        "--max-doc-tokens",
        type=int,
        default=256,
        help="truncate each document to this many tokens (only the document is ever "
        "truncated, never the instruction, examples or cue); not used with --passage-tokens",
    )
    add_passage_options(prompt)

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
    sampling.add_argument(
        "--num-queries-per-doc",
        type=int,
        default=1,
        help="queries to generate for each document (for each passage, with --passage-tokens)",
    )
    sampling.add_argument(
        "--max-new-tokens",
        type=int,
        default=64,
        help="the longest query, in tokens (generation stops at the first newline before that)",
    )
    sampling.add_argument(
        "--temperature",
        type=float,
        default=0.0,
        help="0 = greedy decoding; above 0, sampling at this temperature",
    )
    sampling.add_argument(
        "--top-p",
        type=float,
        default=1.0,
        help="nucleus sampling: sample from the smallest set of tokens whose "
        "probability reaches this (with --temperature > 0)",
    )
    sampling.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for sampling, document sampling and example drawing. Each "
        "query is sampled with its own seed, a hash of this seed, its "
        "document's id, its index (and its passage's), so the same seed "
        "gives the same queries whatever the batch size, and after a resume",
    )
    sampling.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="documents per engine call; results are saved after each batch "
        "(hf: computes each document on its own, so this only sets how often "
        "results are saved; openai: requests issued together; vllm: requests "
        "handed to vLLM together, which batches them continuously: use "
        "hundreds on a GPU)",
    )
    add_engine_arguments(parser)
    return parser


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


@command(build_parser)
def main(args: argparse.Namespace) -> None:
    config = config_from_args(GenerateConfig, args)
    # Bad --passage-* values, templates, input and --doc-ids fail before a model loads.
    config.passages()
    prepare_template(config)
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
    usage = getattr(engine, "usage", None)
    rows = usage.rows() if usage is not None else None
    print_summary(summary, config.output, stderr_console(), rows)


__all__ = ["add_passage_options", "build_parser", "main", "print_summary"]
