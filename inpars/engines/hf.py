"""Engine ``hf``: a local Hugging Face causal LM (a folder, a hub id or a GGUF file).

How it works, and why it is reproducible and fast on a CPU:

* **One document at a time.** Each request (a document's prompt and the seeds of its
  queries) is computed on its own, with no padding and no other document in its tensors, so
  its queries and their log-probs are the same bit for bit whatever ``--batch-size`` is,
  whichever documents come before or after, and after a resume (same machine, dtype and
  threads). On a CPU this costs nothing: rows of a padded batch mostly compute padding.
  On a GPU, use the ``vllm`` engine for throughput.
* **The shared prefix once per run.** In InPars-style prompts most tokens are the few-shot
  prefix every document shares, so reading the prompt (prefill), not writing the query,
  dominates. The key/value cache of the request's ``shared_prefix`` is computed once and
  kept; only each document's own tokens run through the model.
* **Each document once for all its queries.** The document's own tokens are prefilled once
  and their key/value cache forked into one row per query, each sampling with a
  ``torch.Generator`` seeded with its own seed.
* **Rows leave when done.** Decoding is a short loop of its own rather than ``generate()``,
  so that a query that has ended leaves the batch at once (see :meth:`HFEngine._decode`).
"""

from __future__ import annotations

import argparse
import copy
import inspect
from dataclasses import dataclass
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
    model_folder,
    pick_device,
    pick_dtype,
    resolve_model,
)


@dataclass
class _PrefixCache:
    text: str  # the shared prefix as text
    ids: list[int]  # its tokens as they begin every prompt that starts with it
    cache: Any  # transformers DynamicCache of ``ids`` for a batch of one; None if too short


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

    path = model_folder(source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except OSError as exc:
        raise InparsError(f"could not load model '{source.name}': {exc}") from None
    return model.to(device).eval(), tokenizer


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
        """One completion per seed of each request, each request computed on its own.

        Row ``j`` of a request draws its tokens from a ``torch.Generator`` seeded with
        ``request.seeds[j]`` alone, and no request shares a tensor with another, so a query
        does not depend on the other requests of the call, on their number, or on order.
        """
        return [self._generate_one(request, params) for request in requests]

    def _generate_one(self, request: Request, params: SamplingParams) -> list[Generation]:
        """The completions of one request: its own tokens prefilled once, forked per seed."""
        import torch

        if not request.seeds:
            return []
        ids = self.encode_prompt(request.prompt)
        prefix = self._shared_prefix(request.shared_prefix, ids) if self.prefix_cache else None
        if prefix is not None:
            cache = copy.deepcopy(prefix.cache)
            own = ids[len(prefix.ids) :]
        else:
            from transformers import DynamicCache

            cache = DynamicCache(config=self._model.config)
            own = ids
        generators = None
        if not params.greedy:
            generators = [
                torch.Generator(device=self.device).manual_seed(seed) for seed in request.seeds
            ]
        with torch.inference_mode():
            new_tokens, scores = self._decode(own, cache, len(request.seeds), params, generators)
        return [
            self._finish(tokens, values, len(ids), params)
            for tokens, values in zip(new_tokens, scores, strict=True)
        ]

    def _decode(
        self,
        own_ids: list[int],
        cache: Any,
        rows: int,
        params: SamplingParams,
        generators: list[Any] | None,
    ) -> tuple[list[list[int]], list[list[float]]]:
        """Each row's new token ids and their log-probs, decoding until each row stops.

        ``own_ids`` (the prompt's tokens after those in ``cache``) are read once; the cache
        and the last position's logits are then repeated into ``rows`` rows, one per query.
        ``generate()`` keeps every row until the longest one ends; here a row leaves the
        batch (and its key/value cache) at its stop string or end-of-text token. Positions
        follow from the cache's length (no padding anywhere). Temperature and top-p are
        transformers' own logits warpers.
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
        new_tokens: list[list[int]] = [[] for _ in range(rows)]
        log_probs: list[list[float]] = [[] for _ in range(rows)]
        active = list(range(rows))  # original row of each row still in the batch
        step_ids = torch.tensor([own_ids], device=self.device)
        logits = self._forward(step_ids, cache)
        if rows > 1:  # the document's keys and values, forked: one copy per query
            cache.batch_repeat_interleave(rows)
            logits = logits.expand(rows, -1)
        for step in range(params.max_new_tokens):
            if params.greedy:
                chosen = logits.argmax(-1)
            else:
                assert generators is not None
                probs = torch.softmax(warpers(step_ids, logits), dim=-1)
                # One draw per row from the row's own generator: a row's sample never
                # depends on the other rows.
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
            if not keep or step == params.max_new_tokens - 1:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                chosen = chosen[index]
                active = [active[i] for i in keep]
            step_ids = chosen[:, None]
            logits = self._forward(step_ids, cache)
        return new_tokens, log_probs

    def _forward(self, input_ids: Any, cache: Any) -> Any:
        """The logits of the last position of each row, as float32, extending ``cache``."""
        out = self._model(
            input_ids=input_ids,
            **{self._cache_arg: cache},
            use_cache=True,
            logits_to_keep=1,
        )
        return out.logits[:, -1, :].float()

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

    def _shared_prefix(self, text: str, ids: list[int]) -> _PrefixCache | None:
        """The key/value cache of ``text``'s tokens, where ``ids`` start with them (kept).

        The last token of ``text`` is left out: it may merge with what follows it in a
        prompt. The split between cache and own tokens depends on ``text`` only, never on
        the other prompts of a batch, so a document computes the same numbers in any batch.
        """
        import torch

        if not text:
            return None
        if self._prefix is None or self._prefix.text != text:
            prefix_ids = self.encode_prompt(text)[:-1]
            cache = None
            if len(prefix_ids) >= 16:  # shorter is not worth a cache
                with torch.inference_mode():
                    out = self._model(
                        input_ids=torch.tensor([prefix_ids], device=self.device), use_cache=True
                    )
                cache = out[self._cache_arg]
            self._prefix = _PrefixCache(text, prefix_ids, cache)
        prefix = self._prefix
        # Every prompt must keep at least one token of its own to read.
        if prefix.cache is None or len(ids) <= len(prefix.ids):
            return None
        if ids[: len(prefix.ids)] != prefix.ids:
            return None
        return prefix

    def close(self) -> None:
        self._prefix = None


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
        help="recompute the shared few-shot prefix for every document instead of caching its "
        "keys and values once per run (slower; the output is the same up to float rounding).",
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
