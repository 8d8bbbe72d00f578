"""Markdown tables of the pipeline results under a runs folder, one per reranker variant.

    python scripts/pipeline_table.py runs [--measures nDCG@10 RR@10 R@100]
    python scripts/pipeline_table.py runs --wide nDCG@10   # one row per collection and variant

Reads ``runs/<collection>/<variant>/results.json`` (written by ``python -m inpars.pipeline``).
A trained run's cell shows its mean and the paired t-test p-values against each baseline run
(BM25, the zero-shot bi-encoder, and their reciprocal rank fusion), in that order.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", type=Path)
    parser.add_argument("--measures", nargs="+", default=["nDCG@10", "RR@10", "R@100"])
    parser.add_argument(
        "--wide",
        metavar="MEASURE",
        help="instead, one table of MEASURE: a row per collection and variant, a column per "
        "run; trained runs show the p-value against the zero-shot bi-encoder",
    )
    args = parser.parse_args()
    by_variant: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(args.runs.glob("*/*/results.json")):
        by_variant[path.parent.name].append(json.loads(path.read_text()))
    if args.wide:
        print_wide(by_variant, args.wide)
        return
    for variant, results in sorted(by_variant.items()):
        print(f"\n### {variant}\n")
        print("| collection | run | " + " | ".join(args.measures) + " |")
        print("|---|---|" + "---|" * len(args.measures))
        for result in results:
            for label, means in result["means"].items():
                cells = []
                for measure in args.measures:
                    cell = f"{means[measure]:.3f}"
                    p_values = result["p_values"].get(label)
                    if p_values:
                        ps = [p_values[baseline][measure] for baseline in p_values]
                        cell += " (" + " / ".join(f"{p:.2f}" for p in ps) + ")"
                    cells.append(cell)
                name = f"{result['collection']} ({result['queries']} q)"
                print(f"| {name} | {label} | " + " | ".join(cells) + " |")
        seconds = defaultdict(float)
        for result in results:
            for step, value in result["seconds"].items():
                seconds[step] += value
        print(
            "\nwall seconds, all collections: "
            + ", ".join(f"{k} {v:,.0f}" for k, v in seconds.items())
        )


def print_wide(by_variant: dict[str, list[dict]], measure: str) -> None:
    rows = sorted(
        (result["collection"], variant, result)
        for variant, results in by_variant.items()
        for result in results
    )
    labels = list(dict.fromkeys(label for *_, result in rows for label in result["means"]))
    print("| collection | variant | " + " | ".join(labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for collection, variant, result in rows:
        cells = []
        for label in labels:
            mean = result["means"].get(label, {}).get(measure)
            cell = "" if mean is None else f"{mean:.3f}"
            p_values = result["p_values"].get(label, {}).get("zero-shot bi-encoder")
            if p_values and mean is not None:
                cell += f" ({p_values[measure]:.2f})"
            cells.append(cell)
        name = f"{collection} ({result['queries']} q)"
        print(f"| {name} | {variant} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
