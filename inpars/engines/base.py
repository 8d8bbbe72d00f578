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
from collections.abc import Callable, Sequence
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

    ``shared_prefix`` (optional) is the start of ``prompt`` that every request of the run
    shares (a template's instruction and few-shot examples). An engine may compute its
    key/value cache once and reuse it; because the split between that cache and the
    request's own tokens is then the same whatever else is batched with it, the result
    stays independent of the batch. Engines that cache prefixes on their own ignore it.
    """

    prompt: str
    seeds: tuple[int, ...]
    shared_prefix: str = ""

    @property
    def n(self) -> int:
        return len(self.seeds)


def query_seed(seed: int, doc_id: str, query_index: int, passage_index: int | None = None) -> int:
    """The sampling seed of query ``query_index`` of document ``doc_id`` in a run seeded ``seed``.

    A stable hash (SHA-256, not Python's salted ``hash``), below 2**63 so that every engine
    (torch generators, vLLM, OpenAI's ``seed``) accepts it. ``passage_index``: the window the
    query was generated from (``inpars.generate --passage-tokens``), hashed in too; None (a
    whole-document run) gives the seeds runs without passages always had.
    """
    key = f"{seed}\x00{doc_id}\x00{query_index}"
    if passage_index is not None:
        key = f"{seed}\x00{doc_id}\x00{passage_index}\x00{query_index}"
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass(frozen=True)
class StopCut:
    """Where a completion ends: see :func:`cut_completion_at_stop`."""

    text: str  # the completion's text before the first stop string (not yet normalised)
    kept: int  # how many of its first tokens make up ``text``
    stopped: bool  # whether a stop string was found in the completion


def cut_completion_at_stop(
    text: str, token_starts: Sequence[int], stops: Sequence[str]
) -> StopCut:
    """The stop rule of every engine: where a generated query ends, in text and in tokens.

    ``text`` is the completion as generated (or as a server returned it) and
    ``token_starts[i]`` the character offset in ``text`` at which token ``i``'s text begins
    (see :func:`token_starts_of_pieces` and :func:`token_starts_of_ids`).

    * The query text is everything before the first occurrence of any stop string (all of
      ``text`` when none occurs).
    * The query's tokens (and so its log-probs) are those whose text begins before that cut,
      i.e. every token with some of its text in the query. The token that holds the stop
      string counts when part of its text is kept: with a tokenizer that merges ``"?\n"``
      into one token the query keeps its ``"?"`` and that token with its log-prob; a token
      that is the stop string alone (a bare ``"\n"``) is dropped. So are tokens that lie
      beyond ``text`` (an end-of-text token some servers list after a stop they honoured).

    Tokens therefore spell the query up to surrounding whitespace and the part of the last
    token from the stop string on: ``"".join(tokens)`` starts with ``text`` before the cut.
    """
    stops = [stop for stop in stops if stop]
    found = [text.find(stop) for stop in stops if stop in text]
    end = min(found) if found else len(text)
    kept = 0
    while kept < len(token_starts) and token_starts[kept] < end:
        kept += 1
    return StopCut(text=text[:end], kept=kept, stopped=bool(found))


def token_starts_of_pieces(pieces: Sequence[str]) -> list[int]:
    """Token start offsets when each token's text is known (an API's ``tokens`` list)."""
    starts, offset = [], 0
    for piece in pieces:
        starts.append(offset)
        offset += len(piece)
    return starts


def token_starts_of_ids(decode: Callable[[list[int]], str], ids: Sequence[int]) -> list[int]:
    """Token start offsets in ``decode(ids)`` from a tokenizer.

    The start of token ``i`` is where the text decoded from the tokens before it stops
    agreeing with the whole text. Decoding prefixes rather than single tokens keeps offsets
    right where one character spans several byte-level tokens: a prefix ending inside such
    a character decodes to a replacement character, so the next token starts at that
    character, whose text it completes.
    """
    text = decode(list(ids))
    starts = []
    for i in range(len(ids)):
        before = decode(list(ids[:i]))
        agree = 0
        while agree < min(len(before), len(text)) and before[agree] == text[agree]:
            agree += 1
        starts.append(agree)
    return starts


def normalize_query(text: str) -> str:
    """The query text every engine records: the text before the stop, whitespace-trimmed.

    Completion APIs return the space that follows a cue such as ``"Relevant Query:"`` as
    part of the completion (``" what is ..."``) while a local tokenizer may fold it into the
    first token; trimming makes the ``query`` field the same whichever engine wrote it.
    Inner whitespace is the model's and is kept.
    """
    return text.strip()


@dataclass
class Generation:
    """One completion of one prompt.

    ``text`` is the query, cut and trimmed by :func:`cut_completion_at_stop` and
    :func:`normalize_query`; ``tokens`` and ``log_probs`` cover the tokens whose text is in it
    (the same rule for every engine): a token holding only the stop string and the
    end-of-text token are not part of them, a token such as ``"?\n"`` is. ``log_probs[i]`` is the
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
