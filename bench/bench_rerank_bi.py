"""Benchmark of the bi-encoder reranker's document-embedding cache (numbers in bench/README.md).

``inpars.rerank`` scores its queries a chunk at a time (``--queries-per-chunk``, 16); the
bi-encoder embeds each distinct text of a chunk once. Without a cache across chunks a document
retrieved for queries of several chunks was embedded again in each; ``BiEncoderReranker``
keeps the last ``CACHED_DOCUMENTS`` documents' embeddings. This reranks BM25's top ``--depth``
of a shared collection's judged queries with the bundled all-MiniLM-L6-v2, with the cache off
(``CACHED_DOCUMENTS = 0``) and on, alternating ``--repeats`` times (the BM25 index is built
before the timed runs), and checks that both give the same scores.

Run: python bench/bench_rerank_bi.py [--collection cranfield] [--depth 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))


def scores(path: Path) -> dict[tuple[str, str], float]:
    from inpars.runs import read_run

    return {(q, d): s for q, docs in read_run(path).items() for d, s in docs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collection", default="cranfield")
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="alternating timed runs of each")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    import torch

    from inpars.rerank import RerankConfig, rerank
    from inpars.rerankers import bi_encoder

    torch.set_num_threads(args.threads)
    folder = args.data / args.collection
    cached = bi_encoder.CACHED_DOCUMENTS
    results: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        index = str(Path(tmp) / "index")
        outputs = {}
        for repeat in range(args.repeats + 1):  # the first pass builds the index, untimed
            for setting in ("on",) if repeat == 0 else ("off", "on"):
                bi_encoder.CACHED_DOCUMENTS = 0 if setting == "off" else cached
                output = Path(tmp) / f"{setting}-{repeat}.trec"
                config = RerankConfig(
                    queries=str(folder), corpus=str(folder), qrels=str(folder),
                    output=str(output), model="all-minilm-l6-v2", depth=args.depth,
                    index=index, threads=args.threads,
                )  # fmt: skip
                start = time.perf_counter()
                summary = rerank(config, show_progress=False)
                seconds = time.perf_counter() - start
                if repeat:
                    results[setting].append(summary.pairs / seconds)
                outputs[setting] = output
        on, off = scores(outputs["on"]), scores(outputs["off"])
        difference = max(abs(on[key] - off[key]) for key in off)
    report = {
        "collection": args.collection,
        "pairs": summary.pairs,
        "pairs_per_second_cache_off": max(results["off"]),
        "pairs_per_second_cache_on": max(results["on"]),
        "max_score_difference": difference,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
