"""Benchmark of BM25 at scale: inpars' own Lucene index build, its disk, and batch search.

1. corpus: ``--docs`` synthetic documents of realistic length (40-160 words, mean ~100, like
   web passages), each made of sentences sampled at random (seeded) from the shared test
   collections (/work/shared/data: cranfield, cisi, medline, cacm, adi), written as a BEIR
   ``corpus.jsonl`` under ``--workdir`` (not part of the repository). Sampled sentences give a
   real vocabulary and term statistics; they do not give a 10^7-document vocabulary's long
   tail, so the index of a real corpus of that size is somewhat larger.
2. index: ``inpars.bm25.build_index`` (what ``inpars.triples``, ``inpars.rerank`` and
   ``inpars.search --bm25`` call), positions, document vectors and raw text stored, on
   ``--threads`` indexing threads; wall seconds, documents/s and the index folder's bytes.
3. search: ``Bm25Searcher.batch_search`` of the shared collections' queries (repeated up to
   ``--queries``) at depth 1000 (``inpars.triples``' default) and 100 (``inpars.rerank``'s),
   on ``--threads`` threads; queries/s.

Wall seconds on a shared machine mostly measure the other jobs; CPU seconds (user + system,
all threads of the process, the in-process JVM included) are reported too: they are what
to extrapolate from.

Run: python bench/bench_bm25_scale.py --docs 100000 --workdir /tmp/bm25-bench [--threads 2]
     [--queries 2000] [--json results.json] [--keep]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The shared collections sit beside the checkout (../shared/data) or at /work/shared/data.
SHARED = next(
    (p for p in (REPO.parent / "shared" / "data", Path("/work/shared/data")) if p.exists()),
    REPO.parent / "shared" / "data",
)
sys.path.insert(0, str(REPO))

COLLECTIONS = ("cranfield", "cisi", "medline", "cacm", "adi")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def load_sentences() -> list[str]:
    """Every sentence of at least 4 words in the shared collections' documents."""
    sentences: list[str] = []
    for name in COLLECTIONS:
        for line in (SHARED / name / "corpus.jsonl").open(encoding="utf-8"):
            record = json.loads(line)
            text = " ".join(filter(None, (record.get("title", ""), record.get("text", ""))))
            sentences.extend(s for s in _SENTENCE_END.split(text) if len(s.split()) >= 4)
    return sentences


def load_queries(limit: int) -> list[str]:
    """The shared collections' queries, repeated in order up to ``limit``."""
    queries = [
        json.loads(line)["text"]
        for name in COLLECTIONS
        for line in (SHARED / name / "queries.jsonl").open(encoding="utf-8")
    ]
    return [queries[i % len(queries)] for i in range(limit)]


def write_corpus(path: Path, docs: int, seed: int = 0) -> tuple[int, float]:
    """Writes ``docs`` synthetic documents; returns (bytes, mean words per document)."""
    sentences = load_sentences()
    rng = random.Random(seed)
    words = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for i in range(docs):
            target = rng.randint(40, 160)
            parts: list[str] = []
            length = 0
            while length < target:
                sentence = rng.choice(sentences)
                parts.append(sentence)
                length += len(sentence.split())
            words += length
            out.write(json.dumps({"_id": f"d{i}", "title": "", "text": " ".join(parts)}) + "\n")
    return path.stat().st_size, words / docs


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (the JVM runs in it, all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the corpus and the index")
    args = parser.parse_args(argv)

    from inpars.bm25 import Bm25Searcher, build_index
    from inpars.corpus import read_corpus

    folder = args.workdir / f"corpus-{args.docs}"
    corpus_file = folder / "corpus.jsonl"
    started = time.perf_counter()
    corpus_bytes, mean_words = write_corpus(corpus_file, args.docs)
    result: dict = {
        "docs": args.docs,
        "threads": args.threads,
        "corpus_bytes": corpus_bytes,
        "mean_words": round(mean_words, 1),
        "corpus_write_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result), flush=True)

    index_dir = args.workdir / f"index-{args.docs}"
    started, cpu = time.perf_counter(), cpu_seconds()
    info = build_index(read_corpus(folder), index_dir, threads=args.threads)
    index_s = time.perf_counter() - started
    result.update(
        index_s=round(index_s, 1),
        index_cpu_s=round(cpu_seconds() - cpu, 1),
        index_docs_per_s=round(info.documents / index_s),
        index_bytes=folder_bytes(index_dir),
    )
    print(json.dumps(result), flush=True)

    queries = load_queries(args.queries)
    with Bm25Searcher(index_dir) as searcher:
        searcher.batch_search(queries[:20], 1000, args.threads)  # warm-up
        for depth in (1000, 100):
            started, cpu = time.perf_counter(), cpu_seconds()
            searcher.batch_search(queries, depth, args.threads)
            seconds = time.perf_counter() - started
            result[f"search_depth{depth}_queries_per_s"] = round(len(queries) / seconds, 1)
            result[f"search_depth{depth}_cpu_ms_per_query"] = round(
                1000 * (cpu_seconds() - cpu) / len(queries), 2
            )
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(index_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
