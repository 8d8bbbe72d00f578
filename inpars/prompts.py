"""Few-shot prompt templates: loading them from files and rendering them for a document.

A template is a TOML file (or a plain text file; see docs/reference.md, "Prompt templates"):

* ``prompt``: the text sent to the model. ``{document}`` (required, once) is replaced by the
  document, ``{examples}`` by the rendered few-shot examples, ``{next_index}`` by the number
  of examples plus one.
* ``example``: how one example is written; ``{index}`` is its 1-based number and every other
  ``{key}`` is the example's own field (``{document}``, ``{query}``, ``{bad_query}``, ...).
* ``[[examples]]``: the built-in examples, each with an ``id`` (recorded in every generated
  record as ``fewshot_ids`` so evaluation can exclude them). Templates without built-in
  examples (Promptagator) draw ``num_examples`` of them from a user file per run.

Only placeholders are replaced (by name), so any other brace in a template is literal text:
``{"q": ...}``, and also ``{word}`` when ``word`` is not a placeholder there (the placeholders
of ``prompt`` are the three above; those of ``example`` are ``{index}`` and the examples'
fields). Such a ``{word}`` is sent as written, with a :class:`~inpars.errors.InparsWarning`
when the template is loaded, in case it is a misspelt placeholder.
Only the document is ever truncated: the instruction, the examples and the final cue always
reach the model whole.
"""

from __future__ import annotations

import random
import re
import tomllib
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from inpars.artifacts import manifest_path, read_producer
from inpars.engines.base import Tokenizer
from inpars.errors import InparsError, InparsWarning, InputError

TEMPLATE_SUFFIXES = (".toml", ".txt")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WHITESPACE = re.compile(r"\s+")


def prompts_dir() -> Path:
    """The folder of built-in templates: inside the installed package, or the repository's."""
    packaged = resources.files("inpars") / "prompts"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "prompts"


def builtin_templates() -> list[str]:
    """The names of the built-in templates (``inpars``, ``inpars-gbq``, ``promptagator``, ...)."""
    return sorted(p.stem for p in prompts_dir().iterdir() if p.suffix in TEMPLATE_SUFFIXES)


def normalize_text(text: str) -> str:
    """Collapses all whitespace, newlines included, to single spaces.

    Generation stops at the first newline and templates are line-based, so a document's own
    line breaks must not reach the prompt.
    """
    return _WHITESPACE.sub(" ", text).strip()


PROMPT_PLACEHOLDERS = frozenset({"document", "examples", "next_index"})
"""The placeholders of a template's ``prompt``."""


def fill(
    text: str, values: dict[str, str], source: str, placeholders: Iterable[str] | None = None
) -> str:
    """Replaces each placeholder ``{name}`` in ``text`` by ``values[name]``.

    ``placeholders`` are the names that are placeholders here (default: those of
    ``values``); any other ``{name}`` is literal text and stays as written.

    Raises:
        InparsError: when a placeholder has no value here (an example without that field).
    """
    names = set(values if placeholders is None else placeholders)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            return match.group(0)
        if name not in values:
            raise InparsError(
                f"{source}: no value for the placeholder {{{name}}}; this one has: "
                + ", ".join(f"{{{k}}}" for k in sorted(values))
            )
        return values[name]

    return _PLACEHOLDER.sub(substitute, text)


def literal_names(text: str, placeholders: Iterable[str]) -> list[str]:
    """The ``{name}`` spans of ``text`` that are not placeholders (kept as literal text)."""
    known = set(placeholders)
    return sorted({name for name in _PLACEHOLDER.findall(text) if name not in known})


@dataclass(frozen=True)
class Example:
    """One few-shot example: an id and its fields (``query``, ``document``, ...)."""

    id: str
    fields: dict[str, str]


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded template. ``examples`` are the built-in ones; see :meth:`with_examples`."""

    name: str
    prompt: str
    example: str = ""
    examples: tuple[Example, ...] = ()
    num_examples: int = 0  # > 0: draw this many examples from a user file per run
    description: str = ""
    source: str = ""

    @property
    def needs_examples(self) -> bool:
        """Whether the template expects examples drawn from a user file (Promptagator)."""
        return self.num_examples > 0 and not self.examples

    @property
    def fewshot_ids(self) -> list[str]:
        return [e.id for e in self.examples]

    def with_examples(self, examples: Iterable[Example]) -> PromptTemplate:
        """The same template with these few-shot examples."""
        template = PromptTemplate(
            self.name, self.prompt, self.example, tuple(examples), self.num_examples,
            self.description, self.source,
        )
        _warn_literal_braces(template)  # the example format's fields are known now
        return template

    @property
    def example_placeholders(self) -> set[str]:
        """The placeholders of ``example``: ``index`` and every field of any example."""
        return {"index", *(name for ex in self.examples for name in ex.fields)}

    def render_examples(self) -> str:
        """The examples block, each example written with ``example``."""
        parts = []
        placeholders = self.example_placeholders
        for index, ex in enumerate(self.examples, start=1):
            values = {k: normalize_text(v) for k, v in ex.fields.items()}
            values["index"] = str(index)
            source = f"{self.source} (example '{ex.id}')"
            parts.append(fill(self.example, values, source, placeholders))
        return "".join(parts)

    def split(self) -> tuple[str, str]:
        """The text before and after ``{document}``, with examples and indices filled in."""
        before, after = self.prompt.split("{document}")
        values = {"examples": self.render_examples(), "next_index": str(len(self.examples) + 1)}
        return fill(before, values, self.source), fill(after, values, self.source)

    def literal_braces(self) -> list[str]:
        """``{name}`` spans that are not placeholders and reach the model as written."""
        found = literal_names(self.prompt, PROMPT_PLACEHOLDERS)
        if self.examples:  # a dynamic template's example fields are known only once drawn
            found += literal_names(self.example, self.example_placeholders)
        return [f"{{{name}}}" for name in sorted(set(found))]


def load_template(name_or_path: str) -> PromptTemplate:
    """Loads a built-in template by name or a template file by path."""
    path = Path(name_or_path)
    if not path.is_file():
        for suffix in TEMPLATE_SUFFIXES:
            candidate = prompts_dir() / f"{name_or_path}{suffix}"
            if candidate.is_file():
                path = candidate
                break
        else:
            raise InparsError(
                f"prompt template '{name_or_path}' is neither a file nor a built-in template "
                f"({', '.join(builtin_templates())})"
            )
    name = path.stem if path.parent == prompts_dir() else str(path)
    if path.suffix == ".toml":
        template = _parse_toml(path, name)
    else:
        template = PromptTemplate(name=name, prompt=_read_text(path), source=str(path))
    _validate(template)
    return template


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"invalid UTF-8 at byte {exc.start}", path) from None


def _parse_toml(path: Path, name: str) -> PromptTemplate:
    try:
        data = tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"invalid TOML: {exc}", path) from None
    if not isinstance(data.get("prompt"), str):
        raise InputError("a template needs a 'prompt' string", path, field="prompt")
    examples = []
    for i, raw in enumerate(data.get("examples", []), start=1):
        if not isinstance(raw, dict) or "id" not in raw:
            raise InputError(f"example {i} needs an 'id'", path, field="examples")
        fields = {k: str(v) for k, v in raw.items() if k != "id"}
        examples.append(Example(str(raw["id"]), fields))
    return PromptTemplate(
        name=name,
        prompt=data["prompt"],
        example=str(data.get("example", "")),
        examples=tuple(examples),
        num_examples=int(data.get("num_examples", 0)),
        description=str(data.get("description", "")),
        source=str(path),
    )


def _validate(template: PromptTemplate) -> None:
    count = template.prompt.count("{document}")
    if count != 1:
        raise InputError(
            f"the prompt must contain {{document}} exactly once (found {count})",
            template.source, field="prompt",
        )
    has_examples_slot = "{examples}" in template.prompt
    if (template.examples or template.num_examples) and not has_examples_slot:
        raise InputError("examples are given but the prompt has no {examples}",
                         template.source, field="prompt")
    if has_examples_slot and not template.example:
        raise InputError("the prompt has {examples} but no 'example' format is given",
                         template.source, field="example")
    # Render once with the built-in examples so that a bad placeholder fails at load time.
    if not template.needs_examples:
        template.split()
    _warn_literal_braces(template)


def _warn_literal_braces(template: PromptTemplate) -> None:
    """Warns about ``{name}`` spans that are not placeholders (perhaps misspelt ones)."""
    literal = template.literal_braces()
    if literal:
        warnings.warn(
            InparsWarning(
                f"{template.source}: {', '.join(literal)} "
                f"{'is not a placeholder' if len(literal) == 1 else 'are not placeholders'} "
                "and reach the model as written (placeholders: "
                + ", ".join(f"{{{n}}}" for n in sorted(PROMPT_PLACEHOLDERS))
                + ", and in 'example' {index} and the examples' fields)"
            ),
            stacklevel=4,
        )


def load_examples(path: str | Path) -> list[Example]:
    """(query, document) pairs for dynamic few-shot prompts, from JSONL or TSV.

    JSONL: one object per line with ``query`` and ``document`` (or ``text``), and optionally
    ``id`` / ``query_id`` (the id recorded as a few-shot id; default ``<file>:<line>``).
    Any other string field is available to the template's ``example`` by name.
    TSV: ``query<TAB>document`` or ``id<TAB>query<TAB>document``.
    """
    from inpars.io import open_lines, read_jsonl

    path = Path(path)
    examples: list[Example] = []
    if path.suffix in {".tsv", ".txt"} or path.name.endswith(".tsv.gz"):
        for line_no, line in open_lines(path):
            if not line.strip():
                continue
            cols = line.split("\t")
            if len(cols) == 2:
                cols = [f"{path.name}:{line_no}", *cols]
            if len(cols) != 3:
                raise InputError(f"expected 2 or 3 tab-separated columns, got {len(cols)}",
                                 path, line_no)
            examples.append(Example(cols[0], {"query": cols[1], "document": cols[2]}))
    else:
        for line_no, obj in read_jsonl(path):
            document = obj.get("document", obj.get("text"))
            for fname, value in (("query", obj.get("query")), ("document", document)):
                if not isinstance(value, str) or not value.strip():
                    raise InputError("missing or empty", path, line_no, fname)
            ex_id = str(obj.get("id", obj.get("query_id", f"{path.name}:{line_no}")))
            fields = {k: v for k, v in obj.items() if isinstance(v, str)}
            fields.update(query=obj["query"], document=document)
            examples.append(Example(ex_id, fields))
    if not examples:
        raise InputError("no examples found", path)
    return examples


def draw_examples(examples: list[Example], k: int, seed: int | None) -> list[Example]:
    """``k`` examples drawn without replacement, the same ones for the same seed."""
    if k > len(examples):
        raise InparsError(f"the template wants {k} examples but the file has {len(examples)}")
    return random.Random(seed).sample(examples, k)


def examples_from(source: str | Path) -> list[Example]:
    """Few-shot examples from a template (its built-in ones) or an examples file (JSONL, TSV)."""
    path = Path(source)
    if path.suffix == ".toml" or not path.is_file():
        return list(load_template(str(source)).examples)
    return load_examples(path)


def generation_examples(queries: str | Path) -> list[Example] | None:
    """The few-shot examples a queries file was generated with, as its manifest names them.

    ``inpars.generate`` records the template's source, the examples file and the drawn
    example ids in ``<queries>.manifest.json``. None when there is no such manifest (queries
    made elsewhere).

    Raises:
        InputError: the manifest names a template or examples file that cannot be read.
    """
    data = read_producer(queries)
    if data is None or data.get("stage") != "generate":
        return None
    manifest = manifest_path(queries)
    template = data.get("template") or {}
    examples_file = (data.get("config") or {}).get("examples")
    if examples_file:
        if not Path(examples_file).is_file():
            raise InputError(
                f"names {examples_file!r}, which is not a file here; pass the prompt's "
                "examples explicitly (inpars.filter --prompt-examples FILE) or 'none'",
                manifest,
                field="config.examples",
            )
        examples = load_examples(examples_file)
    else:
        source = template.get("source")
        if not source or not Path(source).is_file():
            source = template.get("name")  # a built-in template, installed elsewhere now
        if not source:
            return None
        examples = list(load_template(source).examples)
    shown = set(template.get("fewshot_ids") or [])
    return [e for e in examples if e.id in shown] if shown else examples


@dataclass
class PromptBuilder:
    """Renders a template for documents, truncating only the document.

    The document is cut to ``max_doc_tokens`` tokens of ``tokenizer`` (whitespace-separated
    words when no tokenizer is known), and further if needed so that the whole prompt fits
    in ``max_prompt_tokens``.
    """

    template: PromptTemplate
    tokenizer: Tokenizer | None = None
    max_doc_tokens: int = 256
    max_prompt_tokens: int | None = None
    truncated: int = field(default=0, init=False)  # documents truncated so far
    _before: str = field(default="", init=False)
    _after: str = field(default="", init=False)
    _fixed_tokens: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._before, self._after = self.template.split()
        self._fixed_tokens = self.count_tokens(self._before + self._after)
        if self.max_prompt_tokens is not None and self._fixed_tokens >= self.max_prompt_tokens:
            raise InparsError(
                f"template '{self.template.name}' alone takes {self._fixed_tokens} tokens, "
                f"more than the {self.max_prompt_tokens} the prompt may use; use fewer or "
                "shorter examples or a model with a longer context"
            )

    def count_tokens(self, text: str) -> int:
        if self.tokenizer is None:
            return len(text.split())
        return len(self.tokenizer.encode(text))

    def render(self, document: str) -> str:
        """The prompt for one document."""
        doc = self._cut(normalize_text(document), self.max_doc_tokens)
        prompt = self._before + doc + self._after
        if self.max_prompt_tokens is not None:
            for _ in range(8):  # re-tokenizing a cut text can change its length slightly
                excess = self.count_tokens(prompt) - self.max_prompt_tokens
                if excess <= 0:
                    break
                budget = max(0, self.count_tokens(doc) - excess - 2)
                doc = self._cut(doc, budget, force=True)
                prompt = self._before + doc + self._after
            else:
                raise InparsError("could not fit the prompt into the model's context")
        if doc != normalize_text(document):
            self.truncated += 1
        return prompt

    def _cut(self, text: str, max_tokens: int, force: bool = False) -> str:
        if self.tokenizer is None:
            words = text.split(" ")
            return " ".join(words[:max_tokens]) if len(words) > max_tokens else text
        # Tokenizing a huge document only to keep its start is waste: a token is rarely
        # more than ~12 characters, so a generous character cut comes first.
        text = text[: max_tokens * 12 + 100]
        ids = self.tokenizer.encode(text)
        if len(ids) <= max_tokens and not force:
            return text
        return self.tokenizer.decode(ids[:max_tokens]).strip()
