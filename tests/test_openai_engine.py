"""The 'openai' engine against the fake OpenAI-compatible server (fast, no model)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inpars.engines import Engine, SamplingParams
from inpars.engines import openai as openai_engine
from inpars.engines.base import Request
from inpars.engines.openai import OpenAIEngine, _retry_after_s, _split
from inpars.errors import InparsError

from fake_openai_server import FakeOpenAIServer, answer_words

KEY_ENV = "INPARS_TEST_OPENAI_KEY"
SECRET = "sk-test-secret-0123456789"
GREEDY = SamplingParams(max_new_tokens=32, temperature=0.0, seed=0)
SAMPLED = SamplingParams(max_new_tokens=32, temperature=0.7, top_p=0.9, seed=5)


def prompts(count: int) -> list[str]:
    """Few-shot-like prompts whose last lines differ, so answers identify their prompt."""
    return [f"Document: text {i}\nRelevant query: q\n\nDocument: doc {i}" for i in range(count)]


def seeded(batch: list[str], n: int, params: SamplingParams) -> list[Request]:
    """Requests for ``batch``, ``n`` completions each, seeded ``params.seed``, ``+ 1``, ..."""
    first = params.seed or 0
    return [Request(prompt, tuple(range(first, first + n))) for prompt in batch]


def expected_text(prompt: str) -> str:
    return " ".join(answer_words(prompt))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(slow_s=0.6) as fake:
        yield fake


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


def make_engine(server: FakeOpenAIServer, **options: object) -> OpenAIEngine:
    settings: dict[str, object] = {
        "model": "fake-model",
        "base_url": server.base_url,
        "api_key_env": KEY_ENV,
        "request_timeout": 0.3,
        "backoff_s": 0.01,  # tests must not sleep for real backoffs
        "max_backoff_s": 0.05,
    }
    settings.update(options)
    return OpenAIEngine(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_returns_texts_tokens_and_log_probs(server: FakeOpenAIServer, api: str) -> None:
    engine = make_engine(server, api=api)
    assert isinstance(engine, Engine)
    batch = prompts(3)
    results = engine.generate(seeded(batch, 1, GREEDY), GREEDY)
    assert len(results) == 3
    for prompt, generations in zip(batch, results, strict=True):
        (generation,) = generations
        assert generation.text == expected_text(prompt)
        assert "".join(generation.tokens) == generation.text
        assert generation.log_probs == pytest.approx(
            [-0.1 * (j + 1) for j in range(len(generation.tokens))]
        )
        assert generation.finish_reason == "stop"
        assert generation.prompt_tokens == len(prompt.split())
        assert generation.completion_tokens == len(generation.tokens)
    body = server.completion_requests()[0].body
    assert body["model"] == "fake-model"
    assert body["stop"] == ["\n"]
    assert body["max_tokens"] == 32
    assert body["temperature"] == 0.0
    assert body["seed"] == 0
    assert body["n"] == 1
    if api == "chat":
        assert server.completion_requests()[0].path == "/v1/chat/completions"
        assert body["logprobs"] is True
        assert body["messages"][0]["role"] == "user"
    else:
        assert server.completion_requests()[0].path == "/v1/completions"
        assert body["logprobs"] == 1


def test_n_choices_in_one_request(server: FakeOpenAIServer) -> None:
    engine = make_engine(server)
    results = engine.generate(seeded(prompts(2), 3, SAMPLED), SAMPLED)
    assert [len(generations) for generations in results] == [3, 3]
    assert [g.text.split()[-1] for g in results[0]] == ["#5", "#6", "#7"]
    assert len(server.completion_requests()) == 2
    assert server.completion_requests()[0].body["top_p"] == 0.9


def test_server_ignoring_n_gets_more_requests_with_new_seeds(server: FakeOpenAIServer) -> None:
    server.max_choices = 1  # like llama.cpp, which answers one choice whatever n is
    engine = make_engine(server)
    (generations,) = engine.generate([Request(prompts(1)[0], (50, 7, 900))], SAMPLED)
    # Each request carries the seed of the first completion still missing.
    assert [g.text.split()[-1] for g in generations] == ["#50", "#7", "#900"]
    requests = server.completion_requests()
    assert [r.body["n"] for r in requests] == [3, 2, 1]
    assert [r.body["seed"] for r in requests] == [50, 7, 900]


def test_a_request_with_n_carries_its_first_seed(server: FakeOpenAIServer) -> None:
    engine = make_engine(server)
    (generations,) = engine.generate([Request(prompts(1)[0], (50, 7, 900))], SAMPLED)
    assert [g.text.split()[-1] for g in generations] == ["#50", "#51", "#52"]
    (request,) = server.completion_requests()
    assert (request.body["n"], request.body["seed"]) == (3, 50)


def test_server_ignoring_stop_is_cut_at_the_newline(server: FakeOpenAIServer) -> None:
    server.ignore_stop = True
    (prompt,) = prompts(1)
    ((generation,),) = make_engine(server).generate(seeded([prompt], 1, GREEDY), GREEDY)
    assert generation.text == expected_text(prompt)
    assert "\n" not in "".join(generation.tokens)
    assert len(generation.log_probs) == len(generation.tokens)
    assert generation.finish_reason == "stop"


def test_length_limit(server: FakeOpenAIServer) -> None:
    params = SamplingParams(max_new_tokens=2, temperature=0.0)
    ((generation,),) = make_engine(server).generate(seeded(prompts(1), 1, params), params)
    assert generation.tokens == ["query", " about"]
    assert generation.finish_reason == "length"


def test_concurrency_is_bounded(server: FakeOpenAIServer) -> None:
    server.latency_s = 0.05
    engine = make_engine(server, concurrency=4, request_timeout=5)
    results = engine.generate(seeded(prompts(24), 1, GREEDY), GREEDY)
    assert len(results) == 24
    assert server.max_in_flight == 4


def test_retry_after_is_honoured(server: FakeOpenAIServer) -> None:
    server.faults = ["429:0.4"]
    engine = make_engine(server)
    (prompt,) = prompts(1)
    ((generation,),) = engine.generate(seeded([prompt], 1, GREEDY), GREEDY)
    assert generation.text == expected_text(prompt)
    first, second = server.completion_requests()
    assert second.received_at - first.received_at >= 0.4
    assert engine.usage.retries == 1
    assert engine.usage.requests == 2


def test_a_long_retry_after_is_honoured_in_full_and_counted(server: FakeOpenAIServer) -> None:
    server.faults = ["429:120", "503"]  # asks for two minutes (was cut to 60 s), then a 503
    engine = make_engine(server)
    waits: list[float] = []

    async def record(seconds: float) -> None:  # two minutes of real waiting in a test: no
        waits.append(seconds)

    engine._sleep = record
    ((generation,),) = engine.generate(seeded(prompts(1), 1, GREEDY), GREEDY)
    assert generation.text == expected_text(prompts(1)[0])
    assert 120 <= waits[0] <= 132 and waits[1] < 1
    assert (engine.usage.retries, engine.usage.retry_after_waits) == (2, 1)
    assert engine.usage.waited_s == pytest.approx(sum(waits))
    rows = dict(engine.usage.rows())
    assert rows["API retries"] == "2 (1 after Retry-After)"


def test_retry_after_beyond_the_maximum_wait_fails_with_a_clear_message(
    server: FakeOpenAIServer,
) -> None:
    server.faults = ["429:3600"]
    engine = make_engine(server, max_retry_wait_s=60)
    with pytest.raises(InparsError, match=r"wait 3,600 s .*--max-retry-wait \(60 s\)"):
        engine.generate(seeded(prompts(1), 1, GREEDY), GREEDY)
    assert len(server.completion_requests()) == 1


def test_retry_after_header_forms() -> None:
    assert _retry_after_s({"retry-after": "2"}) == 2.0
    assert _retry_after_s({"retry-after": "0.25"}) == 0.25
    assert _retry_after_s({"retry-after-ms": "150", "retry-after": "9"}) == 0.15
    in_ten_s = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 10))
    assert 8 <= (_retry_after_s({"retry-after": in_ten_s}) or 0) <= 10
    assert _retry_after_s({"retry-after": "soon"}) is None
    assert _retry_after_s({}) is None


def test_every_transient_fault_is_retried_without_loss(server: FakeOpenAIServer) -> None:
    faults = ["500", "slow", "badjson", "429:0.05", "503", "drop", "nochoices"]
    server.faults = list(faults)
    engine = make_engine(server, concurrency=3)
    batch = prompts(10)
    results = engine.generate(seeded(batch, 1, GREEDY), GREEDY)
    # Exactly one result per prompt, in prompt order: none lost, duplicated or swapped.
    assert [[g.text for g in generations] for generations in results] == [
        [expected_text(prompt)] for prompt in batch
    ]
    assert len(server.completion_requests()) == len(batch) + len(faults)
    assert engine.usage.retries == len(faults)
    assert engine.usage.requests == len(batch) + len(faults)


def test_gives_up_after_max_retries(server: FakeOpenAIServer) -> None:
    server.faults = ["500"] * 10
    engine = make_engine(server, max_retries=2)
    with pytest.raises(InparsError, match=r"failed 3 times; last error: HTTP 500: .*fake"):
        engine.generate(seeded(prompts(1), 1, GREEDY), GREEDY)
    assert len(server.completion_requests()) == 3


def test_client_error_fails_fast_with_the_servers_message(server: FakeOpenAIServer) -> None:
    server.faults = ["400"]
    engine = make_engine(server, max_retries=6)
    with pytest.raises(InparsError, match=r"HTTP 400: This model's maximum context length"):
        engine.generate(seeded(prompts(1), 1, GREEDY), GREEDY)
    assert len(server.completion_requests()) == 1
    assert engine.usage.retries == 0


def test_missing_log_probs_is_a_clear_error(server: FakeOpenAIServer) -> None:
    server.omit_logprobs = True
    with pytest.raises(InparsError, match=r"no per-token log-probabilities.*--api completions"):
        make_engine(server, api="chat").generate(seeded(prompts(1), 1, GREEDY), GREEDY)


def test_api_key_is_sent_but_never_shown(
    server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture, api_key: str
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the client's and httpx's included
    engine = make_engine(server)
    engine.generate(seeded(prompts(1), 1, GREEDY), GREEDY)
    assert server.requests[0].headers["authorization"] == f"Bearer {api_key}"
    assert api_key not in repr(engine)
    server.faults = ["500", "401"]  # a retried failure (logged), then one echoing the key
    with pytest.raises(InparsError) as raised:
        engine.generate(seeded(prompts(1), 1, GREEDY), GREEDY)
    message = str(raised.value)
    assert "HTTP 401" in message and "Incorrect API key provided" in message
    assert "--api-key-env" in message
    assert api_key not in message
    assert "retrying" in caplog.text
    assert api_key not in caplog.text


def test_placeholder_key_when_the_variable_is_unset(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(KEY_ENV)
    caplog.set_level(logging.DEBUG, logger="inpars.engines.openai")
    make_engine(server).generate(seeded(prompts(1), 1, GREEDY), GREEDY)
    assert server.requests[0].headers["authorization"] == "Bearer EMPTY"
    assert f"{KEY_ENV} is not set" in caplog.text


def test_usage_is_summed_over_calls(server: FakeOpenAIServer) -> None:
    engine = make_engine(server)
    first = engine.generate(seeded(prompts(2), 2, SAMPLED), SAMPLED)
    second = engine.generate(seeded(prompts(3), 1, GREEDY), GREEDY)
    generations = [g for result in (first, second) for gens in result for g in gens]
    assert engine.usage.completion_tokens == sum(g.completion_tokens for g in generations)
    # The prompt is billed once per request, however many choices it has.
    billed = [len(p.split()) for p in prompts(2)] + [len(p.split()) for p in prompts(3)]
    assert engine.usage.prompt_tokens == sum(billed)
    assert engine.usage.requests == 5
    assert engine.usage.retries == 0


def test_generate_inside_a_running_event_loop(server: FakeOpenAIServer) -> None:
    engine = make_engine(server)

    async def notebook_cell() -> int:
        return len(engine.generate(seeded(prompts(2), 1, GREEDY), GREEDY))

    assert asyncio.run(notebook_cell()) == 2


def parse_flags(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    openai_engine.add_arguments(parser.add_argument_group("'openai' engine"))
    return parser.parse_args(argv)


def test_flags_and_from_args(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    engine = openai_engine.from_args(parse_flags(["--model", "m", "--concurrency", "3"]))
    assert engine.name == "openai" and engine.model == "m"
    assert engine.base_url == "http://127.0.0.1:9/v1"
    assert engine.api == "completions"
    assert engine.api_key_env == "OPENAI_API_KEY"
    assert (engine.concurrency, engine.request_timeout, engine.max_retries) == (3, 60.0, 6)
    assert engine.max_retry_wait_s == 600
    flags = ["--model", "m", "--max-retry-wait", "3600"]
    assert openai_engine.from_args(parse_flags(flags)).max_retry_wait_s == 3600
    assert engine.tokenizer is None and engine.context_length is None
    flags = ["--model", "m", "--base-url", "http://x/v1", "--api", "chat", "--context-length", "8"]
    engine = openai_engine.from_args(parse_flags(flags))
    assert (engine.base_url, engine.api, engine.context_length) == ("http://x/v1", "chat", 8)
    with pytest.raises(InparsError, match="needs --model"):
        openai_engine.from_args(parse_flags([]))
    with pytest.raises(InparsError, match="--concurrency"):
        openai_engine.from_args(parse_flags(["--model", "m", "--concurrency", "0"]))


def test_tokenizer_flag_loads_a_hugging_face_tokenizer(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "the": 1, "cat": 2, "sat": 3}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]").save_pretrained(tmp_path)
    engine = openai_engine.from_args(parse_flags(["--model", "m", "--tokenizer", str(tmp_path)]))
    assert engine.tokenizer is not None
    assert engine.tokenizer.encode("the cat sat") == [1, 2, 3]
    assert engine.tokenizer.decode([1, 2]) == "the cat"
    with pytest.raises(InparsError, match="cannot load the tokenizer"):
        openai_engine.from_args(parse_flags(["--model", "m", "--tokenizer", str(tmp_path / "no")]))


def test_split_sums_to_the_total() -> None:
    assert _split(10, [3, 3, 4]) == [3, 3, 4]
    assert _split(7, [1, 1, 1]) == [3, 2, 2]
    assert sum(_split(11, [5, 0, 2])) == 11
    assert _split(4, [0, 0]) == [2, 2]
