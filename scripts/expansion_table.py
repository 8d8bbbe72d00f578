"""The Markdown tables of the document-expansion experiment (docs/results.md, "Document
expansion on the four collections"), from what scripts/expansion_generate.sh and
scripts/expansion_eval.sh wrote under OUT (default /work/exp):

    python scripts/expansion_table.py [--out /work/exp] [cranfield medline cisi cacm]

Per collection: how long generation took (the start/end lines of <collection>.log, and the
queries written), then one row per run with nDCG@10 and its paired t-test p-values against
BM25, zero-shot and RRF(BM25, zero-shot), and RR@10 and R@100; then, once
scripts/expansion_rerank.sh has run, the same for the rerankers over the best first stage. A
collection not evaluated yet is reported as such.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

LABELS = {
    "bm25": "BM25",
    "zero-shot": "zero-shot dense (all-MiniLM-L6-v2)",
    "rrf": "RRF(BM25, zero-shot)",
}
EXPANSIONS = {"all": "unfiltered", "d2q-30": "Doc2Query-- 0.3", "d2q-50": "Doc2Query-- 0.5",
              "d2q-70": "Doc2Query-- 0.7"}  # fmt: skip


RERANKERS = {"trained": "trained bi-encoder", "zero-shot": "zero-shot bi-encoder"}
"""The rerankers of scripts/expansion_rerank.sh: their runs are <model>-over-<first stage>."""


def first_stages() -> list[str]:
    """The run stems a reranker may rerank (those of scripts/expansion_eval.sh)."""
    return [*LABELS, *(f"bm25-{key}" for key in EXPANSIONS),
            *(f"zero-shot+bm25-{key}" for key in EXPANSIONS)]  # fmt: skip


def label(stem: str) -> str:
    """A readable name for a run file's stem (see scripts/expansion_eval.sh and
    scripts/expansion_rerank.sh)."""
    if stem in LABELS:
        return LABELS[stem]
    for model, name in RERANKERS.items():
        rest = stem.removeprefix(f"{model}-over-")
        if rest == stem:
            continue
        if rest in first_stages():
            return f"{name} reranking the top 100 of {plain(label(rest))}"
        for first in first_stages():  # <model>-over-<first>+<its BM25 run>: the fusion
            if rest.startswith(f"{first}+") and rest[len(first) + 1 :] in first_stages():
                bm25 = plain(label(rest[len(first) + 1 :]))
                return f"**RRF({bm25}, {name} over {plain(label(first))})**"
    for key, name in EXPANSIONS.items():
        if stem == f"bm25-{key}":
            return f"BM25 + expansion ({name})"
        if stem == f"zero-shot+bm25-{key}":
            return f"**RRF(BM25 + expansion ({name}), zero-shot)**"
        if stem == f"dense-expanded-{key}":
            return f"dense over the expanded texts ({name})"
        if stem == f"dense-expanded-{key}+bm25-{key}":
            return f"RRF(BM25 + expansion, dense over expanded texts) ({name})"
    return stem


def plain(text: str) -> str:
    """A label without its Markdown emphasis, to nest it in another."""
    return text.replace("**", "")


def generation_time(log: Path, queries: Path) -> str:
    """Seconds between each start and its end line, summed, and the queries per second.

    A start followed by another start is a run that was killed (the machine's session ended):
    its length is unknown, so the time is given as a lower bound and the rate is left out.
    """
    seconds, start, killed = 0.0, None, 0
    for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
        word, _, rest = line.partition(" ")
        if word in {"start", "end"}:
            stamp = datetime.fromisoformat(rest.split()[0].replace("Z", "+00:00"))
            if word == "start":
                killed += start is not None
                start = stamp
            elif start is not None:
                seconds += (stamp - start).total_seconds()
                start = None
    count = sum(1 for _ in queries.open(encoding="utf-8")) if queries.exists() else 0
    if not seconds:
        return f"{count:,} queries written, generation not finished"
    if killed:
        return (
            f"{count:,} queries in more than {seconds / 60:.0f} min ({killed} earlier run(s) "
            "killed without an end line)"
        )
    return f"{count:,} queries in {seconds / 60:.0f} min ({count / seconds:.2f} queries/s)"


def table(folder: Path, prefix: str = "eval") -> str:
    """The collection's table, from <prefix>-vs-{bm25,zero-shot,rrf}.json: ``eval`` for the
    expansion runs, ``rerank`` for the rerankers over the best first stage."""
    reports = {}
    for baseline in LABELS:
        path = folder / f"{prefix}-vs-{baseline}.json"
        if not path.exists():
            return "not evaluated yet"
        reports[baseline] = {
            Path(run["path"]).name.removesuffix(".trec"): run
            for run in json.loads(path.read_text(encoding="utf-8"))["runs"]
        }
    first = json.loads((folder / f"{prefix}-vs-bm25.json").read_text(encoding="utf-8"))
    queries = first["queries"]
    lines = [
        f"{queries} judged queries; p: paired t-test on nDCG@10 (- : the baseline itself)",
        "",
        "| run | nDCG@10 | p vs BM25 | p vs zero-shot | p vs RRF | RR@10 | R@100 |",
        "|---|---|---|---|---|---|---|",
    ]
    for stem, run in reports["bm25"].items():
        means = run["means"]
        cells = []
        for baseline in LABELS:
            p_values = reports[baseline][stem]["p_values_vs_first"]
            cells.append("-" if p_values is None else f"{p_values['nDCG@10']:.3f}")
        lines.append(
            f"| {label(stem)} | {means['nDCG@10']:.3f} | {' | '.join(cells)} | "
            f"{means['RR@10']:.3f} | {means['R@100']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/work/exp"))
    parser.add_argument("collections", nargs="*", default=["cranfield", "medline", "cisi", "cacm"])
    args = parser.parse_args()
    for name in args.collections:
        folder = args.out / name
        print(f"### {name}\n")
        print(
            f"Generation: {generation_time(args.out / f'{name}.log', folder / 'queries.jsonl')}\n"
        )
        print(table(folder) + "\n")
        if (folder / "rerank-vs-bm25.json").exists():
            print("Rerankers over the best first stage (scripts/expansion_rerank.sh):\n")
            print(table(folder, "rerank") + "\n")


if __name__ == "__main__":
    main()
