"""The one interface every text-generation engine implements.

An engine module in this package (``inpars/engines/<name>.py``) defines:

* a class implementing :class:`Engine`;
* ``add_arguments(group)``: its command-line flags, added to ``inpars.generate``'s parser;
* ``from_args(args) -> Engine``: builds the engine from the parsed flags.

Adding an engine is adding one such file: :func:`available_engines` finds it by name.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import pkgutil
from dataclasses import dataclass, field
from types import ModuleType
from typing import Protocol, runtime_checkable

from inpars.errors import InparsError


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature == 0`` means greedy decoding."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0
    stop: tuple[str, ...] = ("\n",)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass(frozen=True)
class Request:
    """One prompt and the seed of each completion wanted for it.

    ``len(seeds)`` completions are generated; completion ``j`` is sampled with ``seeds[j]``
    and with nothing else that varies between runs, so it does not depend on the batch it
    shares, on batch size, concurrency, resume or shard. Greedy decoding ignores the seeds
    (only their number counts).
    """

    prompt: str
    seeds: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.seeds)


def query_seed(seed: int, doc_id: str, query_index: int) -> int:
    """The sampling seed of query ``query_index`` of document ``doc_id`` in a run seeded ``seed``.

    A stable hash (SHA-256, not Python's salted ``hash``), below 2**63 so that every engine
    (torch generators, vLLM, OpenAI's ``seed``) accepts it.
    """
    digest = hashlib.sha256(f"{seed}\x00{doc_id}\x00{query_index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass
class Generation:
    """One completion of one prompt.

    ``tokens`` and ``log_probs`` cover the tokens that make up ``text``: the stop sequence
    (the newline) and the end-of-text token are not part of them. ``log_probs[i]`` is the
    model's log-probability of the token actually generated at step ``i`` (under the model's
    own distribution, before temperature or top-p).
    """

    text: str
    tokens: list[str]
    log_probs: list[float]
    finish_reason: str  # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int
    token_ids: list[int] = field(default_factory=list)  # where the engine knows them


@runtime_checkable
class Tokenizer(Protocol):
    """What prompt truncation needs from a tokenizer."""

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


@runtime_checkable
class Engine(Protocol):
    """Generates completions for prompts."""

    name: str  # the engine's name, e.g. "hf"
    model: str  # the model as the user named it

    @property
    def tokenizer(self) -> Tokenizer | None:
        """The model's tokenizer where known (used to truncate documents by tokens)."""

    @property
    def context_length(self) -> int | None:
        """The model's context window in tokens, where known."""

    def generate(self, requests: list[Request], params: SamplingParams) -> list[list[Generation]]:
        """For each request, in request order, one completion per seed, in seed order.

        ``params.seed`` is not used for sampling: each completion's own seed is in its request.
        """

    def close(self) -> None:
        """Releases what the engine holds (connections, memory)."""


def available_engines() -> list[str]:
    """The names of the engine modules in this package."""
    import inpars.engines as package

    return sorted(
        m.name for m in pkgutil.iter_modules(package.__path__) if m.name not in {"base"}
    )


def engine_module(name: str) -> ModuleType:
    """The module that defines engine ``name``."""
    if name not in available_engines():
        raise InparsError(
            f"unknown engine '{name}'; available: {', '.join(available_engines())}"
        )
    return importlib.import_module(f"inpars.engines.{name}")


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds each engine's flags to ``parser``, one argument group per engine."""
    for name in available_engines():
        group = parser.add_argument_group(f"'{name}' engine")
        engine_module(name).add_arguments(group)


def add_shared_flag(group: argparse._ArgumentGroup, *names: str, **options: object) -> None:
    """Adds a flag unless an engine listed before this one defined it.

    Engines share one parser, so a flag two engines take (``--dtype``, ``--tokenizer``) is
    defined by the first and read by both; its help is the first one's.
    """
    with contextlib.suppress(argparse.ArgumentError):
        group.add_argument(*names, **options)  # type: ignore[arg-type]


def engine_options(args: argparse.Namespace) -> dict[str, object]:
    """The values of the selected engine's own flags (for run manifests)."""
    probe = argparse.ArgumentParser(add_help=False)
    engine_module(args.engine).add_arguments(probe.add_argument_group())
    names = [a.dest for a in probe._actions]
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


def engine_from_args(args: argparse.Namespace) -> Engine:
    """Builds the engine named by ``args.engine`` from the parsed flags."""
    return engine_module(args.engine).from_args(args)
