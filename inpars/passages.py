"""Per-passage generation: a document split into windows of tokens, queries for each window.

``inpars.generate --passage-tokens N [--passage-stride S] [--max-passages M]`` generates
queries for every window of a long document instead of only its start (as docTTTTTquery did
for MS MARCO documents), so that an expansion (:mod:`inpars.expand`) speaks for the whole
document. Without ``--passage-tokens`` nothing here is used and a document is cut to
``--max-doc-tokens``, as before.

The unit is the one ``--max-doc-tokens`` uses (:class:`inpars.prompts.PromptBuilder`): the
tokens of the engine's tokenizer (hf and vllm: the model's; openai: ``--tokenizer`` when given),
or whitespace-separated words when the engine knows no tokenizer. The document is the text a
prompt gets (:meth:`inpars.records.Document.contents`, whitespace collapsed by
:func:`inpars.prompts.normalize_text`), tokenized once; window ``p`` covers its tokens
``[p * S, min(p * S + N, L))``, where ``L`` is the document's length. Windows stop at the first
one that reaches the end, so the last one may be shorter than ``N`` and no window lies wholly
inside the one before it; a document of at most ``N`` tokens (an empty one included) is one
window holding all of it, its text exactly the prompt's text without ``--passage-tokens``.
A window's text is its tokens decoded (words joined by single spaces); the prompt gets it
whole (``--max-doc-tokens`` does not apply; only the model's context can cut it further).
``--max-passages M`` keeps the first ``M`` windows of each document (the rest of a longer
document gets no queries): a bound on cost for very long documents.
"""

from __future__ import annotations

from dataclasses import dataclass

from inpars.engines.base import Tokenizer, query_seed
from inpars.errors import InparsError
from inpars.prompts import PromptBuilder, normalize_text

# A token is rarely more than ~12 characters (the rule PromptBuilder's cut uses): enough of a
# document to hold its first --max-passages windows without tokenizing all of it.
_CHARS_PER_TOKEN = 12
# Tokens kept beyond the last window when the text is cut: the cut may split the last word,
# whose tokens then differ from the whole text's, so they must lie well past the windows.
_MARGIN = 32


def _head(text: str, tokens: int | None) -> str:
    """Enough of ``text`` to hold its first ``tokens`` tokens (all of it for None)."""
    return text if tokens is None else text[: (tokens + _MARGIN) * _CHARS_PER_TOKEN + 100]


@dataclass(frozen=True)
class Passage:
    """One window of a document: its index, its text and its span in tokens (end exclusive)."""

    index: int
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class PassageSettings:
    """``--passage-tokens``, ``--passage-stride`` and ``--max-passages``, checked.

    Raises:
        InparsError: ``tokens`` below 1, a stride below 1 or above ``tokens`` (text would be
            skipped), or ``max_passages`` below 1.
    """

    tokens: int
    stride: int
    max_passages: int | None = None

    def __post_init__(self) -> None:
        if self.tokens < 1:
            raise InparsError(f"--passage-tokens must be at least 1 (got {self.tokens})")
        if not 1 <= self.stride <= self.tokens:
            raise InparsError(
                f"--passage-stride must be between 1 and --passage-tokens ({self.tokens}) "
                f"(got {self.stride}): a larger stride would skip text between windows"
            )
        if self.max_passages is not None and self.max_passages < 1:
            raise InparsError(f"--max-passages must be at least 1 (got {self.max_passages})")

    @classmethod
    def of(
        cls, tokens: int | None, stride: int | None, max_passages: int | None
    ) -> PassageSettings | None:
        """The settings of a run, or None without ``--passage-tokens`` (stride default: N).

        Raises:
            InparsError: a stride or passage limit given without ``--passage-tokens``, or
                invalid values (see the class).
        """
        if tokens is None:
            for flag, value in (("--passage-stride", stride), ("--max-passages", max_passages)):
                if value is not None:
                    raise InparsError(f"{flag} needs --passage-tokens")
            return None
        return cls(tokens, tokens if stride is None else stride, max_passages)

    def split(self, text: str, tokenizer: Tokenizer | None) -> tuple[list[Passage], bool]:
        """The windows of ``text`` (already normalised) and whether ``max_passages`` cut it."""
        needed = None
        if self.max_passages is not None:  # tokens the first max_passages windows can reach
            needed = (self.max_passages - 1) * self.stride + self.tokens
        if tokenizer is None:
            words = text.split(" ") if text else []
            length = len(words)

            def decode(start: int, end: int) -> str:
                return " ".join(words[start:end])
        else:
            head = _head(text, needed)
            ids = tokenizer.encode(head)
            if head != text and len(ids) < needed + _MARGIN:  # type: ignore[operator]
                ids = tokenizer.encode(text)  # the cut was too short for this text
            length = len(ids)

            def decode(start: int, end: int) -> str:
                return tokenizer.decode(ids[start:end]).strip()

        passages: list[Passage] = []
        start = 0
        while True:
            end = min(start + self.tokens, length)
            whole = start == 0 and end == length
            passages.append(
                Passage(len(passages), text if whole else decode(start, end), start, end)
            )
            if end >= length:
                return passages, False
            if self.max_passages is not None and len(passages) == self.max_passages:
                return passages, True
            start += self.stride


@dataclass(frozen=True)
class Prompt:
    """A prompt of a document: for the whole document (``passage`` None) or for one window."""

    text: str
    passage: Passage | None = None
    num_passages: int | None = None  # how many windows the document was given

    def query_indices(self, n: int) -> range:
        """The ``query_index`` of the prompt's ``n`` queries: unique within the document.

        ``0 .. n - 1`` for a whole document; ``p * n .. p * n + n - 1`` for its passage ``p``.
        """
        first = 0 if self.passage is None else self.passage.index * n
        return range(first, first + n)

    def seeds(self, seed: int, doc_id: str, n: int) -> tuple[int, ...]:
        """The sampling seed of each of the prompt's ``n`` queries (:func:`query_seed`).

        From the run's seed, the document's id, the query's index and, with passages, the
        passage's index only: a sampled query depends on nothing else that varies between runs
        (not batch size, batch neighbours, concurrency, resume or shard).
        """
        passage = None if self.passage is None else self.passage.index
        return tuple(query_seed(seed, doc_id, j, passage) for j in self.query_indices(n))

    def record_fields(self) -> dict[str, int | None]:
        """The passage fields of the prompt's records (none for a whole document)."""
        if self.passage is None:
            return {}
        return {
            "passage_index": self.passage.index,
            "passage_start": self.passage.start,
            "passage_end": self.passage.end,
            "num_passages": self.num_passages,
        }


class DocumentPrompts:
    """The prompts of each document: one (the document cut to ``--max-doc-tokens``, as without
    passages), or one per window with ``settings``.

    ``truncated`` counts the documents whose text did not all reach a prompt: cut to
    ``--max-doc-tokens``, cut by ``--max-passages``, or a window cut to fit the context.
    """

    def __init__(
        self, builder: PromptBuilder, settings: PassageSettings | None, tokenizer: Tokenizer | None
    ) -> None:
        self.builder = builder
        self.settings = settings
        self.tokenizer = tokenizer
        self._cut_documents = 0

    @property
    def truncated(self) -> int:
        return self.builder.truncated if self.settings is None else self._cut_documents

    def of(self, contents: str) -> list[Prompt]:
        """The prompts for a document's text (:meth:`inpars.records.Document.contents`)."""
        if self.settings is None:
            return [Prompt(self.builder.render(contents))]
        before = self.builder.truncated
        windows, cut = self.settings.split(normalize_text(contents), self.tokenizer)
        prompts = [Prompt(self.builder.render(w.text, cut=False), w, len(windows)) for w in windows]
        if cut or self.builder.truncated > before:
            self._cut_documents += 1
        return prompts
