"""Benchmark of query filtering: throughput and peak memory against input size (README numbers).

Generation-shaped records (``inpars.generate``'s fields, ~15 tokens with log-probs, doc ids of
CACM) in files of 10,000, 30,000 and 100,000 records, with empty, short, run-on, copied and
duplicate queries mixed in. Each size is filtered in a fresh process with every rule on
(``--corpus`` CACM for the copy rule, top 10,000, at most 10 per document), and measured:

- records/s and peak RSS of ``filter_queries`` (``ru_maxrss`` of its process);
- the peak of Python allocations during the filter (tracemalloc, a separate run since
  tracing slows it);
- for contrast, the same top-k by loading every record into a list and sorting it (peak RSS).

Memory that stays flat from 10k to 100k records is the point; the top-k heap holds 10,000.

Run: python bench/bench_filter.py [--sizes 10000 30000 100000] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

RUN_FILTER = """
import json, resource, sys, time, tracemalloc
from inpars.filter import FilterConfig, filter_queries
source, output, corpus, trace = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
config = FilterConfig(input=source, output=output, corpus=corpus, keep_top_k=10_000,
                      max_per_doc=10)
if trace:
    tracemalloc.start()
start = time.perf_counter()
summary = filter_queries(config)
seconds = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1] if trace else None
print(json.dumps({"seconds": seconds, "kept": summary.kept, "read": summary.read,
                  "drops": dict(summary.drops()), "traced_peak": peak,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

RUN_LOAD_ALL = """
import json, math, resource, sys, time
source, output = sys.argv[1], sys.argv[2]
start = time.perf_counter()
with open(source, encoding="utf-8") as handle:
    records = [json.loads(line) for line in handle]
for record in records:
    lp = record["log_probs"]
    record["score"] = math.fsum(lp) / len(lp) if lp else float("-inf")
records.sort(key=lambda r: r["score"], reverse=True)
with open(output, "w", encoding="utf-8") as handle:
    handle.writelines(json.dumps(r) + "\\n" for r in records[:10_000])
print(json.dumps({"seconds": time.perf_counter() - start,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def make_records(path: Path, n: int, corpus: Path, seed: int = 0) -> None:
    """Generation-shaped records with a realistic share of bad and duplicate queries."""
    from inpars.corpus import read_corpus

    docs = [doc for doc in read_corpus(corpus) if len(doc.contents.split()) >= 12]
    vocabulary = sorted({w.lower().strip(".,;:()") for d in docs[:500] for w in d.text.split()})
    rng = random.Random(seed)
    earlier: list[str] = []
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            doc = rng.choice(docs)
            roll = rng.random()
            if roll < 0.03:
                query = " "
            elif roll < 0.08 and earlier:
                query = rng.choice(earlier).upper()  # a duplicate after normalisation
            elif roll < 0.10:
                words = doc.contents.split()
                query = " ".join(words[:10])  # copied from the document
            elif roll < 0.12:
                query = " ".join(rng.choices(vocabulary, k=rng.choice([1, 60])))
            else:
                query = "what is " + " ".join(rng.choices(vocabulary, k=rng.randint(3, 12)))
            if len(earlier) < 5_000 and rng.random() < 0.5:
                earlier.append(query)
            tokens = [f" {w}" for w in query.split()] or ["\n"]
            record = {
                "doc_id": doc.id,
                "query": query,
                "log_probs": [round(-rng.expovariate(1.5), 6) for _ in tokens],
                "tokens": tokens,
                "query_index": i % 3,
                "finish_reason": "stop",
                "template": "inpars",
                "fewshot_ids": ["msmarco-1", "msmarco-2", "msmarco-3"],
                "model": "smollm2-135m",
                "engine": "hf",
                "temperature": 1.0,
                "top_p": 0.95,
                "max_new_tokens": 64,
                "seed": 0,
                "prompt_tokens": 512,
            }
            handle.write(json.dumps(record) + "\n")


def run(code: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--corpus", default=str(SHARED / "cacm"))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for n in args.sizes:
            source = work / f"gen-{n}.jsonl"
            make_records(source, n, Path(args.corpus))
            out = str(work / "out.jsonl")
            plain = run(RUN_FILTER, str(source), out, args.corpus, "0")
            traced = run(RUN_FILTER, str(source), out, args.corpus, "1")
            naive = run(RUN_LOAD_ALL, str(source), out)
            row = {
                "records": n,
                "input_mb": round(source.stat().st_size / 2**20, 1),
                "seconds": round(plain["seconds"], 2),
                "records_per_s": round(n / plain["seconds"]),
                "peak_rss_mb": round(plain["maxrss_kb"] / 1024, 1),
                "python_heap_peak_mb": round(traced["traced_peak"] / 2**20, 1),
                "load_all_peak_rss_mb": round(naive["maxrss_kb"] / 1024, 1),
                "kept": plain["kept"],
                "drops": plain["drops"],
            }
            results.append(row)
            print(
                f"{n:>7,} records ({row['input_mb']} MB): {row['seconds']:6.2f} s, "
                f"{row['records_per_s']:>7,} records/s, peak RSS {row['peak_rss_mb']} MB, "
                f"Python heap peak {row['python_heap_peak_mb']} MB "
                f"(load-all-and-sort: peak RSS {row['load_all_peak_rss_mb']} MB)",
                flush=True,
            )
            print(f"          drops: {row['drops']}, kept {row['kept']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
