"""The "openai" engine: any OpenAI-compatible HTTP server (OpenAI, vLLM, llama.cpp, TGI).

Requests go through the official ``openai`` package's ``AsyncOpenAI`` client with its own
retries switched off; retries are ours (``tenacity``) so that ``Retry-After`` is honoured,
every retry is counted and the final error is an :class:`InparsError` a user can act on.

The API key is read from an environment variable whose *name* is a flag, so the key itself
never appears on a command line, in shell history, manifests or logs.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import email.utils
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from typing import Any

import openai
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from inpars.engines.base import (
    Generation,
    Request,
    SamplingParams,
    Tokenizer,
    cut_completion_at_stop,
    normalize_query,
    token_starts_of_pieces,
)
from inpars.errors import InparsError

logger = logging.getLogger(__name__)

OPENAI_API_URL = "https://api.openai.com/v1"
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
# Local servers (vLLM, llama.cpp, TGI) accept any key; the client refuses to start without one.
PLACEHOLDER_API_KEY = "EMPTY"
# The longest Retry-After honoured by default; a server asking for longer (a quota that
# resets in an hour) fails the run with a clear message instead (--max-retry-wait raises it).
DEFAULT_MAX_RETRY_WAIT_S = 600.0
APIS = ("completions", "chat")


@dataclass
class Usage:
    """Totals over every call of one engine, for the CLI to report."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0  # HTTP requests sent, failed attempts included
    retries: int = 0  # requests that repeated a failed one
    retry_after_waits: int = 0  # retries that waited as long as the server's Retry-After said
    waited_s: float = 0.0  # seconds spent waiting before retries, summed over requests

    def rows(self) -> list[tuple[str, str]]:
        """The usage as rows of the run summary."""
        return [
            ("API requests", f"{self.requests:,}"),
            ("API retries", f"{self.retries:,} ({self.retry_after_waits:,} after Retry-After)"),
            ("seconds waited before retries", f"{self.waited_s:,.1f} (summed over requests)"),
            ("API prompt tokens", f"{self.prompt_tokens:,}"),
            ("API completion tokens", f"{self.completion_tokens:,}"),
        ]


class _RetryableError(Exception):
    """A failure worth retrying: 408/429/5xx, timeout, connection error, malformed response."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class HFTokenizer:
    """A Hugging Face tokenizer behind the small :class:`Tokenizer` interface."""

    def __init__(self, name_or_path: str) -> None:
        from transformers import AutoTokenizer  # heavy import: only when --tokenizer is given

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        except (OSError, ValueError) as err:
            raise InparsError(f"cannot load the tokenizer '{name_or_path}': {err}") from err
        self.name_or_path = name_or_path

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids))

    def __repr__(self) -> str:
        return f"HFTokenizer({self.name_or_path!r})"


class OpenAIEngine:
    """Generates through an OpenAI-compatible server, ``concurrency`` requests at a time."""

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api: str = "completions",
        api_key_env: str = DEFAULT_API_KEY_ENV,
        concurrency: int = 8,
        request_timeout: float = 60.0,
        max_retries: int = 6,
        tokenizer: Tokenizer | None = None,
        context_length: int | None = None,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        max_retry_wait_s: float = DEFAULT_MAX_RETRY_WAIT_S,
    ) -> None:
        if api not in APIS:
            raise InparsError(f"unknown --api '{api}'; choose one of: {', '.join(APIS)}")
        if concurrency < 1:
            raise InparsError(f"--concurrency must be at least 1, got {concurrency}")
        if request_timeout <= 0:
            raise InparsError(f"--request-timeout must be positive, got {request_timeout}")
        if max_retries < 0:
            raise InparsError(f"--max-retries must be 0 or more, got {max_retries}")
        if max_retry_wait_s < 0:
            raise InparsError(f"--max-retry-wait must be 0 or more, got {max_retry_wait_s}")
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_API_URL
        self.api = api
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.max_retry_wait_s = max_retry_wait_s
        self._sleep = asyncio.sleep  # how retries wait (tests replace it to skip real waits)
        self.usage = Usage()
        self._tokenizer = tokenizer
        self._context_length = context_length
        self._backoff = wait_random_exponential(multiplier=backoff_s, max=max_backoff_s)
        key = os.environ.get(api_key_env)
        if not key:
            logger.debug(
                "environment variable %s is not set: using the placeholder API key '%s', "
                "which local servers accept",
                api_key_env,
                PLACEHOLDER_API_KEY,
            )
        self._api_key = key or PLACEHOLDER_API_KEY

    def __repr__(self) -> str:  # never shows the key
        return (
            f"OpenAIEngine(model={self.model!r}, base_url={self.base_url!r}, api={self.api!r}, "
            f"concurrency={self.concurrency})"
        )

    @property
    def tokenizer(self) -> Tokenizer | None:
        return self._tokenizer

    @property
    def context_length(self) -> int | None:
        return self._context_length

    def close(self) -> None:
        """Nothing to release: each ``generate`` call opens and closes its own client."""

    def generate(
        self, requests: list[Request], params: SamplingParams
    ) -> list[list[Generation]]:
        """One completion per seed of each request, in request order (blocking).

        Seeds: each request's completions are asked for in one HTTP request with ``n`` = the
        completions still missing and ``seed`` = the seed of the first of them. A server that
        honours ``n`` (OpenAI, vLLM) derives all its choices from that one seed; a server
        that ignores ``n`` (llama.cpp answers one choice) is asked again, with the seed of
        the next missing completion, until every completion is there. Either way a completion
        depends on its document's own seeds only, never on batching, concurrency or resume;
        whether the server's sampling honours ``seed`` at all is the server's (OpenAI: "best
        effort"; vLLM and llama.cpp: yes).
        """
        if not requests:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.agenerate(requests, params))
        # Called from inside a running event loop (a notebook): run ours in a worker thread.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self.agenerate(requests, params)).result()

    async def agenerate(
        self, requests: list[Request], params: SamplingParams
    ) -> list[list[Generation]]:
        """The asynchronous ``generate``: all requests at once, ``concurrency`` in flight."""
        # The client and the semaphore belong to this event loop, so both are made here.
        semaphore = asyncio.Semaphore(self.concurrency)
        async with openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.request_timeout,
            max_retries=0,
        ) as client:
            tasks = [
                asyncio.ensure_future(self._complete_prompt(client, semaphore, request, params))
                for request in requests
            ]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:
                # Stop the other prompts' requests before the client closes under them.
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

    async def _complete_prompt(
        self,
        client: openai.AsyncOpenAI,
        semaphore: asyncio.Semaphore,
        request: Request,
        params: SamplingParams,
    ) -> list[Generation]:
        generations: list[Generation] = []
        # Each request yields at least one choice (an empty answer is retried as malformed),
        # so n requests always suffice; servers that ignore `n` (llama.cpp) need them all.
        while len(generations) < request.n:
            wanted = request.n - len(generations)
            seed = request.seeds[len(generations)]
            body = await self._request_with_retries(
                client, semaphore, request.prompt, wanted, seed, params
            )
            generations.extend(self._parse_response(body, params)[:wanted])
        return generations

    async def _request_with_retries(
        self,
        client: openai.AsyncOpenAI,
        semaphore: asyncio.Semaphore,
        prompt: str,
        n: int,
        seed: int | None,
        params: SamplingParams,
    ) -> dict[str, Any]:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_RetryableError),
            before_sleep=self._before_retry,
            sleep=self._sleep,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    async with semaphore:  # only the HTTP call holds a slot, not the backoff
                        return await self._request(client, prompt, n, seed, params)
        except RetryError as err:
            last = err.last_attempt.exception()
            raise InparsError(
                f"requests to {self.base_url} failed {self.max_retries + 1} times; "
                f"last error: {self._redact(str(last))}"
            ) from None
        raise AssertionError("unreachable: tenacity either returns, raises or gives up")

    def _wait(self, state: RetryCallState) -> float:
        """The server's Retry-After when it sent one, else exponential backoff with jitter.

        Retry-After is honoured in full (it is never above ``max_retry_wait_s``: a longer
        one fails the request in :meth:`_status_error`), plus up to 10 % jitter within that
        maximum, so that requests throttled together don't all return together.
        """
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _RetryableError) and error.retry_after_s is not None:
            jittered = error.retry_after_s * (1 + 0.1 * random.random())
            return max(error.retry_after_s, min(jittered, self.max_retry_wait_s))
        return float(self._backoff(state))

    def _before_retry(self, state: RetryCallState) -> None:
        self.usage.retries += 1
        error = state.outcome.exception() if state.outcome else None
        wait_s = state.next_action.sleep if state.next_action else 0.0
        self.usage.waited_s += wait_s
        if isinstance(error, _RetryableError) and error.retry_after_s is not None:
            self.usage.retry_after_waits += 1
        logger.info(
            "retrying in %.2f s (attempt %d of %d): %s",
            wait_s,
            state.attempt_number + 1,
            self.max_retries + 1,
            self._redact(str(error)),
        )

    async def _request(
        self,
        client: openai.AsyncOpenAI,
        prompt: str,
        n: int,
        seed: int | None,
        params: SamplingParams,
    ) -> dict[str, Any]:
        """One HTTP request; returns the decoded body or raises a classified error."""
        sampling: dict[str, Any] = {
            "model": self.model,
            "n": n,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if seed is not None:
            sampling["seed"] = seed
        if params.stop:
            sampling["stop"] = list(params.stop)
        self.usage.requests += 1
        try:
            if self.api == "chat":
                raw = await client.chat.completions.with_raw_response.create(
                    messages=[{"role": "user", "content": prompt}],
                    logprobs=True,
                    top_logprobs=1,  # llama.cpp returns no log-probs when this is unset
                    **sampling,
                )
            else:
                raw = await client.completions.with_raw_response.create(
                    prompt=prompt, logprobs=1, **sampling
                )
            text = raw.text
        except openai.APIStatusError as err:
            raise self._status_error(err) from None
        except openai.APITimeoutError:
            raise _RetryableError(f"no answer within {self.request_timeout:g} s") from None
        except openai.APIConnectionError as err:
            cause = err.__cause__ or err
            raise _RetryableError(f"connection error: {type(cause).__name__}: {cause}") from None
        except openai.APIError as err:  # e.g. a body the client could not read
            raise _RetryableError(f"unreadable response: {err}") from None
        try:
            body = json.loads(text)
        except ValueError:
            raise _RetryableError(f"malformed JSON in the response: {text[:200]!r}") from None
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
            raise _RetryableError(f"response without a 'choices' list: {text[:200]!r}")
        if not body["choices"]:
            raise _RetryableError("response with no choices")
        return body

    def _status_error(self, err: openai.APIStatusError) -> Exception:
        status = err.status_code
        message = self._redact(_server_message(err.body) or err.message)
        if status in (408, 429) or status >= 500:
            retry_after = _retry_after_s(err.response.headers)
            if retry_after is not None and retry_after > self.max_retry_wait_s:
                return InparsError(
                    f"the server at {self.base_url} answered HTTP {status} ({message}) and asks "
                    f"to wait {retry_after:,.0f} s before retrying, longer than --max-retry-wait "
                    f"({self.max_retry_wait_s:g} s): raise it to wait, or rerun the same command "
                    "later to resume"
                )
            return _RetryableError(f"HTTP {status}: {message}", retry_after_s=retry_after)
        hint = " (check the key in the environment variable named by --api-key-env)"
        return InparsError(
            f"the server at {self.base_url} refused the request with HTTP {status}: {message}"
            + (hint if status in (401, 403) else "")
        )

    def _redact(self, text: str) -> str:
        """Servers sometimes echo the key in errors; it must not reach messages or logs."""
        if self._api_key != PLACEHOLDER_API_KEY and self._api_key in text:
            return text.replace(self._api_key, "***")
        return text

    def _parse_response(self, body: dict[str, Any], params: SamplingParams) -> list[Generation]:
        usage = body.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        self.usage.prompt_tokens += prompt_tokens
        self.usage.completion_tokens += completion_tokens
        choices = sorted(body["choices"], key=lambda choice: choice.get("index", 0))
        parsed = [self._parse_choice(choice) for choice in choices]
        raw_counts = [len(tokens) for _, tokens, _, _ in parsed]
        shares = _split(completion_tokens, raw_counts) if completion_tokens else raw_counts
        generations = []
        for (text, tokens, log_probs, finish_reason), share in zip(parsed, shares, strict=True):
            # Servers that honour `stop` cut the text but may still list the token that held
            # the stop string ("?\n"); others return what follows it: one rule for both.
            cut = cut_completion_at_stop(text, token_starts_of_pieces(tokens), params.stop)
            generations.append(
                Generation(
                    text=normalize_query(cut.text),
                    tokens=tokens[: cut.kept],
                    log_probs=log_probs[: cut.kept],
                    finish_reason="stop" if cut.stopped else finish_reason,
                    prompt_tokens=prompt_tokens,  # the prompt's length: each choice saw all of it
                    completion_tokens=share,
                )
            )
        return generations

    def _parse_choice(self, choice: dict[str, Any]) -> tuple[str, list[str], list[float], str]:
        """(text, tokens, log-probs, finish reason) of one choice, as the server sent them."""
        logprobs = choice.get("logprobs")
        tokens: list[str] = []
        values: list[Any] = []
        if self.api == "chat":
            text = (choice.get("message") or {}).get("content") or ""
            entries = logprobs.get("content") if isinstance(logprobs, dict) else None
            if entries is not None:
                tokens = [str(entry.get("token", "")) for entry in entries]
                values = [entry.get("logprob") for entry in entries]
        else:
            text = choice.get("text") or ""
            entries = logprobs.get("tokens") if isinstance(logprobs, dict) else None
            if entries is not None:
                tokens = [str(token) for token in entries]
                values = list(logprobs.get("token_logprobs") or [])
        if entries is None or (text and not tokens) or len(values) != len(tokens):
            raise InparsError(
                f"the server at {self.base_url} returned no per-token log-probabilities on the "
                f"'{self.api}' API; inpars needs them, so use a server that supports `logprobs` "
                "there (OpenAI, vLLM and llama.cpp's completions API do)"
                + ("" if self.api == "completions" else ", or try --api completions")
            )
        # A missing value (null) stays visible as NaN rather than passing as a real number.
        log_probs = [math.nan if value is None else float(value) for value in values]
        finish = "length" if choice.get("finish_reason") in ("length", "max_tokens") else "stop"
        return text, tokens, log_probs, finish


def _split(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder), summing to ``total``."""
    if not weights:
        return []
    weight_sum = sum(weights)
    if weight_sum == 0:
        weights, weight_sum = [1] * len(weights), len(weights)
    exact = [total * weight / weight_sum for weight in weights]
    shares = [math.floor(value) for value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _server_message(body: object) -> str | None:
    """The human-readable message of an OpenAI-style error body, where there is one."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        return json.dumps(body)[:500]
    if isinstance(body, str) and body:
        return body[:500]
    return None


def _retry_after_s(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(float(milliseconds) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _add_flag(group: argparse._ArgumentGroup, *names: str, **options: Any) -> None:
    """Adds a flag unless another engine already defined it (engines share one parser)."""
    try:
        group.add_argument(*names, **options)
    except argparse.ArgumentError:
        logger.debug("flag %s is already defined by another engine; sharing it", names[0])


def add_arguments(group: argparse._ArgumentGroup) -> None:
    """The flags of the 'openai' engine."""
    group.add_argument(
        "--base-url",
        default=None,
        help="URL of the OpenAI-compatible API, up to and including /v1, e.g. "
        "http://127.0.0.1:8000/v1 for a local vLLM or llama.cpp server "
        f"(default: $OPENAI_BASE_URL, else {OPENAI_API_URL})",
    )
    group.add_argument(
        "--api",
        choices=APIS,
        default="completions",
        help="'completions' sends the few-shot prompt as is to /completions, the way InPars "
        "prompts are meant to be continued; 'chat' sends it as one user message to "
        "/chat/completions, for chat-only models and servers (default: completions)",
    )
    group.add_argument(
        "--api-key-env",
        default=DEFAULT_API_KEY_ENV,
        metavar="NAME",
        help="NAME of the environment variable that holds the API key; the key itself is "
        "never a flag, so it stays out of shell history, outputs and logs. If it is unset "
        f"the placeholder key '{PLACEHOLDER_API_KEY}' is sent, which local servers accept "
        f"(default: {DEFAULT_API_KEY_ENV})",
    )
    group.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="most requests in flight at once (default: 8)",
    )
    group.add_argument(
        "--request-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds to wait for one answer before retrying it (default: 60)",
    )
    group.add_argument(
        "--max-retries",
        type=int,
        default=6,
        help="retries of a request after a 408, 429 or 5xx answer, a timeout, a connection "
        "error or a malformed answer, with exponential backoff or the server's Retry-After; "
        "other errors fail at once (default: 6)",
    )
    group.add_argument(
        "--max-retry-wait",
        type=float,
        default=DEFAULT_MAX_RETRY_WAIT_S,
        metavar="SECONDS",
        help="the longest Retry-After (HTTP 429/503) to honour: the engine waits as long as "
        "the server asks, up to this; a server asking for longer stops the run with a message "
        f"(rerun to resume) (default: {DEFAULT_MAX_RETRY_WAIT_S:g})",
    )
    _add_flag(
        group,
        "--tokenizer",
        default=None,
        help="Hugging Face tokenizer (folder or hub id) of the served model, used to truncate "
        "documents by tokens; without it they are truncated by words",
    )
    _add_flag(
        group,
        "--context-length",
        type=int,
        default=None,
        help="the served model's context window in tokens, where known",
    )


def from_args(args: argparse.Namespace) -> OpenAIEngine:
    """Builds the engine from the parsed flags; ``--model`` names the served model."""
    model = getattr(args, "model", None)
    if not model:
        raise InparsError(
            "the 'openai' engine needs --model: the model name the server serves "
            "(see GET <base-url>/models)"
        )
    tokenizer_name = getattr(args, "tokenizer", None)
    return OpenAIEngine(
        model=model,
        base_url=args.base_url,
        api=args.api,
        api_key_env=args.api_key_env,
        concurrency=args.concurrency,
        request_timeout=args.request_timeout,
        max_retries=args.max_retries,
        max_retry_wait_s=args.max_retry_wait,
        tokenizer=HFTokenizer(tokenizer_name) if tokenizer_name else None,
        context_length=getattr(args, "context_length", None),
    )
