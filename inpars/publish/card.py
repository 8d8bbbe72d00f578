"""The dataset card (``README.md``): Hugging Face YAML metadata and the Markdown body."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpars import __version__
from inpars.publish.config import PublishConfig
from inpars.publish.layout import (
    CARD_MARK,
    MANIFESTS_DIR,
    PLOTS_DIR,
    QUERIES_FILE,
    STAGES,
    STATS_FILE,
    SUMS_FILE,
    TRIPLES_JSONL_FILE,
    TRIPLES_TSV_FILE,
)
from inpars.publish.provenance import Provenance, _section
from inpars.publish.stats import _stats_lines, dropped_lines, size_category

INPARS_CITATION = """@inproceedings{bonifacio2022inpars,
  title = {{InPars}: Unsupervised Dataset Generation for Information Retrieval},
  author = {Bonifacio, Luiz and Abonizio, Hugo and Fadaee, Marzieh and Nogueira, Rodrigo},
  booktitle = {Proceedings of the 45th International ACM SIGIR Conference on Research and
               Development in Information Retrieval},
  year = {2022},
  doi = {10.1145/3477495.3531863}
}"""


def _value(section: dict[str, Any], key: str, default: str = "not recorded") -> str:
    value = section.get(key)
    if value is None:
        return default
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or "none"
    return str(value)


def _corpus_name(config: PublishConfig, provenance: Provenance) -> str:
    if config.corpus_name:
        return config.corpus_name
    for stage, key in (("generate", "corpus"), ("triples", "corpus")):
        manifest = provenance.manifests.get(stage, {})
        corpus = _section(manifest, "config").get(key) or manifest.get(key)
        if isinstance(corpus, str) and corpus:
            return Path(corpus.rstrip("/")).name or corpus
    return "an unnamed corpus"


def render_card(
    config: PublishConfig,
    provenance: Provenance,
    stats: dict[str, Any],
    has_triples: bool,
    plots: Sequence[tuple[str, str]] = (),
) -> str:
    """The dataset card: Hugging Face YAML metadata, then the Markdown body; ``plots`` are
    (path in the folder, caption) of the images to show."""
    from huggingface_hub import DatasetCardData

    corpus = _corpus_name(config, provenance)
    title = config.name or f"InPars synthetic queries for {corpus}"
    configs: list[dict[str, Any]] = [
        {
            "config_name": "queries",
            "data_files": [{"split": "train", "path": QUERIES_FILE}],
            "default": True,
        }
    ]
    if has_triples:
        triples_files = [{"split": "train", "path": TRIPLES_JSONL_FILE}]
        configs.append({"config_name": "triples", "data_files": triples_files})
    extra: dict[str, Any] = {}
    if config.hub_license == "other":
        extra["license_name"] = re.sub(r"[^a-z0-9.]+", "-", config.license.lower()).strip("-")
        if config.license_link:
            extra["license_link"] = config.license_link
    metadata = DatasetCardData(
        license=config.hub_license,
        language=list(config.language),
        task_categories=["text-retrieval"],
        task_ids=["document-retrieval"],
        size_categories=[size_category(stats["queries"])],
        pretty_name=title,
        tags=["synthetic", "inpars", "query-generation", "information-retrieval"],
        configs=configs,
        **extra,
    )
    body = _card_body(_Card(config, provenance, stats, has_triples, corpus, title, tuple(plots)))
    return f"---\n{metadata.to_yaml()}\n---\n\n{body}"


@dataclass(frozen=True)
class _Card:
    """What the sections of the dataset card are written from."""

    config: PublishConfig
    provenance: Provenance
    stats: dict[str, Any]
    has_triples: bool
    corpus: str
    title: str
    plots: tuple[tuple[str, str], ...] = ()

    @property
    def generate(self) -> dict[str, Any]:
        return self.provenance.manifests.get("generate", {})

    @property
    def model(self) -> str:
        return _value(self.generate, "model")

    @property
    def license_text(self) -> str:
        text = self.config.license
        return f"[{text}]({self.config.license_link})" if self.config.license_link else text

    def stage_config(self, stage: str) -> dict[str, Any]:
        return _section(self.provenance.manifests.get(stage, {}), "config")


def _card_body(card: _Card) -> str:
    sections = [
        _card_overview(card),
        _card_fields(card),
        _card_method(card),
        ["", "## Statistics", "", *_stats_lines(card.stats)],
        _card_plots(card),
        _card_loading(card),
        _card_use_and_license(card),
    ]
    return "\n".join(line for section in sections for line in section)


def _card_overview(card: _Card) -> list[str]:
    config, stats, has_triples = card.config, card.stats, card.has_triples
    corpus, title, model, license_text = card.corpus, card.title, card.model, card.license_text
    versions = sorted(
        {str(m.get("inpars_version")) for m in card.provenance.manifests.values()} | {__version__}
    )
    out: list[str] = [f"# {title}", ""]
    out.append(
        f"Synthetic search queries for the documents of **{corpus}**, written by the language "
        f"model **{model}** and selected the [InPars](https://arxiv.org/abs/2202.05144) way: "
        "few-shot prompted generation, then filtering by the model's own token "
        "log-probabilities"
        + (", then BM25-mined negatives for training rerankers." if has_triples else ".")
        + f" {CARD_MARK} {', '.join(versions)}."
    )
    if config.description:
        out += ["", config.description]
    out += [
        "",
        f"- **Queries:** {stats['queries']:,} for {stats['documents']:,} documents",
        f"- **Triples:** {stats['triples']['triples']:,}" if has_triples else "- **Triples:** none",
        f"- **Source corpus license:** {license_text}",
        "",
        "## Files",
        "",
        "| file | contents |",
        "|---|---|",
        f"| `{QUERIES_FILE}` | the filtered queries, one JSON object per line, best first |",
    ]
    if has_triples:
        out += [
            f"| `{TRIPLES_JSONL_FILE}` | (query, positive, negative) triples with document ids, "
            "ranks and scores |",
            f"| `{TRIPLES_TSV_FILE}` | the same triples as `query<TAB>positive text<TAB>negative "
            "text` (what monoT5 training reads) |",
        ]
    out += [
        f"| `{MANIFESTS_DIR}/*.manifest.json` | the run manifests of "
        f"{', '.join(s for s in STAGES if s in card.provenance.manifests) or 'no stage'} |",
        f"| `{STATS_FILE}` | the statistics below, in full |",
        *(
            [f"| `{PLOTS_DIR}/*.png` | plots of the statistics (shown below) |"]
            if card.plots
            else []
        ),
        f"| `{SUMS_FILE}` | SHA-256 of every file (`sha256sum -c {SUMS_FILE}`) |",
        "",
    ]
    return out


def _card_fields(card: _Card) -> list[str]:
    stats, has_triples = card.stats, card.has_triples
    out = [
        "## Fields",
        "",
        f"`{QUERIES_FILE}` ([`inpars.records.GeneratedQuery`]"
        "(https://github.com/inpars/inpars/blob/main/inpars/records.py) plus `score`):",
        "",
        "| field | meaning |",
        "|---|---|",
        "| `doc_id` | id of the corpus document the query was generated for (its positive) |",
        "| `query` | the generated query |",
        "| `score` | the filter's score of the query (see *How it was made*); higher is better |",
        "| `log_probs` | log-probability of each generated token under the model |",
        "| `tokens` | the generated tokens (same length as `log_probs`) |",
        "| `query_index`, `finish_reason` | which of the document's queries; `stop` or `length` |",
        "| `passage_index`, `passage_start`, `passage_end`, `num_passages` | only from "
        "per-passage generation: the window of the document the query came from, its span "
        "in the generator's tokens, and the document's number of windows |",
        "| `template`, `fewshot_ids` | the prompt template and its few-shot example ids |",
        "| `model`, `engine`, `temperature`, `top_p`, `max_new_tokens`, `seed` | how it was "
        "sampled |",
    ]
    converted = {
        name: count
        for name, count in (stats.get("source_formats") or {}).items()
        if name != "inpars"
    }
    if converted:
        formats = ", ".join(f"`{name}` ({count:,} records)" for name, count in converted.items())
        if len(converted) == 1 and stats.get("source_format") in converted:
            formats = f"`{stats['source_format']}`"
        out += [
            "",
            f"These records were converted from the {formats} format published by the InPars "
            "authors (see `inpars.published`): fields the original files had are kept, "
            "`question` became `query`, and `source_format` says where each record came from.",
        ]
    if has_triples:
        out += [
            "",
            f"`{TRIPLES_JSONL_FILE}` ([`inpars.records.Triple`]"
            "(https://github.com/inpars/inpars/blob/main/inpars/records.py)):",
            "",
            "| field | meaning |",
            "|---|---|",
            "| `query` | the query |",
            "| `pos_id` | the document it was generated for |",
            "| `neg_id` | a document sampled from the query's BM25 top results |",
            "| `neg_rank`, `bm25_score` | the negative's BM25 rank (1-based) and score |",
            "| `pos_rank` | the positive's rank in the same ranking (null: not in it) |",
            "| `query_score` | the query's filter score |",
        ]
    return out


def _document_cut(gen_config: dict[str, Any]) -> str:
    """How generation saw each document: cut to its start, or split into passages."""
    if not gen_config.get("passage_tokens"):
        return f"truncated to {_value(gen_config, 'max_doc_tokens')} tokens"
    most = gen_config.get("max_passages")
    return (
        f"split into passages of {_value(gen_config, 'passage_tokens')} tokens, one every "
        f"{_value(gen_config, 'passage_stride')} tokens"
        + (f", at most {most} per document" if most else "")
        + " (`passage_index` says which)"
    )


def _card_method(card: _Card) -> list[str]:
    generate, model, has_triples = card.generate, card.model, card.has_triples
    gen_config = _section(generate, "config")
    template = _section(generate, "template")
    filter_config = card.stage_config("filter")
    triples_config = card.stage_config("triples")
    out: list[str] = []
    out += ["", "## How it was made", "", "**Generation** (`inpars.generate`):", ""]
    if generate:
        out += [
            f"- model: `{model}` via the `{_value(generate, 'engine')}` engine",
            f"- prompt template: `{_value(template, 'name')}`, few-shot examples "
            f"{_value(template, 'fewshot_ids')}",
            f"- corpus: `{_value(gen_config, 'corpus')}`; documents: "
            f"{_value(gen_config, 'max_docs', 'all')} (sample seeded by `seed`), "
            + _document_cut(gen_config),
            f"- sampling: {_value(gen_config, 'num_queries_per_doc')} queries per "
            + ("passage" if gen_config.get("passage_tokens") else "document")
            + ", "
            f"temperature {_value(gen_config, 'temperature')}, top-p "
            f"{_value(gen_config, 'top_p')}, at most {_value(gen_config, 'max_new_tokens')} "
            f"new tokens, seed {_value(gen_config, 'seed')}",
        ]
    else:
        out.append("- not recorded (no generation manifest)")
    out += ["", "**Filtering** (`inpars.filter`):", ""]
    if filter_config:
        out += [
            f"- score: `{_value(filter_config, 'score')}`; kept the top "
            f"{_value(filter_config, 'keep_top_k')}, at most "
            f"{_value(filter_config, 'max_per_doc', 'any number of')} per document",
            f"- dropped: queries of fewer than {_value(filter_config, 'min_words')} or more "
            f"than {_value(filter_config, 'max_words', 'unlimited')} words; exact duplicates "
            f"after normalisation: {'yes' if filter_config.get('dedup') else 'no'}; queries "
            "copying their document: "
            + (
                f"yes (threshold {_value(filter_config, 'copy_threshold')})"
                if filter_config.get("corpus") and filter_config.get("copy_threshold")
                else "not checked"
            ),
        ]
        summary = _section(card.provenance.manifests.get("filter", {}), "summary")
        if summary.get("example_copies_checked"):
            out.append(
                "- dropped: queries copying a query or document of the prompt's few-shot "
                f"examples (threshold {_value(filter_config, 'copy_threshold')})"
            )
        if filter_config.get("min_doc_words"):
            out.append(
                "- dropped: queries of documents of fewer than "
                f"{_value(filter_config, 'min_doc_words')} words"
            )
        if summary.get("consistency_checked"):
            out.append(
                f"- round trip: `{_value(filter_config, 'consistency_model')}` searched the "
                "whole corpus with each query; dropped when the query's own document was not "
                f"in the top {_value(filter_config, 'consistency_depth')}"
            )
        filtered = card.stats.get("filter")
        if filtered:
            counts = "; ".join(f"{label}: {count}" for label, count in dropped_lines(filtered))
            out.append(
                f"- records dropped by each rule, in the order applied, of "
                f"{_value(filtered, 'read')} read ({_value(filtered, 'kept')} kept): {counts}"
            )
    else:
        out.append("- not recorded (no filter manifest)")
    if has_triples:
        out += ["", "**Negatives** (`inpars.triples`):", ""]
        if triples_config:
            out.append(
                f"- BM25 (Pyserini/Lucene, k1 {_value(triples_config, 'k1')}, b "
                f"{_value(triples_config, 'b')}, {_value(triples_config, 'stemmer')} stemmer), "
                f"{_value(triples_config, 'negatives_per_query')} negative(s) per query drawn "
                f"at random from the top {_value(triples_config, 'depth')}, seed "
                f"{_value(triples_config, 'seed')}; never the query's own document nor another "
                "document the same query was generated for"
            )
        else:
            out.append("- not recorded (no triples manifest)")
    if card.provenance.notes:
        out += ["", "**Provenance notes** (published with `--allow-missing-manifests`):", ""]
        out += [f"- {note}" for note in card.provenance.notes]
    return out


def _card_plots(card: _Card) -> list[str]:
    out: list[str] = []
    for path, caption in card.plots:
        out += ["", f"![{caption}]({path})"]
    return out


def _card_loading(card: _Card) -> list[str]:
    config, has_triples = card.config, card.has_triples
    out: list[str] = []
    out += ["", "## How to load", "", "With 🤗 Datasets, from this folder:", "", "```python"]
    out.append("from datasets import load_dataset")
    out.append("")
    out.append(f'queries = load_dataset("json", data_files="{QUERIES_FILE}", split="train")')
    if has_triples:
        out.append(
            f'triples = load_dataset("json", data_files="{TRIPLES_JSONL_FILE}", split="train")'
        )
    out.append("```")
    repo = config.repo_id or "USER/NAME"
    out += ["", "or from the Hub:", "", "```python", "from datasets import load_dataset", ""]
    out.append(f'queries = load_dataset("{repo}", "queries", split="train")')
    if has_triples:
        out.append(f'triples = load_dataset("{repo}", "triples", split="train")')
    out += ["```", "", "With inpars:", "", "```bash"]
    out.append(f"python -m inpars.publish verify .          # check {SUMS_FILE}")
    out.append(
        f"python -m inpars.triples --queries {QUERIES_FILE} --corpus CORPUS --output t.tsv"
        "   # new negatives"
    )
    out.append(
        f"python -m inpars.filter --input {QUERIES_FILE} --output fewer.jsonl --keep-top-k 1000"
    )
    out += ["```", "", "or `inpars.publish.load_bundle(folder)` in Python."]
    return out


def _card_use_and_license(card: _Card) -> list[str]:
    config, has_triples = card.config, card.has_triples
    corpus, model, license_text = card.corpus, card.model, card.license_text
    out: list[str] = []
    out += [
        "",
        "## Intended use",
        "",
        f"Training and studying rerankers and retrievers for {corpus} when no labelled "
        "queries exist, and research on synthetic training data for information retrieval. "
        "The queries are not real user queries and are not relevance judgments: do not use "
        "them as a test collection.",
        "",
        "## Limitations",
        "",
        "- The queries were written by a language model. They inherit its errors, biases and "
        "style, and a query may be unanswerable, off-topic, or not specific to its document.",
        "- Filtering keeps what the model found likely, which is not the same as relevant; "
        "short, generic and copied-from-the-document queries are favoured by some scores.",
        "- Each query has one positive, the document it was generated for; other relevant "
        "documents are unlabelled.",
    ]
    if has_triples:
        out.append(
            "- Negatives are sampled from BM25 results and are not judged: some are relevant "
            "(false negatives)."
        )
    out += [
        "- Only documents sampled for generation have queries; the corpus is not covered evenly.",
        f"- Language: {', '.join(config.language)}; the prompts and few-shot examples shape the "
        "queries' style.",
        "",
        "## License",
        "",
        f"The documents come from {corpus}, licensed {license_text}. This dataset contains "
        "queries derived from them"
        + (" and their texts (in the TSV)" if has_triples else "")
        + ", and is released under the same terms. The terms of the generating model "
        f"({model}) may add conditions on the use of its output; check them.",
        "",
        "## Checksums",
        "",
        f"`{SUMS_FILE}` lists the SHA-256 of every file. Check a downloaded copy with "
        f"`python -m inpars.publish verify FOLDER` or `sha256sum -c {SUMS_FILE}`.",
        "",
        "## Citation",
        "",
        "```bibtex",
        INPARS_CITATION,
        "```",
        "",
    ]
    return out
