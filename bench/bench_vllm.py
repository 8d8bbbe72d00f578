"""Benchmark: the vllm engine against the hf engine, queries/s on the same Cranfield documents.

Each engine runs ``python -m inpars.generate`` once, as a user would, on the same documents
(the first N of Cranfield, by --doc-ids), with the bundled SmolLM2, the same prompt, dtype,
batch size and max new tokens: hf from this environment, vllm from the vLLM environment
(``.venv-vllm``, made by ``bash scripts/install.sh --vllm``). Reported per engine: queries/s
of the generation itself (the run manifest's documents and seconds, model loading excluded)
and the wall-clock seconds of the whole command (loading, vLLM's start and compile included),
with the machine's load average before and after, since the machine may be shared.

Run: python bench/bench_vllm.py [--corpus ../shared/data/cranfield] [--docs 100]
     [--batch-size 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
VLLM_PYTHON = Path(os.environ.get("INPARS_VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))


def first_doc_ids(corpus: Path, n: int, path: Path) -> Path:
    """Writes the ids of the first ``n`` documents of ``corpus`` to ``path``."""
    from inpars.corpus import read_corpus

    ids = [doc.id for doc in itertools.islice(read_corpus(corpus), n)]
    path.write_text("".join(f"{doc_id}\n" for doc_id in ids), encoding="utf-8")
    return path


def run(python: Path, engine: str, common: list[str], output: Path, env: dict) -> dict:
    """One ``python -m inpars.generate`` invocation; its timings and the manifest's counts."""
    load_before = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.run(
        [str(python), "-m", "inpars.generate", "--engine", engine, *common,
         "--output", str(output)],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{engine} failed:\n{proc.stderr[-4000:]}")
    manifest = json.loads(Path(f"{output}.manifest.json").read_text(encoding="utf-8"))
    done = manifest["last_invocation"]
    return {
        "engine": engine,
        "queries": done["queries"],
        "generation_s": done["seconds"],
        "queries_per_s": done["queries"] / done["seconds"],
        "generated_tokens_per_s": done["completion_tokens"] / done["seconds"],
        "wall_s": wall,
        "queries_per_s_wall": done["queries"] / wall,
        "load_avg_1min_before": round(load_before[0], 2),
        "load_avg_1min_after": round(os.getloadavg()[0], 2),
    }


def queries(path: Path) -> dict[tuple[str, int], str]:
    """The queries of a generate output by (doc id, query index)."""
    records = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    return {(r["doc_id"], r["query_index"]): r["query"] for r in records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=SHARED / "cranfield",
                        help="the BEIR folder whose first --docs documents are used")
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--kv-cache-gib", default="2",
                        help="VLLM_CPU_KVCACHE_SPACE for vLLM's CPU build (GiB)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    if not VLLM_PYTHON.is_file():
        raise SystemExit(f"no vLLM environment at {VLLM_PYTHON}: bash scripts/install.sh --vllm")
    results: dict = {"cpus": os.cpu_count(), "docs": args.docs, "batch_size": args.batch_size,
                     "max_new_tokens": args.max_new_tokens, "dtype": args.dtype, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        ids = first_doc_ids(args.corpus, args.docs, Path(tmp) / "ids.txt")
        common = ["--model", "smollm2-135m", "--corpus", str(args.corpus),
                  "--doc-ids", str(ids), "--dtype", args.dtype,
                  "--batch-size", str(args.batch_size),
                  "--max-new-tokens", str(args.max_new_tokens), "--quiet"]
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": args.kv_cache_gib}
        for python, engine in ((Path(sys.executable), "hf"), (VLLM_PYTHON, "vllm")):
            result = run(python, engine, common, Path(tmp) / f"{engine}.jsonl", env)
            results["runs"].append(result)
            print(json.dumps(result, indent=2), flush=True)
        hf, vllm = results["runs"]
        results["vllm_over_hf_queries_per_s"] = vllm["queries_per_s"] / hf["queries_per_s"]
        # Greedy decoding of the same weights: how often both engines wrote the same query.
        hf_queries, vllm_queries = (queries(Path(tmp) / f"{e}.jsonl") for e in ("hf", "vllm"))
        same = sum(hf_queries[key] == vllm_queries.get(key) for key in hf_queries)
        results["same_query_fraction"] = same / len(hf_queries)
    print(json.dumps({k: v for k, v in results.items() if k != "runs"}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
