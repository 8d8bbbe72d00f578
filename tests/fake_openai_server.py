"""A small OpenAI-compatible server for tests and benchmarks, standard library only.

It serves ``/v1/completions``, ``/v1/chat/completions`` and ``/v1/models`` on 127.0.0.1 with
deterministic answers and log-probs, records every request, counts requests in flight, and
injects faults from a script consumed one per request::

    with FakeOpenAIServer(faults=["429", "500", "ok"]) as server:
        engine = OpenAIEngine(model="fake", base_url=server.base_url)

Faults: ``ok``; ``429`` (with ``Retry-After: <retry_after>``), ``429:0.2`` (that Retry-After);
``500``, ``503``; ``slow`` (answers after ``slow_s``, past the client's timeout); ``badjson``
(200 with a broken JSON body); ``nochoices`` (200 with valid JSON but no choices); ``400``,
``401`` (OpenAI-style error bodies; the 401 echoes the API key); ``drop`` (closes the
connection without answering).
When the script runs out, each request draws its fault at random from ``fault_rates``
(``{"429": 0.02, "drop": 0.01}``: 2% and 1% of requests, the rest ``ok``; seeded by
``fault_seed``); without rates every request is ``ok``. ``fault_counts`` counts the faults
served, per kind.

Run on its own (benchmarks, trying a client by hand), it prints its base URL and serves until
interrupted; ``GET /fake/stats`` answers the counts::

    python tests/fake_openai_server.py --latency 0.5 --fault 429=0.02 --fault drop=0.01

The answer to a prompt is ``query about <last line of the prompt>``, split into one token per
word; choice ``i`` of a sampled request (temperature > 0) gets `` #<seed + i>`` appended so that
choices differ. Token ``j`` has log-prob ``-0.1 * (j + 1)``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ERROR_MESSAGES = {
    400: "This model's maximum context length is 2048 tokens (fake)",
    401: "Incorrect API key provided (fake)",
    429: "Rate limit reached (fake)",
    500: "The server had an error while processing your request (fake)",
    503: "The server is overloaded (fake)",
}
# Faults a client is expected to survive by retrying; ``fault_rates`` may draw only these.
TRANSIENT_FAULTS = ("429", "500", "503", "slow", "badjson", "nochoices", "drop")


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a "slow" answer must not hold up shutdown
    # The default backlog of 5 makes the kernel drop the SYNs of a client that opens dozens
    # of connections at once, which then wait a second to try again: not what is measured.
    request_queue_size = 1024


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    fault: str
    received_at: float


@dataclass
class FakeOpenAIServer:
    """The server's behaviour; use it as a context manager to run it on a free port."""

    faults: list[str] = field(default_factory=list)
    latency_s: float = 0.0  # every answer waits this long (benchmarks)
    slow_s: float = 2.0  # how long a "slow" fault waits before answering
    retry_after: str = "1"  # Retry-After of a plain "429" fault
    max_choices: int | None = None  # answer at most this many choices (llama.cpp ignores n)
    ignore_stop: bool = False  # go on past the stop sequence, as some servers do
    # The answer ends in "?" merged with the newline into one token ("?\n"), as Llama-3 and
    # Qwen tokenizers have it; a server honouring `stop` cuts the text at the newline but
    # lists that token (as vLLM does).
    merge_newline: bool = False
    leading_space: bool = False  # the first token has a leading space (" query"), as llama.cpp
    omit_logprobs: bool = False  # answer without log-probs
    fault_rates: dict[str, float] = field(default_factory=dict)  # once the script is spent
    fault_seed: int = 0
    record: bool = True  # keep every request in ``requests`` (off for a long-running server)
    requests: list[RecordedRequest] = field(default_factory=list)
    fault_counts: Counter[str] = field(default_factory=Counter)
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.fault_rates) - set(TRANSIENT_FAULTS))
        if unknown:
            raise ValueError(
                f"fault_rates may draw only {', '.join(TRANSIENT_FAULTS)}; got {unknown}"
            )
        if any(rate < 0 for rate in self.fault_rates.values()):
            raise ValueError(f"fault rates must not be negative: {self.fault_rates}")
        if sum(self.fault_rates.values()) > 1:
            raise ValueError(f"fault rates add up to more than 1: {self.fault_rates}")
        self._random = random.Random(self.fault_seed)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "the server is not running"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self.start()
        return self

    def start(self, port: int = 0) -> None:
        """Serves on 127.0.0.1:``port`` (0: a free one) from a background thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _Server(("127.0.0.1", port), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def __exit__(self, *exc_info: object) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def completion_requests(self) -> list[RecordedRequest]:
        """The generation requests received (not /v1/models)."""
        return [r for r in self.requests if r.path.endswith("completions")]

    def stats(self) -> dict[str, Any]:
        """Counts so far: generation requests, faults served per kind, most in flight."""
        with self._lock:
            return {
                "requests": sum(self.fault_counts.values()),
                "faults": dict(self.fault_counts),
                "max_in_flight": self.max_in_flight,
            }

    def _draw_fault(self) -> str:
        draw = self._random.random()
        for kind, rate in self.fault_rates.items():
            if draw < rate:
                return kind
            draw -= rate
        return "ok"

    def _begin(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> str:
        with self._lock:
            fault = self.faults.pop(0) if self.faults else self._draw_fault()
            self.fault_counts[fault] += 1
            if self.record:
                self.requests.append(
                    RecordedRequest(path, headers, body, fault, time.monotonic())
                )
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            return fault

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1


def answer_words(prompt: str) -> list[str]:
    """The words of the fake answer to ``prompt``."""
    lines = [line.strip() for line in prompt.splitlines() if line.strip()]
    return ["query", "about", *(lines[-1].split() if lines else [])]


def answer_tokens(prompt: str, temperature: float, seed: int | None, index: int) -> list[str]:
    """The fake answer's tokens: one per word, each but the first with its leading space."""
    words = answer_words(prompt)
    if temperature > 0:
        words.append(f"#{(seed or 0) + index}")
    return [words[0], *(f" {word}" for word in words[1:])]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/fake/stats":
            self._send_json(200, self.fake.stats())
        elif self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
        else:
            self._send_error(404, "not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        headers = {name.lower(): value for name, value in self.headers.items()}
        fault = self.fake._begin(self.path, headers, body)
        try:
            self._answer(fault, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout) before the answer came
        finally:
            self.fake._end()

    def _answer(self, fault: str, body: dict[str, Any]) -> None:
        if self.fake.latency_s:
            time.sleep(self.fake.latency_s)
        kind, _, argument = fault.partition(":")
        if kind == "slow":
            time.sleep(self.fake.slow_s)
        elif kind == "drop":
            self.close_connection = True
            return
        elif kind == "badjson":
            self._send_raw(200, b'{"id": "cmpl-1", "choices": [{"text": "trunc')
            return
        elif kind == "nochoices":
            self._send_json(200, {"id": "cmpl-1", "object": "text_completion", "choices": []})
            return
        elif kind == "429":
            retry_after = argument or self.fake.retry_after
            self._send_error(429, ERROR_MESSAGES[429], {"Retry-After": retry_after})
            return
        elif kind == "401":  # echoes the key, as some servers do, to test that it is hidden
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            self._send_error(401, f"{ERROR_MESSAGES[401]}: {key}")
            return
        elif kind.isdigit():
            status = int(kind)
            self._send_error(status, ERROR_MESSAGES.get(status, f"fake error {status}"))
            return
        elif kind != "ok":
            raise ValueError(f"unknown fault '{fault}'")
        if self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(200, self._completion(body, chat=True))
        elif self.path.rstrip("/").endswith("/completions"):
            self._send_json(200, self._completion(body, chat=False))
        else:
            self._send_error(404, f"no route {self.path}")

    def _completion(self, body: dict[str, Any], chat: bool) -> dict[str, Any]:
        prompt = str(body["messages"][-1]["content"] if chat else body["prompt"])
        n = int(body.get("n") or 1)
        if self.fake.max_choices is not None:
            n = min(n, self.fake.max_choices)
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        max_tokens = int(body.get("max_tokens") or 16)
        choices = []
        for index in range(n):
            tokens = answer_tokens(
                prompt, float(body.get("temperature") or 0), body.get("seed"), index
            )
            if self.fake.leading_space:
                tokens[0] = f" {tokens[0]}"
            finish = "stop"
            # What follows the answer on its next line.
            if self.fake.merge_newline:
                tokens += ["?\n", "Document", ":", " more"]
            elif self.fake.ignore_stop:
                tokens += ["\n", "Document", ":", " more"]
            if len(tokens) > max_tokens:
                tokens, finish = tokens[:max_tokens], "length"
            if not self.fake.ignore_stop:
                tokens, text = _honour_stop(tokens, stop)
            else:
                text = "".join(tokens)
            log_probs = [round(-0.1 * (j + 1), 6) for j in range(len(tokens))]
            choices.append(_choice(index, text, tokens, log_probs, finish, chat, self.fake))
        completion_tokens = sum(
            len(c["logprobs"]["content"] if chat else c["logprobs"]["tokens"])
            if c["logprobs"]
            else 0
            for c in choices
        )
        prompt_tokens = len(prompt.split())
        return {
            "id": "cmpl-fake",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _send_error(
        self, status: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        error = {"message": message, "type": "fake_error", "param": None, "code": str(status)}
        self._send_json(status, {"error": error}, headers)

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send_raw(status, json.dumps(payload).encode(), headers)

    def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _honour_stop(tokens: list[str], stops: list[str]) -> tuple[list[str], str]:
    """The tokens up to the one that completes a stop string, and the text before the stop."""
    text = ""
    for index, token in enumerate(tokens):
        text += token
        found = [text.find(stop) for stop in stops if stop and stop in text]
        if found:
            return tokens[: index + 1], text[: min(found)]
    return tokens, text


def _choice(
    index: int,
    text: str,
    tokens: list[str],
    log_probs: list[float],
    finish: str,
    chat: bool,
    fake: FakeOpenAIServer,
) -> dict[str, Any]:
    if chat:
        content = [
            {"token": t, "logprob": lp, "bytes": list(t.encode()), "top_logprobs": []}
            for t, lp in zip(tokens, log_probs, strict=True)
        ]
        return {
            "index": index,
            "message": {"role": "assistant", "content": text},
            "logprobs": None if fake.omit_logprobs else {"content": content},
            "finish_reason": finish,
        }
    offsets = [sum(len(t) for t in tokens[:j]) for j in range(len(tokens))]
    logprobs = {
        "tokens": tokens,
        "token_logprobs": log_probs,
        "top_logprobs": [{t: lp} for t, lp in zip(tokens, log_probs, strict=True)],
        "text_offset": offsets,
    }
    return {
        "index": index,
        "text": text,
        "logprobs": None if fake.omit_logprobs else logprobs,
        "finish_reason": finish,
    }


def parse_fault_rate(text: str) -> tuple[str, float]:
    """``KIND=RATE`` from a command line, e.g. ``429=0.02``."""
    kind, sep, rate = text.partition("=")
    if not sep or kind not in TRANSIENT_FAULTS:
        raise argparse.ArgumentTypeError(
            f"expected KIND=RATE with KIND one of {', '.join(TRANSIENT_FAULTS)}, got '{text}'"
        )
    return kind, float(rate)


def main(argv: list[str] | None = None) -> int:
    """Serves until interrupted; prints the base URL as the first line on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds before every answer")
    parser.add_argument("--fault", type=parse_fault_rate, action="append", default=[],
                        metavar="KIND=RATE", help="inject KIND in this share of requests "
                        f"(KIND: {', '.join(TRANSIENT_FAULTS)}); repeatable")
    parser.add_argument("--retry-after", default="1", help="Retry-After of a 429")
    parser.add_argument("--slow", type=float, default=2.0,
                        help="seconds a 'slow' answer takes (set it past the client's timeout)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    args = parser.parse_args(argv)
    fake = FakeOpenAIServer(
        latency_s=args.latency,
        slow_s=args.slow,
        retry_after=args.retry_after,
        fault_rates=dict(args.fault),
        fault_seed=args.seed,
        record=False,
    )
    fake.start(args.port)
    print(fake.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
