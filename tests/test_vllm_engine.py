"""The vllm engine, run for real: vLLM's CPU build on the bundled SmolLM2.

vLLM lives in its own environment (``bash scripts/install.sh --vllm`` makes ``.venv-vllm``;
``install.sh --test`` too). These tests run from the main environment and start that
environment's Python as a subprocess: ``tests/vllm_checks.py`` once for the engine's checks,
then ``python -m inpars.generate --engine vllm`` for the command line and its resume. Each
vLLM start costs a minute or two on a CPU, hence so few of them. ``$INPARS_VLLM_PYTHON``
names another interpreter; the tests are skipped only when there is none.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from inpars.cli.generate import build_parser
from inpars.engines.base import engine_options
from inpars.errors import InparsError

from conftest import REPO

sys.path.insert(0, str(Path(__file__).parent))
from vllm_checks import RUN

VLLM_PYTHON = Path(os.environ.get("INPARS_VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))
# vLLM's CPU build reserves this many GiB for the key/value cache (its default is far more
# than SmolLM2 at 2,048 tokens needs).
VLLM_ENV = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "PYTHONUNBUFFERED": "1"}
START_TIMEOUT_S = 1200

needs_vllm = pytest.mark.skipif(
    not VLLM_PYTHON.is_file(),
    reason=f"no vLLM environment at {VLLM_PYTHON}: create it with `bash scripts/install.sh "
    "--vllm` (or set INPARS_VLLM_PYTHON)",
)


# --- without vLLM: the main environment lists the engine and explains what it needs --------


def test_help_lists_the_vllm_engine_and_its_flags_without_vllm_installed(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    assert "'vllm' engine" in text
    for flag in ("--tensor-parallel-size", "--gpu-memory-utilization", "--max-model-len"):
        assert flag in text


def test_vllm_flags_are_parsed_and_recorded_with_the_shared_dtype():
    args = build_parser().parse_args([
        "--corpus", "sample", "--output", "x.jsonl", "--engine", "vllm", "--dtype", "bfloat16",
        "--tensor-parallel-size", "2", "--max-model-len", "4096",
    ])
    assert engine_options(args) == {
        "gguf_file": None, "dtype": "bfloat16", "tensor_parallel_size": 2,
        "gpu_memory_utilization": 0.9, "max_model_len": 4096,
    }


def test_without_vllm_the_engine_says_how_to_install_it():
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vLLM is importable here")
    from inpars.engines.vllm import VLLMEngine

    with pytest.raises(InparsError, match=r"install\.sh --vllm"):
        VLLMEngine("smollm2-135m")


# --- with vLLM: one run of tests/vllm_checks.py ---------------------------------------------


@pytest.fixture(scope="module")
def checks(tmp_path_factory: pytest.TempPathFactory) -> dict:
    directory = tmp_path_factory.mktemp("vllm")
    out, reference = directory / "checks.json", directory / "reference.jsonl"
    proc = subprocess.run(
        [str(VLLM_PYTHON), str(REPO / "tests" / "vllm_checks.py"), str(out), str(reference)],
        cwd=directory, env=VLLM_ENV, capture_output=True, text=True, timeout=START_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    result["reference"] = reference
    return result


def texts(results: list[list[dict]]) -> list[list[str]]:
    return [[gen["text"] for gen in gens] for gens in results]


@needs_vllm
@pytest.mark.slow
def test_vllm_log_probs_match_an_hf_forward_pass_on_the_same_weights(checks):
    from inpars.engines.hf import HFEngine

    hf = HFEngine(checks["model_folder"], dtype="float32")
    diffs = []
    for kind in ("together", "greedy"):
        for prompt, gens in zip(checks["prompts"], checks[kind], strict=True):
            prompt_ids = hf.encode_prompt(prompt)
            for gen in gens:
                assert gen["token_ids"], "expected a non-empty query"
                assert gen["prompt_tokens"] == len(prompt_ids)
                ids = torch.tensor([prompt_ids + gen["token_ids"]])
                with torch.inference_mode():
                    log_probs = torch.log_softmax(hf._model(input_ids=ids).logits[0].float(), -1)
                start = len(prompt_ids)
                expected = [
                    log_probs[start + i - 1, t].item() for i, t in enumerate(gen["token_ids"])
                ]
                assert len(gen["log_probs"]) == len(gen["tokens"]) == len(expected)
                diffs += [abs(a - b) for a, b in zip(gen["log_probs"], expected, strict=True)]
    print(f"vLLM vs hf log-probs over {len(diffs)} tokens: max |diff| {max(diffs):.2e}, "
          f"mean {sum(diffs) / len(diffs):.2e}")
    assert max(diffs) < 0.05


@needs_vllm
@pytest.mark.slow
def test_vllm_log_probs_are_of_the_sampled_token_under_the_raw_distribution(checks):
    # Sampled at temperature 1.0 and top-p 0.95, the recorded log-probs are the raw model's
    # (checked against hf above); greedy queries' tokens are never improbable ones.
    sampled = [lp for gens in checks["together"] for gen in gens for lp in gen["log_probs"]]
    assert min(sampled) < -2.0  # some sampled tokens are far from the argmax
    assert all(lp <= 0.0 for lp in sampled)


@needs_vllm
@pytest.mark.slow
def test_vllm_stops_at_the_newline_and_reports_length(checks):
    for gens in checks["together"] + checks["greedy"]:
        for gen in gens:
            assert "\n" not in gen["text"]
            assert gen["finish_reason"] == "stop"
            # The tokens spell the query; the token that ended it (a newline, or "?\n" when
            # the tokenizer merges them) was generated and counted, kept only if part of its
            # text is in the query.
            spelled = "".join(gen["tokens"])
            assert spelled.lstrip().startswith(gen["text"])
            if gen["completion_tokens"] == len(gen["token_ids"]):
                assert "\n" in gen["tokens"][-1]
            else:
                assert gen["completion_tokens"] == len(gen["token_ids"]) + 1
                assert spelled.strip() == gen["text"]
    for gens in checks["short"]:
        for gen in gens:
            assert gen["finish_reason"] == "length"
            assert gen["completion_tokens"] == len(gen["token_ids"]) == 3


@needs_vllm
@pytest.mark.slow
def test_vllm_same_seed_same_queries_whatever_the_batch(checks):
    together = texts(checks["together"])
    assert texts(checks["alone"]) == together
    assert texts(checks["reversed"]) == together
    assert texts(checks["mixed"]) == together
    for kind in ("alone", "reversed", "mixed"):
        for a, b in zip(checks[kind], checks["together"], strict=True):
            assert [g["token_ids"] for g in a] == [g["token_ids"] for g in b]
    # Each query is a function of its own seed: other seeds, other queries.
    assert texts(checks["other_seeds"]) != together
    assert any(len(set(queries)) > 1 for queries in together)
    # Greedy ignores the seeds: every completion of a prompt is the same.
    assert all(len(set(queries)) == 1 for queries in texts(checks["greedy"]))


def run_cli(output: Path, batch_size: int) -> subprocess.Popen:
    """``python -m inpars.generate --engine vllm`` in the vLLM environment, in its own group."""
    args = [
        "--engine", "vllm", "--model", "smollm2-135m", "--dtype", "float32",
        "--max-model-len", "2048", "--corpus", RUN["corpus"], "--output", str(output),
        "--num-queries-per-doc", str(RUN["num_queries_per_doc"]),
        "--temperature", str(RUN["temperature"]), "--top-p", str(RUN["top_p"]),
        "--max-new-tokens", str(RUN["max_new_tokens"]), "--seed", str(RUN["seed"]),
        "--batch-size", str(batch_size), "--quiet",
    ]
    return subprocess.Popen(
        [str(VLLM_PYTHON), "-m", "inpars.generate", *args], cwd=REPO, env=VLLM_ENV,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )


def records(path: Path) -> dict[tuple[str, int], dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {(r["doc_id"], r["query_index"]): r for r in map(json.loads, lines)}


@needs_vllm
@pytest.mark.slow
def test_vllm_cli_resumed_after_sigkill_writes_the_uninterrupted_file(checks, tmp_path):
    out = tmp_path / "killed.jsonl"
    proc = run_cli(out, batch_size=2)
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 8:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    # vLLM's engine core notices its parent is gone and exits; anything left is removed.
    time.sleep(5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    written = out.read_bytes().count(b"\n")
    expected = records(checks["reference"])
    assert 8 <= written < len(expected)

    resumed = run_cli(out, batch_size=3)
    _, stderr = resumed.communicate(timeout=START_TIMEOUT_S)
    assert resumed.returncode == 0, stderr.decode()[-4000:]
    # The killed run (batch size 2), its resume (3) and the library run (5) wrote the same
    # records: every query, token and field the same. vLLM on a CPU is not bit-exact across
    # batch compositions (its matrix products round differently for other batch shapes), so
    # log-probs agree to float rounding (seen: up to 5e-6), not to the last bit.
    got = records(out)
    assert got.keys() == expected.keys()
    for key, record in expected.items():
        assert {**got[key], "log_probs": None} == {**record, "log_probs": None}, key
        assert got[key]["log_probs"] == pytest.approx(record["log_probs"], abs=1e-4), key
