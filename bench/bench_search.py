"""Benchmark of dense search (numbers in the README).

For each shared collection, with the bundled all-MiniLM-L6-v2 on the CPU:

1. encoding: passages/s of ``inpars.search.ensure_embeddings`` over the whole corpus into a
   fresh folder (reading and fingerprinting the corpus, encoding, the committed writes);
2. query latency: one query at a time, encoding plus exact search of the whole corpus
   (``DenseRetriever.search``), median and 95th percentile over the collection's queries;
3. memory: the bytes of the embeddings matrix (float32) and the process's peak RSS.

Run: python bench/bench_search.py [--collections cranfield cacm] [--threads 2] [--json F]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))


def bench_collection(name: str, encoder: object) -> dict:
    from inpars.corpus import read_corpus
    from inpars.search import DenseRetriever, ensure_embeddings

    folder = SHARED / name
    queries = [json.loads(line)["text"] for line in (folder / "queries.jsonl").open()]
    with tempfile.TemporaryDirectory() as tmp:
        documents = read_corpus(folder)
        start = time.perf_counter()
        index = ensure_embeddings(documents, encoder, Path(tmp) / "emb")
        encode_s = time.perf_counter() - start
        retriever = DenseRetriever(encoder, index)
        retriever.search(queries[:2], k=10)  # warm-up
        latencies = []
        for query in queries:
            start = time.perf_counter()
            retriever.search([query], k=1000)
            latencies.append(time.perf_counter() - start)
        latencies.sort()
        return {
            "collection": name,
            "passages": len(index),
            "encode_s": encode_s,
            "passages_per_s": len(index) / encode_s,
            "queries": len(queries),
            "latency_median_ms": 1000 * statistics.median(latencies),
            "latency_p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
            "embeddings_mb": index.embeddings.nbytes / 2**20,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--collections", nargs="+", default=["cranfield", "cisi", "medline", "cacm"]
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    import torch

    from inpars.search import DenseEncoder

    torch.set_num_threads(args.threads)
    encoder = DenseEncoder.load("all-minilm-l6-v2", device="cpu")
    encoder.fingerprint()  # hashed once per model, not per corpus: kept out of the timings
    results = [bench_collection(name, encoder) for name in args.collections]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    output = {"threads": args.threads, "collections": results, "peak_rss_mb": peak_mb}
    print(json.dumps(output, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
