"""Benchmark of BM25 negative mining for triples (numbers in the README).

10,000 queries over the largest shared collection (CACM, 3,204 docs), BM25 depth 1000, one
negative per query, the same sampling (never the positive) and the same text look-ups in
every method, side by side in one invocation:

1. loop: Pyserini ``LuceneSearcher.search`` one query at a time, what the original InPars
   toolkit does;
2. pyserini batch_search: Pyserini's ``LuceneSearcher.batch_search`` with threads, per batch;
3. inpars batch_search: :meth:`inpars.bm25.Bm25Searcher.batch_search` with threads, per batch;
4. ``inpars.triples.make_triples`` end to end (validation, resumable TSV + JSON Lines output),
   with the index already built.

The queries: no 10,000-query generated file exists offline (SmolLM2 makes ~1 query/s here),
so each is a span of 4-10 consecutive words of a random CACM document, a stand-in with the
length and vocabulary of generated queries.

Run: python bench/bench_triples.py [--queries 10000] [--depth 1000] [--threads 2]
     [--skip-pyserini] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))


def make_queries(corpus: Path, n: int, seed: int = 0) -> list[dict[str, str]]:
    from inpars.corpus import read_corpus

    docs = [doc for doc in read_corpus(corpus) if len(doc.contents.split()) >= 4]
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        doc = rng.choice(docs)
        words = doc.contents.split()
        length = rng.randint(4, 10)
        start = rng.randrange(max(1, len(words) - length + 1))
        rows.append({"doc_id": doc.id, "query": " ".join(words[start : start + length])})
    return rows


def sample_one(doc_ids: list[str], positive: str, rng: random.Random) -> int | None:
    """The rank (0-based) of one random hit that is not the positive, as every method does."""
    candidates = [i for i, doc_id in enumerate(doc_ids) if doc_id != positive]
    return rng.choice(candidates) if candidates else None


def run_loop(searcher, rows, depth: int) -> int:
    """The original toolkit: one search call per query, texts from the stored raw document."""
    rng = random.Random(0)
    triples = 0
    for row in rows:
        hits = searcher.search(row["query"], k=depth)
        rank = sample_one([hit.docid for hit in hits], row["doc_id"], rng)
        if rank is None:
            continue
        positive = json.loads(searcher.doc(row["doc_id"]).raw())["contents"]
        negative = json.loads(searcher.doc(hits[rank].docid).raw())["contents"]
        triples += bool(positive and negative)
    return triples


def run_pyserini_batch(searcher, rows, depth: int, threads: int, batch: int) -> int:
    rng = random.Random(0)
    triples = 0
    for first in range(0, len(rows), batch):
        chunk = rows[first : first + batch]
        qids = [str(i) for i in range(len(chunk))]
        results = searcher.batch_search([r["query"] for r in chunk], qids, k=depth, threads=threads)
        for qid, row in zip(qids, chunk, strict=True):
            hits = results[qid]
            rank = sample_one([hit.docid for hit in hits], row["doc_id"], rng)
            if rank is None:
                continue
            positive = json.loads(searcher.doc(row["doc_id"]).raw())["contents"]
            negative = json.loads(searcher.doc(hits[rank].docid).raw())["contents"]
            triples += bool(positive and negative)
    return triples


def run_inpars_batch(searcher, rows, depth: int, threads: int, batch: int) -> int:
    rng = random.Random(0)
    triples = 0
    for first in range(0, len(rows), batch):
        chunk = rows[first : first + batch]
        rankings = searcher.batch_search([r["query"] for r in chunk], depth, threads)
        for row, ranking in zip(chunk, rankings, strict=True):
            position = ranking.position_of(searcher.lucene_id(row["doc_id"]))
            candidates = [i for i in range(len(ranking)) if i != position]
            if not candidates:
                continue
            hit = ranking[rng.choice(candidates)]
            positive = searcher.doc_contents(row["doc_id"])
            negative = searcher.doc_contents(hit.doc_id)
            triples += bool(positive and negative)
    return triples


def timed(label: str, n: int, work: Callable[[], int], results: list[dict]) -> None:
    start = time.perf_counter()
    triples = work()
    seconds = time.perf_counter() - start
    results.append(
        {
            "method": label,
            "queries": n,
            "triples": triples,
            "seconds": round(seconds, 2),
            "queries_per_s": round(n / seconds, 1),
        }
    )
    print(f"{label:<58} {seconds:8.1f} s {n / seconds:9.1f} q/s  ({triples} triples)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--corpus", default=str(SHARED / "cacm"))
    parser.add_argument("--skip-pyserini", action="store_true", help="skip methods 1 and 2")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    from inpars.bm25 import Bm25Searcher, ensure_index
    from inpars.corpus import read_corpus
    from inpars.triples import TriplesConfig, make_triples

    rows = make_queries(Path(args.corpus), args.queries)
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        queries = work / "queries.jsonl"
        queries.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        start = time.perf_counter()
        info = ensure_index(read_corpus(args.corpus), work / "index", threads=args.threads)
        print(
            f"index: {info.documents} docs in {time.perf_counter() - start:.1f} s "
            "(JVM start included)"
        )
        searcher = Bm25Searcher(info.path)
        # Warm the JVM's JIT for every method alike.
        warm = rows[:200]
        run_inpars_batch(searcher, warm, args.depth, args.threads, args.batch_size)
        run_loop(searcher.pyserini, warm, args.depth)
        n, d, t, b = len(rows), args.depth, args.threads, args.batch_size
        if not args.skip_pyserini:
            timed(
                "1. loop: pyserini search(), one query at a time",
                n,
                lambda: run_loop(searcher.pyserini, rows, d),
                results,
            )
            timed(
                f"2. pyserini batch_search(), {t} threads",
                n,
                lambda: run_pyserini_batch(searcher.pyserini, rows, d, t, b),
                results,
            )
        timed(
            f"3. inpars Bm25Searcher.batch_search(), {t} threads",
            n,
            lambda: run_inpars_batch(searcher, rows, d, t, b),
            results,
        )
        timed(
            "3b. inpars Bm25Searcher.batch_search(), 1 thread",
            n,
            lambda: run_inpars_batch(searcher, rows, d, 1, b),
            results,
        )
        searcher.close()
        config = TriplesConfig(
            queries=str(queries),
            corpus=args.corpus,
            output=str(work / "t.tsv"),
            index=str(info.path),
            depth=d,
            threads=t,
            batch_size=b,
        )
        timed(
            f"4. inpars.triples make_triples() end to end, {t} threads",
            n,
            lambda: make_triples(config).triples,
            results,
        )
    if not args.skip_pyserini:
        base = results[0]["seconds"]
        for row in results:
            row["speedup_vs_loop"] = round(base / row["seconds"], 1)
            print(f"{row['method']:<58} {row['speedup_vs_loop']:5.1f}x the loop")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
