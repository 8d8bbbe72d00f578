"""The generate stage through the openai engine against a server that keeps failing.

A small, fast version of bench/bench_api.py: every transient fault at a high rate, and the
output must still hold every document's queries exactly once, each with its own document's
answer. The benchmark runs the same at 10,000 prompts.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from inpars.engines.openai import OpenAIEngine
from inpars.generate import GenerateConfig, generate
from inpars.io import read_jsonl

from api_load import audit_output, write_corpus, write_template
from fake_openai_server import FakeOpenAIServer

# 429 (Retry-After), 500, a timeout, malformed JSON, a dropped connection: 5% each, so a
# quarter of all requests fail and some prompts fail several times in a row.
FAULT_RATES = {"429": 0.05, "500": 0.05, "slow": 0.05, "badjson": 0.05, "drop": 0.05}
# How the engine's retry log names each fault.
RETRY_REASONS = {
    "429": "HTTP 429",
    "500": "HTTP 500",
    "slow": "no answer within",
    "badjson": "malformed JSON",
    "drop": "connection error",
}


def test_every_query_written_once_despite_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    caplog.set_level(logging.INFO, logger="inpars.engines.openai")
    doc_ids = write_corpus(tmp_path / "corpus.jsonl", 200)
    config = GenerateConfig(
        corpus=str(tmp_path / "corpus.jsonl"),
        output=str(tmp_path / "queries.jsonl"),
        template=str(write_template(tmp_path / "prompt.txt")),
        num_queries_per_doc=2,
        temperature=0.7,  # sampled, so the two queries of a document differ
        batch_size=64,
    )
    # A "slow" answer comes long after the client's timeout even on a loaded machine (its
    # thread is left behind, it costs the test nothing).
    server = FakeOpenAIServer(fault_rates=FAULT_RATES, fault_seed=13, retry_after="0.05",
                              slow_s=10)
    with server:
        engine = OpenAIEngine(
            model="fake",
            base_url=server.base_url,
            concurrency=16,
            request_timeout=0.3,
            max_retries=12,
            backoff_s=0.01,
            max_backoff_s=0.05,
        )
        summary = generate(engine, config, show_progress=False)
    audit = audit_output(Path(config.output), doc_ids, 2)
    assert audit.ok, audit.summary()
    assert audit.records == summary.queries == 400
    # Every fault kind was served and retried; each prompt's two queries come in one request,
    # so the server answered 200 requests, each once.
    served = server.stats()["faults"]
    retried = Counter(
        kind
        for record in caplog.records
        if record.getMessage().startswith("retrying")
        for kind, reason in RETRY_REASONS.items()
        if reason in record.getMessage()
    )
    assert {kind: served.get(kind, 0) > 0 for kind in FAULT_RATES} == dict.fromkeys(
        FAULT_RATES, True
    )
    assert {kind: retried[kind] for kind in FAULT_RATES if kind != "slow"} == {
        kind: served[kind] for kind in FAULT_RATES if kind != "slow"
    }
    assert engine.usage.retries == sum(retried.values())
    assert engine.usage.requests - engine.usage.retries == 200  # one success per prompt
    # On a loaded machine a timeout may also hit a request the server had no time to read or
    # answer; each such extra timeout may have cost the server one more "ok" answer, which
    # the client dropped.
    assert retried["slow"] - served["slow"] >= served["ok"] - 200 >= 0
    # A document's two queries are two samples, not one answer written twice.
    texts: dict[str, set[str]] = {}
    for _, record in read_jsonl(Path(config.output)):
        texts.setdefault(record["doc_id"], set()).add(record["query"])
    assert all(len(queries) == 2 for queries in texts.values())
