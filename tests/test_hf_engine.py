"""The hf engine: exact log-probs, newline stopping, prefix caching, determinism."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from inpars.engines.base import SamplingParams
from inpars.engines.hf import HFEngine
from inpars.prompts import PromptBuilder, load_template

from conftest import build_tiny_causal_lm, make_requests

DOCS = [
    "The boundary layer on a flat plate in supersonic flow was measured with pitot probes; "
    "heat transfer to the wall increases with Mach number.",
    "Creep buckling of thin cylindrical shells under axial compression is analysed with a "
    "nonlinear theory and compared with tests on aluminium shells.",
    "Aspirin lowers the risk of a second heart attack in patients with coronary disease.",
]


def recomputed_log_likelihood(engine: HFEngine, prompt: str, token_ids: list[int]) -> list[float]:
    """Log-prob of each generated token given the prompt, from one separate forward pass."""
    prompt_ids = engine.encode_prompt(prompt)
    ids = torch.tensor([prompt_ids + token_ids])
    with torch.inference_mode():
        logits = engine._model(input_ids=ids).logits[0].float()
    log_probs = torch.log_softmax(logits, dim=-1)
    start = len(prompt_ids)
    return [log_probs[start + i - 1, t].item() for i, t in enumerate(token_ids)]


def run(engine: HFEngine, prompts: list[str], n: int, params: SamplingParams) -> list:
    """``n`` completions of each prompt, seeded from ``params.seed`` as a run would seed them."""
    return engine.generate(make_requests(prompts, n, params.seed or 0), params)


@pytest.fixture(scope="module")
def prompts(smollm2: HFEngine) -> list[str]:
    builder = PromptBuilder(load_template("inpars"), smollm2.tokenizer, max_doc_tokens=128)
    return [builder.render(doc) for doc in DOCS]


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(max_new_tokens=24),
        SamplingParams(max_new_tokens=24, temperature=1.0, top_p=0.9, seed=7),
    ],
    ids=["greedy", "sampled"],
)
def test_log_probs_equal_the_models_likelihood_of_the_query(smollm2, prompts, params):
    results = run(smollm2, prompts, 2, params)
    assert [len(gens) for gens in results] == [2, 2, 2]
    for prompt, gens in zip(prompts, results, strict=True):
        for gen in gens:
            assert gen.token_ids, "expected a non-empty query"
            assert len(gen.log_probs) == len(gen.tokens) == len(gen.token_ids)
            expected = recomputed_log_likelihood(smollm2, prompt, gen.token_ids)
            assert sum(gen.log_probs) == pytest.approx(sum(expected), abs=1e-3)
            assert gen.log_probs == pytest.approx(expected, abs=1e-3)
            assert "\n" not in gen.text
            assert gen.text == smollm2._tokenizer.decode(gen.token_ids).strip()


def test_sampled_log_probs_are_of_the_sampled_token_not_the_argmax(smollm2, prompts):
    params = SamplingParams(max_new_tokens=24, temperature=1.5, top_p=1.0, seed=3)
    gens = [g for gens in run(smollm2, prompts, 3, params) for g in gens]
    prompt_of = [p for p in prompts for _ in range(3)]
    off_argmax = 0
    for prompt, gen in zip(prompt_of, gens, strict=True):
        ids = torch.tensor([smollm2.encode_prompt(prompt) + gen.token_ids])
        with torch.inference_mode():
            log_probs = torch.log_softmax(smollm2._model(input_ids=ids).logits[0], dim=-1)
        start = len(ids[0]) - len(gen.token_ids)
        for i, recorded in enumerate(gen.log_probs):
            best = log_probs[start + i - 1].max().item()
            if best - recorded > 0.1:
                off_argmax += 1
    # At temperature 1.5 many sampled tokens are not the most likely one; recording the
    # argmax's log-prob (as the original toolkit did) would make this count zero.
    assert off_argmax >= 3


def test_prefix_cache_gives_the_same_queries_and_log_probs(smollm2, prompts):
    params = SamplingParams(max_new_tokens=20)
    smollm2.prefix_cache = True
    cached = run(smollm2, prompts, 1, params)
    smollm2.prefix_cache = False
    try:
        plain = run(smollm2, prompts, 1, params)
    finally:
        smollm2.prefix_cache = True
    for (a,), (b,) in zip(cached, plain, strict=True):
        assert a.text == b.text
        assert a.log_probs == pytest.approx(b.log_probs, abs=1e-4)


def test_rows_leaving_the_batch_early_do_not_disturb_the_others(smollm2, prompts):
    # Queries of different lengths: rows that stop first leave the batch (and its key/value
    # cache); each remaining row must still decode exactly as it would alone.
    params = SamplingParams(max_new_tokens=24)
    together = [gens[0] for gens in run(smollm2, prompts, 1, params)]
    assert len({len(gen.token_ids) for gen in together}) > 1
    for prompt, gen in zip(prompts, together, strict=True):
        [[alone]] = run(smollm2, [prompt], 1, params)
        assert gen.token_ids == alone.token_ids
        assert gen.log_probs == pytest.approx(alone.log_probs, abs=1e-4)


def test_same_seed_same_output_other_seed_other_output(smollm2, prompts):
    def run(seed: int) -> list[str]:
        params = SamplingParams(max_new_tokens=16, temperature=1.0, top_p=0.95, seed=seed)
        return [g.text for gens in run(smollm2, prompts, 3, params) for g in gens]

    first = run(11)
    assert run(11) == first
    assert run(12) != first


def test_generation_stops_at_a_newline_inside_a_merged_token(smollm2):
    # SmolLM2's vocabulary has tokens such as "\n\n" and ".\n" besides the bare "\n":
    # a stop on one token id (GPT-2's 198) would run past them.
    tok = smollm2._tokenizer
    words = tok.encode(" what is the flow", add_special_tokens=False)
    # The query is the text before the newline; a token with text before it counts.
    cases = [("\n\n", False, "what is the flow"), (".\n", True, "what is the flow.")]
    for piece, token_kept, text in cases:
        ids = tok.encode(piece, add_special_tokens=False)
        if len(ids) != 1:
            continue
        assert ids[0] != 198
        gen = smollm2._finish([*words, ids[0], *words], [-0.5] * (len(words) * 2 + 1), 10,
                              SamplingParams())
        assert gen.finish_reason == "stop"
        assert gen.token_ids == words + (ids if token_kept else [])
        assert gen.text == text


def test_newline_stop_with_a_tokenizer_whose_newline_is_not_198(tmp_path: Path):
    model_dir = build_tiny_causal_lm(tmp_path / "lm", newline_first=True)
    engine = HFEngine(str(model_dir))
    assert engine._tokenizer.convert_tokens_to_ids("Ċ") == 0  # newline is token 0 here
    [[gen]] = run(engine, ["Document: a b c\nQuery:"], 1, SamplingParams(max_new_tokens=8))
    assert gen.finish_reason == "stop"
    assert gen.text == "" and gen.tokens == [] and gen.log_probs == []
    assert gen.completion_tokens == 1
    # A newline arriving inside a merged token ("?\n") also ends the query, keeping "?".
    q = engine._tokenizer.convert_tokens_to_ids("?Ċ")
    the = engine._tokenizer.convert_tokens_to_ids("Ġthe")
    cut = engine._finish([the, the, q, the], [-1.0] * 4, 5, SamplingParams())
    assert cut.token_ids == [the, the, q] and cut.finish_reason == "stop"
    assert cut.text == "the the?" and cut.log_probs == [-1.0] * 3


def test_max_new_tokens_gives_finish_reason_length(tiny_lm: Path):
    engine = HFEngine(str(tiny_lm))
    gens = run(engine, ["Document: x\nQuery:"] * 2, 2, SamplingParams(max_new_tokens=5))
    for gen in (g for gs in gens for g in gs):
        if gen.finish_reason == "length":
            assert len(gen.token_ids) == 5
        assert all(math.isfinite(x) and x <= 0 for x in gen.log_probs)
