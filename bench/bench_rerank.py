"""Benchmark of monoT5-style reranking (numbers in the README).

Scores the same (query, document) pairs with the same random T5 two ways, side by side:

- inpars: ``MonoT5Reranker.score``: pairs batched by length, one decoder step, log-softmax
  over the ``false``/``true`` logits;
- baseline, the original InPars toolkit's loop: batches in input order, the whole string
  tokenizer-truncated, ``model.generate(max_new_tokens=1, output_scores=True)`` per batch.

Pairs are Cranfield queries with their BM25-like candidates (here: documents drawn at
random, as a reranker meets them, mixed lengths). The model is T5-small-shaped (6+6 layers,
d_model 512) with random weights: no T5 checkpoint installs offline, and speed does not
depend on the weights. Both paths are also checked to give the same scores (up to the
truncation difference: inpars keeps the "Relevant:" cue).

Run: python bench/bench_rerank.py [--pairs 512] [--batch-size 32] [--repeats 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO / "tests"))


def build_t5_small(directory: Path) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from conftest import minilm_tokenizer

    tokenizer = minilm_tokenizer()
    config = T5Config(
        vocab_size=len(tokenizer), d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8,
        decoder_start_token_id=tokenizer.pad_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def cranfield_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    from inpars.corpus import read_corpus, read_queries

    docs = [d.contents for d in read_corpus(SHARED / "cranfield")]
    queries = [q.text for q in itertools.islice(read_queries(SHARED / "cranfield"), 100)]
    rng = random.Random(seed)
    return [rng.choice(queries) for _ in range(n)], [rng.choice(docs) for _ in range(n)]


def baseline_scores(reranker, queries: list[str], docs: list[str], batch_size: int) -> list[float]:
    """The original toolkit's loop: input order, whole-string truncation, generate()."""
    import torch

    model, tokenizer = reranker.model, reranker.tokenizer
    scores: list[float] = []
    for start in range(0, len(queries), batch_size):
        texts = [
            f"Query: {q} Document: {d} Relevant:"
            for q, d in zip(
                queries[start : start + batch_size], docs[start : start + batch_size], strict=True
            )
        ]
        inputs = tokenizer(
            texts,
            truncation=True,
            max_length=reranker.max_length,
            padding=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            out = model.generate(
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"], max_new_tokens=1, do_sample=False,
                output_scores=True, return_dict_in_generate=True,
            )  # fmt: skip
        pair = out.scores[0][:, [reranker.false_id, reranker.true_id]]
        scores += torch.log_softmax(pair, dim=-1)[:, 1].tolist()
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2, help="alternating timed runs of each")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    import torch

    from inpars.rerankers import load_reranker

    torch.set_num_threads(2)
    queries, docs = cranfield_pairs(args.pairs)
    with tempfile.TemporaryDirectory() as tmp:
        reranker = load_reranker(str(build_t5_small(Path(tmp) / "t5")), max_length=args.max_length)
        reranker.score(queries[:8], docs[:8])  # warm-up
        times: dict[str, list[float]] = {"inpars": [], "baseline": []}
        for _ in range(args.repeats):
            start = time.perf_counter()
            ours = reranker.score(queries, docs, batch_size=args.batch_size)
            times["inpars"].append(time.perf_counter() - start)
            start = time.perf_counter()
            theirs = baseline_scores(reranker, queries, docs, args.batch_size)
            times["baseline"].append(time.perf_counter() - start)
    # Pairs short enough that truncation does not differ must score the same.
    same = [
        abs(a - b) < 1e-4
        for a, b, q, d in zip(ours, theirs, queries, docs, strict=True)
        if len(reranker.tokenizer.encode(f"Query: {q} Document: {d} Relevant:")) < args.max_length
    ]
    best = {name: min(values) for name, values in times.items()}
    result = {
        "pairs": args.pairs, "batch_size": args.batch_size, "max_length": args.max_length,
        "threads": torch.get_num_threads(),
        "inpars_pairs_per_s": args.pairs / best["inpars"],
        "baseline_pairs_per_s": args.pairs / best["baseline"],
        "speedup": best["baseline"] / best["inpars"],
        "equal_scores_on_untruncated_pairs": f"{sum(same)}/{len(same)}",
        "seconds": times,
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
