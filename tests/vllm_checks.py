"""The vLLM engine's checks that need vLLM, run in the vLLM environment with one engine start.

Run by ``tests/test_vllm_engine.py`` as ``<vllm python> tests/vllm_checks.py OUT.json REF.jsonl``
(starting vLLM costs a minute or two on a CPU, so one process does every check): it generates
with the bundled SmolLM2 through :class:`~inpars.engines.vllm.VLLMEngine` and writes what it
got to ``OUT.json``; the test asserts on it from the main environment, where the hf engine
recomputes the log-probs. Last, it writes ``REF.jsonl`` with :func:`inpars.generate.generate`
(the uninterrupted run the command-line resume test compares with).
"""

from __future__ import annotations

import dataclasses
import json
import sys

#: Documents of different lengths and topics.
DOCS = [
    "The boundary layer on a flat plate in supersonic flow was measured with pitot probes; "
    "heat transfer to the wall increases with Mach number.",
    "Creep buckling of thin cylindrical shells under axial compression is analysed with a "
    "nonlinear theory and compared with tests on aluminium shells.",
    "Aspirin lowers the risk of a second heart attack in patients with coronary disease.",
    "A survey of numerical methods for the Navier-Stokes equations at high Reynolds number, "
    "with finite differences, finite volumes and spectral methods compared on a cavity flow.",
]

#: The settings of the resume test's runs (command line and library alike).
RUN = {
    "corpus": "sample",
    "num_queries_per_doc": 2,
    "temperature": 0.8,
    "top_p": 0.95,
    "max_new_tokens": 16,
    "seed": 3,
}


def main(out_path: str, reference_path: str) -> None:
    from inpars.engines.base import Request, SamplingParams, query_seed
    from inpars.engines.vllm import VLLMEngine
    from inpars.generate import GenerateConfig, generate
    from inpars.models import model_folder, resolve_model
    from inpars.prompts import PromptBuilder, load_template

    engine = VLLMEngine("smollm2-135m", dtype="float32", max_model_len=2048)
    builder = PromptBuilder(load_template("inpars"), engine.tokenizer, max_doc_tokens=128)
    prompts = [builder.render(doc) for doc in DOCS]
    requests = [
        Request(prompt, tuple(query_seed(7, f"doc{i}", j) for j in range(3)))
        for i, prompt in enumerate(prompts)
    ]
    sampled = SamplingParams(max_new_tokens=24, temperature=1.0, top_p=0.95)

    def dump(results: list[list]) -> list[list[dict]]:
        return [[dataclasses.asdict(gen) for gen in gens] for gens in results]

    together = engine.generate(requests, sampled)
    alone = [engine.generate([request], sampled)[0] for request in requests]
    reversed_order = engine.generate(requests[::-1], sampled)[::-1]
    # The same prompts in another company: each next to a copy of itself with other seeds.
    others = [Request(r.prompt, tuple(s + 1 for s in r.seeds)) for r in requests]
    pairs = [x for pair in zip(others, requests, strict=True) for x in pair]
    interleaved = engine.generate(pairs, sampled)
    mixed = interleaved[1::2]
    other_seeds = interleaved[0::2]
    greedy = engine.generate(requests, SamplingParams(max_new_tokens=24))
    short = engine.generate(requests, SamplingParams(max_new_tokens=3))
    result = {
        "model_folder": model_folder(resolve_model("smollm2-135m")),
        "context_length": engine.context_length,
        "prompts": prompts,
        "together": dump(together),
        "alone": dump(alone),
        "reversed": dump(reversed_order),
        "mixed": dump(mixed),
        "other_seeds": dump(other_seeds),
        "greedy": dump(greedy),
        "short": dump(short),
    }
    # Last: generate() closes the engine when it is done.
    config = GenerateConfig(output=reference_path, batch_size=5, **RUN)
    generate(engine, config, overwrite=True, show_progress=False)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":  # vLLM's engine core is a spawned process that imports __main__
    main(sys.argv[1], sys.argv[2])
