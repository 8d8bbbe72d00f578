"""Benchmark of document expansion: filtering pairs/s, indexing seconds, index size.

On a classic collection of ``../shared/data`` (CACM by default: 3,204 documents, the largest),
with generation-shaped queries made up here for speed (``--queries-per-doc`` per document, each
a run of 4-9 words of its document plus a word of another one, with made-up log-probs: the
shape and length of inpars.generate's queries, not their quality). Measured, each stage once:

- ``inpars.expand`` unfiltered (doc2query): seconds;
- ``inpars.expand --drop-fraction 0.3 --scorer log-probs``: seconds (no model);
- ``inpars.expand --drop-fraction 0.3`` with the bundled bi-encoder: pairs/s of the scoring
  (model load excluded) and seconds in all;
- Lucene indexing (``inpars.bm25.ensure_index``, 1 thread, after a warm-up that starts the JVM)
  of the original and of the unfiltered expansion: seconds and index size on disk.

Wall seconds depend on what else the machine runs; ``*_cpu_s`` is this process's CPU time.

Run: python bench/bench_expand.py [--collection cacm] [--data ../shared/data]
[--queries-per-doc 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))


def make_queries(corpus: Path, output: Path, per_doc: int, seed: int = 1) -> int:
    """Writes ``per_doc`` generation-shaped records per document; returns how many."""
    from inpars.corpus import read_corpus

    rng = random.Random(seed)
    docs = [(doc.id, doc.contents.split()) for doc in read_corpus(corpus)]
    count = 0
    with output.open("w", encoding="utf-8") as handle:
        for doc_id, words in docs:
            for _ in range(per_doc):
                length = rng.randint(4, 9)
                start = rng.randrange(max(1, len(words) - length + 1))
                other = rng.choice(rng.choice(docs)[1] or ["x"])
                query = [*words[start : start + length], other]
                log_probs = [round(rng.uniform(-3.0, 0.0), 4) for _ in range(len(query) + 2)]
                record = {"doc_id": doc_id, "query": " ".join(query), "log_probs": log_probs}
                handle.write(json.dumps(record) + "\n")
                count += 1
    return count


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def timed_expand(**kwargs: object) -> tuple[float, float, object]:
    """(wall seconds, this process's CPU seconds, summary) of one expand run."""
    from inpars.expand import ExpandConfig, expand

    start, cpu = time.perf_counter(), time.process_time()
    summary = expand(ExpandConfig(**kwargs))  # type: ignore[arg-type]
    return time.perf_counter() - start, time.process_time() - cpu, summary


def timed_index(corpus: Path, index: Path) -> tuple[float, int]:
    from inpars.bm25 import ensure_index
    from inpars.corpus import read_corpus

    start = time.perf_counter()
    info = ensure_index(read_corpus(corpus), index, threads=1)
    return time.perf_counter() - start, folder_bytes(Path(info.path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collection", default="cacm", help="a folder name in --data")
    parser.add_argument("--data", type=Path, default=SHARED, help="the collections' folder")
    parser.add_argument("--queries-per-doc", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    corpus = args.data / args.collection
    if not (corpus / "corpus.jsonl").is_file():
        print(f"no collection at {corpus}; this benchmark reads ../shared/data", file=sys.stderr)
        return 2
    results: dict[str, object] = {"collection": args.collection}
    with tempfile.TemporaryDirectory(prefix="bench-expand-") as scratch:
        work = Path(scratch)
        queries = work / "queries.jsonl"
        results["queries"] = make_queries(corpus, queries, args.queries_per_doc)
        common = {"corpus": str(corpus), "queries": str(queries)}
        seconds, _, summary = timed_expand(**common, output=str(work / "plain"))
        results["documents"] = summary.documents  # type: ignore[attr-defined]
        results["expand_unfiltered_s"] = round(seconds, 2)
        seconds, _, _ = timed_expand(
            **common, output=str(work / "lp"), drop_fraction=0.3, scorer="log-probs"
        )
        results["expand_log_probs_0.3_s"] = round(seconds, 2)
        seconds, cpu, summary = timed_expand(**common, output=str(work / "bi"), drop_fraction=0.3)
        results["expand_bi_encoder_0.3_s"] = round(seconds, 2)
        results["expand_bi_encoder_0.3_cpu_s"] = round(cpu, 2)
        results["bi_encoder_pairs_per_s"] = round(summary.pairs_per_second, 1)  # type: ignore[attr-defined]
        timed_index(work / "plain", work / "index-warm-up")  # JVM start-up, not timed
        for name, folder in (("original", corpus), ("expanded", work / "plain")):
            seconds, size = timed_index(folder, work / f"index-{name}")
            results[f"index_{name}_s"] = round(seconds, 2)
            results[f"index_{name}_bytes"] = size
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
