"""Benchmark of query generation (numbers in the README).

1. Local: the hf engine on N Cranfield documents with the bundled SmolLM2 against a loop that
   reproduces the original InPars toolkit's method (one document per generate() call, the
   full prompt every time, the argmax's log-prob), same model, prompts and max new tokens,
   side by side in one invocation.
2. API: the openai engine against a local server answering every request after a fixed
   200 ms: requests/s for 500 prompts at concurrency 16, against the ideal 16 / 0.2 = 80/s.
3. Memory: peak RSS of `python -m inpars.generate` for 100 and for 1,000 documents of the
   largest shared collection (tiny random model, so the pipeline, not the model, is measured).

Run: python bench/bench_generate.py [--docs 100] [--skip-api] [--skip-memory]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO / "tests"))


def cranfield_prompts(engine, n: int, max_doc_tokens: int) -> list[str]:
    from inpars.corpus import read_corpus
    from inpars.prompts import PromptBuilder, load_template

    builder = PromptBuilder(load_template("inpars"), engine.tokenizer, max_doc_tokens)
    docs = itertools.islice(read_corpus(SHARED / "cranfield"), n)
    return [builder.render(doc.contents) for doc in docs]


def baseline_loop(engine, prompts: list[str], max_new_tokens: int) -> tuple[int, float]:
    """The original toolkit's loop: batch size 1, full prompt, argmax log-prob."""
    import torch

    model, tokenizer = engine._model, engine._tokenizer
    newline = tokenizer.encode("\n", add_special_tokens=False)[0]
    tokens = 0
    start = time.perf_counter()
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(
                **ids, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=newline,
                pad_token_id=tokenizer.eos_token_id, return_dict_in_generate=True,
                output_scores=True,
            )
        new = out.sequences[0, ids["input_ids"].shape[1]:]
        _ = [torch.log_softmax(s, -1).max().item() for s in out.scores]  # its "log-probs"
        tokens += len(new)
    return tokens, time.perf_counter() - start


def bench_local(n_docs: int, batch_size: int, max_new_tokens: int, dtype: str) -> dict:
    from inpars.engines.base import Request, SamplingParams
    from inpars.engines.hf import HFEngine
    from inpars.generate import _LOOKAHEAD_BATCHES

    engine = HFEngine("smollm2-135m", dtype=dtype)  # the baseline runs the same weights
    prompts = cranfield_prompts(engine, n_docs, 256)
    # inpars: batches of documents of similar length (as the generate stage forms them).
    ordered = []
    window = batch_size * _LOOKAHEAD_BATCHES
    for i in range(0, len(prompts), window):
        ordered += sorted(prompts[i : i + window], key=len)
    params = SamplingParams(max_new_tokens=max_new_tokens)
    start = time.perf_counter()
    tokens = 0
    for i in range(0, len(ordered), batch_size):
        requests = [Request(prompt, (0,)) for prompt in ordered[i : i + batch_size]]
        for gens in engine.generate(requests, params):
            tokens += gens[0].completion_tokens
    inpars_s = time.perf_counter() - start
    base_tokens, base_s = baseline_loop(engine, prompts, max_new_tokens)
    result = {
        "docs": n_docs, "batch_size": batch_size, "max_new_tokens": max_new_tokens, "dtype": dtype,
        "inpars_queries_per_s": n_docs / inpars_s, "inpars_tokens_per_s": tokens / inpars_s,
        "baseline_queries_per_s": n_docs / base_s, "baseline_tokens_per_s": base_tokens / base_s,
        "inpars_s": inpars_s, "baseline_s": base_s,
    }
    result["speedup"] = result["inpars_queries_per_s"] / result["baseline_queries_per_s"]
    return result


def bench_api(n_prompts: int = 500, concurrency: int = 16, latency_s: float = 0.2) -> dict:
    from inpars.engines.base import Request, SamplingParams
    from inpars.engines.openai import OpenAIEngine

    from fake_openai_server import FakeOpenAIServer

    prompts = [f"Document: document number {i}\nRelevant Query:" for i in range(n_prompts)]
    with FakeOpenAIServer(latency_s=latency_s) as server:
        engine = OpenAIEngine(model="fake", base_url=server.base_url, concurrency=concurrency)
        start = time.perf_counter()
        requests = [Request(prompt, (0,)) for prompt in prompts]
        results = engine.generate(requests, SamplingParams(max_new_tokens=32))
        seconds = time.perf_counter() - start
        engine.close()
    assert len(results) == n_prompts
    ideal = concurrency / latency_s
    rate = n_prompts / seconds
    return {"prompts": n_prompts, "concurrency": concurrency, "latency_s": latency_s,
            "requests_per_s": rate, "ideal_per_s": ideal, "fraction_of_ideal": rate / ideal,
            "seconds": seconds}


def peak_rss_mb(args: list[str]) -> float:
    """Peak resident memory of a child process running ``python -m inpars.generate``."""
    code = (
        "import resource, runpy, sys; sys.argv = ['inpars.generate'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('inpars.generate', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True, cwd=REPO)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def bench_memory(sizes: tuple[int, ...] = (100, 1000)) -> dict:
    from conftest import build_tiny_causal_lm

    corpus = SHARED / "cacm"
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_causal_lm(Path(tmp) / "lm")
        for n in sizes:
            out = Path(tmp) / f"q{n}.jsonl"
            result[n] = peak_rss_mb(
                ["--model", str(model), "--corpus", str(corpus), "--max-docs", str(n),
                 "--max-new-tokens", "8", "--batch-size", "16", "--quiet", "--output", str(out)]
            )
    return {"corpus": "cacm", "peak_rss_mb": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument(
        "--dtype", default="float32", choices=["float32", "bfloat16"],
        help="weights and activations of both the engine and the baseline",
    )
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--skip-api", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    results: dict = {"threads": torch.get_num_threads()}
    if not args.skip_local:
        results["local"] = bench_local(
            args.docs, args.batch_size, args.max_new_tokens, args.dtype
        )
        print(json.dumps(results["local"], indent=2), flush=True)
    if not args.skip_api:
        results["api"] = bench_api()
        print(json.dumps(results["api"], indent=2), flush=True)
    if not args.skip_memory:
        results["memory"] = bench_memory()
        print(json.dumps(results["memory"], indent=2), flush=True)
    results["maxrss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
