"""Training under ``torchrun``: gradients are synchronised, one process writes, and the
result is the single-process run's with the same global batch.

Two CPU processes with the gloo backend stand in for two GPUs (as on a CI machine).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from inpars.errors import InparsError
from inpars.training_run import accumulation_steps, split_batch

from conftest import REPO, minilm_tokenizer, write_learnable_triples

SCRIPT = Path(__file__).with_name("distributed_train.py")

pytestmark = pytest.mark.skipif(
    shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
    reason="torchrun not installed",
)


def build_dropout_free_t5(directory: Path) -> Path:
    """A 2-layer random T5 (monoT5 kind) without dropout, so that runs are deterministic.

    monoT5 rather than a cross-encoder: under the pairwise loss the cross-encoder's output
    bias has a gradient of exactly zero, which rounding makes +-1e-10, and Adam scales that
    noise up to a full step; T5 has no such parameter, so weights compare to 1e-5.
    """
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = minilm_tokenizer()
    config = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        decoder_start_token_id=tokenizer.pad_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id, dropout_rate=0.0,
    )  # fmt: skip
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def run(what: str, model: Path, data: Path, output: Path, hashes: Path, *extra: str,
        processes: int = 1) -> None:  # fmt: skip
    """The script in one process, or in ``processes`` under torchrun (gloo on CPU)."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    script = [str(SCRIPT), what, str(model), str(data), str(output), str(hashes), *extra]
    if processes == 1:
        command = [sys.executable, *script]
    else:
        torchrun = Path(sys.executable).parent / "torchrun"
        command = [str(torchrun) if torchrun.exists() else "torchrun", "--standalone",
                   "--nproc_per_node", str(processes), *script]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]


def step_hashes(folder: Path, rank: int) -> list[tuple[int, str]]:
    rows = [json.loads(line) for line in (folder / f"rank{rank}.jsonl").read_text().splitlines()]
    return [(row["step"], row["hash"]) for row in rows]


def assert_same_weights(a: Path, b: Path, atol: float = 1e-5) -> None:
    first, second = load_file(a), load_file(b)
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(second[name], first[name], rtol=0, atol=atol, msg=name)


def test_two_processes_train_one_model_equal_to_a_single_process_run(tmp_path: Path) -> None:
    model = build_dropout_free_t5(tmp_path / "model")
    triples = write_learnable_triples(tmp_path / "triples.tsv", n=32)
    run("reranker", model, triples, tmp_path / "single", tmp_path / "h1")
    run("reranker", model, triples, tmp_path / "ddp", tmp_path / "h2", processes=2)

    # Every rank holds the same weights after every optimizer step: gradients were
    # all-reduced (an unwrapped model trains one replica per process and differs at step 1).
    rank0, rank1 = step_hashes(tmp_path / "h2", 0), step_hashes(tmp_path / "h2", 1)
    assert [step for step, _ in rank0] == [1, 2, 3, 4]  # 32 triples, 8 per step, both ranks
    assert rank0 == rank1
    # --batch-size is the global batch: as many steps as one process, the same weights.
    assert step_hashes(tmp_path / "h1", 0)[-1][0] == 4
    single = json.loads((tmp_path / "h1" / "summary0.json").read_text())
    for rank in (0, 1):
        ddp = json.loads((tmp_path / "h2" / f"summary{rank}.json").read_text())
        assert ddp["steps"] == single["steps"] == 4
    assert_same_weights(tmp_path / "single" / "model.safetensors",
                        tmp_path / "ddp" / "model.safetensors")  # fmt: skip
    # One process wrote the folder: one loss line per logged step, not one per process.
    log = (tmp_path / "ddp" / "train-log.jsonl").read_text().splitlines()
    logged = [json.loads(line) for line in log]
    assert [row["step"] for row in logged if "loss" in row] == [1, 2, 3, 4]
    metadata = json.loads((tmp_path / "ddp" / "inpars-reranker.json").read_text())
    assert metadata["steps"] == 4

    # --overwrite under torchrun: the main process alone deletes and rewrites the folder
    # (a rank deleting after another wrote would lose the manifest or the model).
    run("reranker", model, triples, tmp_path / "ddp", tmp_path / "h3", "--overwrite",
        processes=2)  # fmt: skip
    assert step_hashes(tmp_path / "h3", 0) == step_hashes(tmp_path / "h3", 1)
    assert json.loads(Path(f"{tmp_path / 'ddp'}.manifest.json").read_text())["status"] == "complete"
    assert_same_weights(tmp_path / "single" / "model.safetensors",
                        tmp_path / "ddp" / "model.safetensors")  # fmt: skip


def test_genq_under_torchrun_equals_a_single_process_run(tmp_path: Path) -> None:
    """sentence-transformers' trainer under torchrun: inpars splits --batch-size over the
    processes, gathers the in-batch negatives back and batches without duplicates as a
    whole, so two processes train what one does."""
    from dense_fixtures import build_tiny_bi_encoder

    model = build_tiny_bi_encoder(tmp_path / "bi", dropout=0.0)
    topics = ["wing", "shell", "heat", "flutter", "plate", "shock", "jet", "crack"]
    lines = [
        f"what about the {topics[i % 8]} {i}\tthe {topics[i % 8]} is explained {i}\t"
        f"noise: the {topics[(i + 3) % 8]} {i}\n"
        for i in range(16)
    ]
    triples = tmp_path / "triples.tsv"
    triples.write_text("".join(lines))
    run("genq", model, triples, tmp_path / "single", tmp_path / "h1")
    run("genq", model, triples, tmp_path / "ddp", tmp_path / "h2", processes=2)
    rank0, rank1 = step_hashes(tmp_path / "h2", 0), step_hashes(tmp_path / "h2", 1)
    assert [step for step, _ in rank0] == [1, 2, 3, 4] and rank0 == rank1
    assert [step for step, _ in step_hashes(tmp_path / "h1", 0)] == [1, 2, 3, 4]
    assert_same_weights(tmp_path / "single" / "model.safetensors",
                        tmp_path / "ddp" / "model.safetensors")  # fmt: skip


def test_the_global_batch_must_split_evenly_over_the_devices() -> None:
    assert accumulation_steps(64, 8, 1) == 8
    assert accumulation_steps(64, 8, 8) == 1
    assert split_batch(64, None, 8) == (8, 1)
    with pytest.raises(InparsError, match=r"--batch-size \(64\) must be a multiple of "
                       r"--micro-batch-size \(8\) x the 3 devices"):  # fmt: skip
        accumulation_steps(64, 8, 3)
    with pytest.raises(InparsError, match="multiple of the 3 devices"):
        split_batch(64, None, 3)
