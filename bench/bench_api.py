"""Benchmark: the openai engine under load, with and without a failing server (issue 13.6).

``python -m inpars.generate --engine openai`` (the real command, in its own process) writes
one query for each of N synthetic documents through the fake OpenAI-compatible server of
tests/fake_openai_server.py (also in its own process), which answers every request after a
fixed latency. Two runs per --batch-size:

* clean: no faults. The ideal is concurrency / latency requests/s.
* faults: each request draws a fault at the stated rates: 429 with Retry-After, 500, a
  timeout (an answer slower than --request-timeout), malformed JSON, a dropped connection.

For each run: seconds, requests/s (answered prompts) against the ideal, requests sent,
retries (the client's count, beside the server's count of failures it served, per kind), and
an audit of the output: every document has exactly its queries, 0 lost, 0 duplicated, each
one the answer to its own document. The exit status is 1 if any audit fails.

generate hands the engine one batch of --batch-size documents at a time and waits for all of
it, so --batch-size bounds the requests in flight as much as --concurrency does, and each
batch waits for its slowest (retried) request: hence the runs at two batch sizes. Client CPU
seconds are reported too: on a shared machine they, not the wall clock, say what a request
costs.

Run: python bench/bench_api.py [--prompts 10000] [--concurrency 64] [--latency 0.2]
         [--batch-size 64 --batch-size 1024] [--fault 429=0.02 ...] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from api_load import audit_output, write_corpus, write_template  # noqa: E402
from fake_openai_server import parse_fault_rate  # noqa: E402

# The default fault mix: 6.5% of requests fail; one in ~2,000 prompts fails twice in a row.
DEFAULT_FAULTS = {"429": 0.02, "500": 0.02, "slow": 0.005, "badjson": 0.01, "drop": 0.01}


def start_server(latency: float, faults: dict[str, float], retry_after: str, slow: float,
                 seed: int) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable, str(REPO / "tests" / "fake_openai_server.py"),
        "--latency", str(latency), "--retry-after", retry_after, "--slow", str(slow),
        "--seed", str(seed),
    ]
    for kind, rate in faults.items():
        command += ["--fault", f"{kind}={rate}"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    if not base_url.startswith("http"):
        server.kill()
        raise SystemExit(f"the fake server did not start: {base_url!r}")
    return server, base_url


def server_stats(base_url: str) -> dict:
    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/fake/stats", timeout=10) as answer:
        return json.load(answer)


def children_cpu_s() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def usage_count(log: str, name: str) -> int:
    """The engine's count ``name`` (requests, retries) from the command's run summary."""
    found = re.search(rf"API {name}\W*([\d,]+)", log) or re.search(rf"\b{name}=(\d+)", log)
    if not found:
        raise SystemExit(f"no count of API {name} in the output of generate:\n{log[-3000:]}")
    return int(found.group(1).replace(",", ""))


def run(workdir: Path, doc_ids: list[str], args: argparse.Namespace, batch_size: int,
        faults: dict[str, float]) -> dict:
    """One generate run against a fresh server; returns its measurements."""
    output = workdir / f"queries-b{batch_size}-{'faults' if faults else 'clean'}.jsonl"
    server, base_url = start_server(args.latency, faults, args.retry_after, args.slow,
                                    args.seed)
    command = [
        sys.executable, "-m", "inpars.generate", "--engine", "openai", "--model", "fake",
        "--base-url", base_url, "--corpus", str(workdir / "corpus.jsonl"),
        "--output", str(output), "--prompt", str(workdir / "prompt.txt"),
        "--concurrency", str(args.concurrency), "--batch-size", str(batch_size),
        "--request-timeout", str(args.request_timeout), "--max-retries", str(args.max_retries),
        "--quiet", "--overwrite",
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO), COLUMNS="200")  # an unwrapped summary
    env.pop("OPENAI_API_KEY", None)
    start = time.perf_counter()
    cpu_before = children_cpu_s()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
        wall = time.perf_counter() - start
        client_cpu = children_cpu_s() - cpu_before
        stats = server_stats(base_url)
    finally:
        server.terminate()
        server.wait(timeout=10)
    server_cpu = children_cpu_s() - cpu_before - client_cpu
    if done.returncode != 0:
        raise SystemExit(f"generate failed ({done.returncode}):\n{done.stderr[-3000:]}")
    manifest = json.loads(Path(f"{output}.manifest.json").read_text(encoding="utf-8"))
    seconds = manifest["last_invocation"]["seconds"]
    audit = audit_output(output, doc_ids, 1)
    served = stats["faults"]
    return {
        "batch_size": batch_size,
        "faults": faults,
        "prompts": len(doc_ids),
        "seconds": seconds,
        "wall_seconds": round(wall, 1),
        "prompts_per_s": round(len(doc_ids) / seconds, 1),
        "ideal_per_s": round(args.concurrency / args.latency, 1),
        "requests_sent": usage_count(done.stderr, "requests"),
        "retries": usage_count(done.stderr, "retries"),
        "server_requests": stats["requests"],
        "server_failures": {kind: n for kind, n in served.items() if kind != "ok"},
        "max_in_flight": stats["max_in_flight"],
        # The whole generate command (imports included) and the server, in CPU seconds: what
        # the client costs per request, whatever else the machine was doing.
        "client_cpu_s": round(client_cpu, 1),
        "server_cpu_s": round(server_cpu, 1),
        "load_average": round(os.getloadavg()[0], 1),
        "records": audit.records,
        "lost": len(audit.lost),
        "duplicated": len(audit.duplicated),
        "unexpected": len(audit.unexpected),
        "misattributed": len(audit.misattributed),
        "audit_ok": audit.ok,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2,
                        help="seconds the server takes for every answer")
    parser.add_argument("--batch-size", type=int, action="append", default=None,
                        help="generate's --batch-size; repeatable (default: 64 and 1024)")
    parser.add_argument("--fault", type=parse_fault_rate, action="append", default=None,
                        metavar="KIND=RATE",
                        help="fault rates of the faulted run; repeatable (default: "
                        + ", ".join(f"{k}={v}" for k, v in DEFAULT_FAULTS.items()) + ")")
    parser.add_argument("--retry-after", default="1", help="the 429's Retry-After (seconds)")
    parser.add_argument("--slow", type=float, default=5.0,
                        help="seconds a 'slow' answer takes (past --request-timeout)")
    parser.add_argument("--request-timeout", type=float, default=2.0)
    parser.add_argument("--max-retries", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0, help="seed of the server's fault draws")
    parser.add_argument("--skip-clean", action="store_true")
    parser.add_argument("--skip-faults", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    faults = dict(args.fault) if args.fault else DEFAULT_FAULTS
    batch_sizes = args.batch_size or [64, 1024]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        workdir = Path(tmp)
        doc_ids = write_corpus(workdir / "corpus.jsonl", args.prompts)
        write_template(workdir / "prompt.txt")
        for batch_size in batch_sizes:
            for mix in ([] if args.skip_clean else [{}]) + ([] if args.skip_faults else [faults]):
                result = run(workdir, doc_ids, args, batch_size, mix)
                results.append(result)
                print(json.dumps(result), flush=True)
    print()
    print(f"{args.prompts:,} prompts, concurrency {args.concurrency}, server latency "
          f"{args.latency:g} s: ideal {args.concurrency / args.latency:,.0f} prompts/s; "
          f"faults: " + ", ".join(f"{k} {v:.1%}" for k, v in faults.items())
          + f"; Retry-After {args.retry_after} s, timeout {args.request_timeout:g} s; "
          f"{os.cpu_count()} CPUs")
    print("| batch | server | seconds | prompts/s | of ideal | requests | retries "
          "| failures served | lost | duplicated | wrong doc | client CPU s | load |")
    print("|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in results:
        served = ", ".join(f"{k} {v}" for k, v in sorted(r["server_failures"].items())) or "-"
        print(f"| {r['batch_size']} | {'faults' if r['faults'] else 'clean'} | {r['seconds']:.1f} "
              f"| {r['prompts_per_s']:.1f} | {r['prompts_per_s'] / r['ideal_per_s']:.0%} "
              f"| {r['requests_sent']:,} | {r['retries']:,} | {served} | {r['lost']} "
              f"| {r['duplicated']} | {r['misattributed']} | {r['client_cpu_s']:.1f} "
              f"| {r['load_average']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["audit_ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
