"""Engine ``hf``: a local Hugging Face causal LM (a folder, a hub id or a GGUF file).

Why it is fast on a CPU: in InPars-style prompts most tokens are the few-shot prefix that
every document shares, so reading the prompt (prefill), not writing the query, dominates.
The engine computes the key/value cache of the longest token prefix shared by the prompts of
a batch once, keeps it across batches, and runs only each document's own tokens through the
model. The rows of a batch are padded between the shared prefix and their own tokens; the
attention mask hides the padding and position ids follow the mask, so each row sees exactly
its own prompt. Decoding is a short loop of its own rather than ``generate()``, so that a
query that has ended leaves the batch at once (see :meth:`HFEngine._decode`).
"""

from __future__ import annotations

import argparse
import copy
import inspect
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpars.engines.base import (
    Generation,
    Request,
    SamplingParams,
    cut_completion_at_stop,
    normalize_query,
    token_starts_of_ids,
)
from inpars.errors import InparsError
from inpars.models import (
    DEFAULT_MODEL,
    DTYPES,
    ModelSource,
    converted_gguf_dir,
    pick_device,
    pick_dtype,
    resolve_model,
)


@dataclass
class _PrefixCache:
    ids: list[int]
    cache: Any  # transformers DynamicCache for a batch of one


class _TokenizerAdapter:
    """Exposes a Hugging Face tokenizer as inpars' minimal :class:`Tokenizer`."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True)


def load_model_and_tokenizer(source: ModelSource, device: str, dtype: Any) -> tuple[Any, Any]:
    """Loads a causal LM and its tokenizer; GGUF files are converted once and cached."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = source.path
    if source.gguf_file is not None:
        path = str(ensure_converted_gguf(source))
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except OSError as exc:
        raise InparsError(f"could not load model '{source.name}': {exc}") from None
    return model.to(device).eval(), tokenizer


def ensure_converted_gguf(source: ModelSource) -> Path:
    """The cached Hugging Face folder of a GGUF model, converting it first if needed."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = converted_gguf_dir(source)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(
        source.path, gguf_file=source.gguf_file, dtype=torch.float32
    )
    # A model dequantized from GGUF keeps its quantizer and refuses to be saved; once
    # dequantized it is a plain model, so both are dropped (log-probs stay identical).
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # Written to a temporary folder and renamed, so an interrupted conversion never leaves
    # a half-written model that a later run would trust.
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".converting-"))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "config.json").is_file():
            raise
    return target


class HFEngine:
    """Generates with a local causal LM (``transformers``), batched, with a shared-prefix cache."""

    name = "hf"

    def __init__(
        self,
        model: str | None = None,
        *,
        gguf_file: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        threads: int | None = None,
        prefix_cache: bool = True,
    ) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        source = resolve_model(model, gguf_file)
        self.model = source.name
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.prefix_cache = prefix_cache
        self._model, self._tokenizer = load_model_and_tokenizer(source, self.device, self.dtype)
        if self._tokenizer.pad_token_id is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token
        self._prefix: _PrefixCache | None = None
        # transformers renamed the key/value cache argument ``past_key_values`` to ``cache``
        # (5.24; the old name goes in 5.40): pass the name this model's forward takes.
        takes_cache = "cache" in inspect.signature(self._model.forward).parameters
        self._cache_arg = "cache" if takes_cache else "past_key_values"

    @property
    def tokenizer(self) -> _TokenizerAdapter:
        return _TokenizerAdapter(self._tokenizer)

    @property
    def context_length(self) -> int | None:
        return getattr(self._model.config, "max_position_embeddings", None)

    def encode_prompt(self, prompt: str) -> list[int]:
        """The token ids the model reads for ``prompt`` (special tokens included)."""
        return self._tokenizer(prompt)["input_ids"]

    def generate(
        self, requests: list[Request], params: SamplingParams
    ) -> list[list[Generation]]:
        """One completion per seed of each request; each row samples with its own generator.

        Row ``j`` of a request draws its tokens from a ``torch.Generator`` seeded with
        ``request.seeds[j]`` alone, so what it samples does not depend on the other rows of
        the batch, on their number, or on the order in which documents come.
        """
        import torch

        if not requests:
            return []
        prompt_ids = [self.encode_prompt(r.prompt) for r in requests]
        rows = [ids for ids, r in zip(prompt_ids, requests, strict=True) for _ in r.seeds]
        seeds = [seed for r in requests for seed in r.seeds]
        if not rows:
            return [[] for _ in requests]
        prefix = self._shared_prefix(prompt_ids) if self.prefix_cache else None
        start = len(prefix.ids) if prefix else 0
        width = max(len(ids) - start for ids in rows)
        pad = self._tokenizer.pad_token_id
        input_ids = torch.full((len(rows), start + width), pad, dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for i, ids in enumerate(rows):
            own = ids[start:]
            input_ids[i, :start] = torch.tensor(ids[:start])
            input_ids[i, start + width - len(own) :] = torch.tensor(own)
            mask[i, :start] = 1
            mask[i, start + width - len(own) :] = 1
        if prefix is not None:
            cache = copy.deepcopy(prefix.cache)
            cache.batch_repeat_interleave(len(rows))
        else:
            from transformers import DynamicCache

            cache = DynamicCache(config=self._model.config)
        generators = None
        if not params.greedy:
            generators = [
                torch.Generator(device=self.device).manual_seed(seed) for seed in seeds
            ]
        with torch.inference_mode():
            new_tokens, scores = self._decode(input_ids, mask, start, cache, params, generators)
        results: list[list[Generation]] = []
        row = 0
        for ids, request in zip(prompt_ids, requests, strict=True):
            gens = []
            for _ in request.seeds:
                gens.append(self._finish(new_tokens[row], scores[row], len(ids), params))
                row += 1
            results.append(gens)
        return results

    def _decode(
        self,
        input_ids: Any,
        mask: Any,
        start: int,
        cache: Any,
        params: SamplingParams,
        generators: list[Any] | None,
    ) -> tuple[list[list[int]], list[list[float]]]:
        """Each row's new token ids and their log-probs, decoding until each row stops.

        ``generate()`` keeps every row in the batch until the longest one ends; here a row
        leaves the batch (and its key/value cache) at its stop string or end-of-text token,
        so a batch costs the tokens its queries have, not rows x the longest query.
        Temperature and top-p are transformers' own logits warpers.
        """
        import torch
        from transformers import (
            LogitsProcessorList,
            TemperatureLogitsWarper,
            TopPLogitsWarper,
        )

        warpers = LogitsProcessorList()
        if not params.greedy:
            warpers.append(TemperatureLogitsWarper(params.temperature))
            if params.top_p < 1.0:
                warpers.append(TopPLogitsWarper(params.top_p))
        stop_ids = {self._tokenizer.eos_token_id, self._tokenizer.pad_token_id} - {None}
        rows = input_ids.shape[0]
        new_tokens: list[list[int]] = [[] for _ in range(rows)]
        log_probs: list[list[float]] = [[] for _ in range(rows)]
        active = list(range(rows))  # original row of each row still in the batch
        mask = mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        step_ids = input_ids[:, start:].to(self.device)
        step_positions = positions[:, start:]
        for _ in range(params.max_new_tokens):
            out = self._model(
                input_ids=step_ids,
                attention_mask=mask,
                position_ids=step_positions,
                **{self._cache_arg: cache},
                use_cache=True,
                logits_to_keep=1,
            )
            logits = out.logits[:, -1, :].float()
            if params.greedy:
                chosen = logits.argmax(-1)
            else:
                assert generators is not None
                probs = torch.softmax(warpers(step_ids, logits), dim=-1)
                # One draw per row from the row's own generator: a row's sample never
                # depends on which rows share its batch.
                chosen = torch.cat([
                    torch.multinomial(probs[i], 1, generator=generators[row])
                    for i, row in enumerate(active)
                ])
            # The log-prob of the chosen token under the model's own distribution: the raw
            # logits, before temperature and top-p.
            chosen_log_probs = torch.log_softmax(logits, dim=-1).gather(-1, chosen[:, None])
            keep = []
            for i, (row, token, value) in enumerate(
                zip(active, chosen.tolist(), chosen_log_probs[:, 0].tolist(), strict=True)
            ):
                new_tokens[row].append(token)
                log_probs[row].append(value)
                if token in stop_ids:
                    continue
                if params.stop:
                    text = self._tokenizer.decode(new_tokens[row])
                    if any(stop in text for stop in params.stop):
                        continue
                keep.append(i)
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                mask = mask[index]
                chosen = chosen[index]
                step_positions = step_positions[index]
                active = [active[i] for i in keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=-1)
            step_ids = chosen[:, None]
            step_positions = step_positions[:, -1:] + 1
        return new_tokens, log_probs

    def _finish(
        self, ids: list[int], log_probs: list[float], prompt_tokens: int, params: SamplingParams
    ) -> Generation:
        """A row's query from its new tokens: cut by the engines' one stop rule.

        Decoding stopped at the end-of-text token or at the token whose text completed a
        stop string; what the query keeps of them is :func:`cut_completion_at_stop`'s rule.
        """
        stop_ids = {self._tokenizer.eos_token_id, self._tokenizer.pad_token_id} - {None}
        generated, ended = len(ids), False
        for i, token in enumerate(ids):
            if token in stop_ids:
                generated, ended = i + 1, True
                break
            if params.stop and any(s in self._decode_text(ids[: i + 1]) for s in params.stop):
                generated = i + 1
                break
        text_ids = ids[: generated - 1] if ended else ids[:generated]
        cut = cut_completion_at_stop(
            self._decode_text(text_ids),
            token_starts_of_ids(self._decode_text, text_ids),
            params.stop,
        )
        kept = text_ids[: cut.kept]
        return Generation(
            text=normalize_query(cut.text),
            tokens=[self._tokenizer.decode([t]) for t in kept],
            log_probs=log_probs[: cut.kept],
            finish_reason="stop" if ended or cut.stopped else "length",
            prompt_tokens=prompt_tokens,
            completion_tokens=generated,
            token_ids=kept,
        )

    def _decode_text(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True)

    def _shared_prefix(self, prompt_ids: list[list[int]]) -> _PrefixCache | None:
        """The key/value cache of the longest token prefix all prompts share (reused)."""
        import torch

        # Every row must keep at least one token of its own for generate() to read.
        limit = min(len(ids) for ids in prompt_ids) - 1
        if self._prefix is not None:
            cached = self._prefix.ids
            if len(cached) <= limit and all(ids[: len(cached)] == cached for ids in prompt_ids):
                return self._prefix
        length = _common_prefix_length(prompt_ids, limit)
        if length < 16:  # too short to be worth a cache
            return None
        ids = prompt_ids[0][:length]
        with torch.inference_mode():
            out = self._model(
                input_ids=torch.tensor([ids], device=self.device), use_cache=True
            )
        self._prefix = _PrefixCache(ids, out[self._cache_arg])
        return self._prefix

    def close(self) -> None:
        self._prefix = None


def _common_prefix_length(sequences: list[list[int]], limit: int) -> int:
    first = sequences[0]
    length = 0
    while length < limit and all(s[length] == first[length] for s in sequences):
        length += 1
    return length


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--gguf-file", default=None,
        help="with --model a folder or hub id: the GGUF file inside it to load (converted to a "
        "regular model once and cached). A path ending in .gguf can also be given as --model.",
    )
    group.add_argument(
        "--device", default="auto",
        help="torch device: cpu, cuda, cuda:1, mps, or auto (CUDA, then MPS, then CPU). "
        "Default: auto.",
    )
    group.add_argument(
        "--dtype", default="auto", choices=DTYPES,
        help="weights and activations: auto = bfloat16 on GPUs that have it, float16 on other "
        "GPUs, float32 on CPUs. Default: auto.",
    )
    group.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads for torch (default: torch's own choice, usually one per core).",
    )
    group.add_argument(
        "--no-prefix-cache", dest="prefix_cache", action="store_false",
        help="recompute the shared few-shot prefix for every batch instead of caching its "
        "keys and values (slower; the output is the same up to float rounding).",
    )


def from_args(args: argparse.Namespace) -> HFEngine:
    return HFEngine(
        args.model or DEFAULT_MODEL,
        gguf_file=args.gguf_file,
        device=args.device,
        dtype=args.dtype,
        threads=args.threads,
        prefix_cache=args.prefix_cache,
    )
