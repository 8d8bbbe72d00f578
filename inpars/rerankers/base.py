"""The one interface every reranker kind implements.

A kind module in this package (``inpars/rerankers/<kind>.py``, with ``-`` in the kind's name
written ``_``) defines one :class:`Reranker` subclass with that ``kind``. Adding a kind is
adding one such file: :func:`available_kinds` finds it.

A reranker turns (query, document) pairs into model inputs (:meth:`Reranker.encode`, which
truncates only the document), inputs into one relevance score per pair
(:meth:`Reranker.forward_scores`, differentiable), and a batch of (query, positive, negative)
triples into training inputs (:meth:`Reranker.training_inputs`) and a loss
(:meth:`Reranker.training_loss`). Training (:mod:`inpars.train`) and reranking
(:mod:`inpars.rerank`) need nothing else.

Every method that runs the network takes the module to run as ``model`` (default: the
reranker's own). Training passes the module the Trainer hands it: under ``torchrun`` that is
the ``DistributedDataParallel`` wrapper, whose forward pass is what synchronises gradients
across processes; with several GPUs in one process, ``nn.DataParallel``, which splits the
batch over them. Calling the unwrapped model there would train one independent copy per
process.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from inpars.errors import InparsError
from inpars.io import atomic_write_json
from inpars.models import pick_device, pick_dtype, resolve_model_path

METADATA_FILE = "inpars-reranker.json"
"""The file in a saved reranker folder that names its kind and input length."""

Inputs = dict[str, Any]  # tensors (or nested dicts of tensors) a kind feeds its model


class Reranker(ABC):
    """Scores (query, document) pairs; trainable on (query, positive, negative) triples."""

    kind: ClassVar[str]
    default_model: ClassVar[str]  # what --model means when not given
    default_learning_rate: ClassVar[float]
    default_max_length: ClassVar[int] = 512

    def __init__(self, model: Any, tokenizer: Any, *, name: str, max_length: int, device: str):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.max_length = max_length
        self.device = device

    # -- what a kind implements ---------------------------------------------------------

    @classmethod
    @abstractmethod
    def load_model(cls, path: str, dtype: Any) -> tuple[Any, Any]:
        """(model, tokenizer) from a folder or hub id."""

    @abstractmethod
    def encode(self, queries: Sequence[str], documents: Sequence[str]) -> Inputs:
        """Padded model inputs for the pairs; only documents are ever truncated."""

    @abstractmethod
    def forward_scores(self, inputs: Inputs, model: Any = None) -> Any:
        """One relevance score per pair (a 1-D tensor), higher is more relevant.

        ``model`` is the module to run (default: ``self.model``), e.g. a DDP wrapper of it.
        """

    @abstractmethod
    def save_model(self, folder: Path) -> None:
        """Writes the model and tokenizer so that :meth:`load_model` reads them back."""

    in_batch_negatives: ClassVar[bool] = False
    """Whether the loss uses the other triples of a batch as negatives (then a batch must
    not hold the same text twice: see :mod:`inpars.batches`)."""

    def training_inputs(self, triples: Sequence[tuple[str, str, str]]) -> Inputs:
        """The model inputs of a micro-batch of (query, positive, negative) triples.

        Default: the ``2n`` pairs (query, positive) for every triple, then (query, negative)
        for every triple, in one padded batch, so that a training step is one forward pass.
        """
        queries = [t[0] for t in triples]
        return self.encode(queries + queries, [t[1] for t in triples] + [t[2] for t in triples])

    def training_loss(self, inputs: Inputs, model: Any = None) -> Any:
        """The mean loss of a micro-batch made by :meth:`training_inputs`.

        ``model`` is the module to run (default: ``self.model``); training passes the one the
        Trainer hands it (DDP or DataParallel wrapper). Default loss: softmax cross-entropy
        over each triple's (positive, negative) scores, i.e. the pairwise logistic (RankNet)
        loss: it asks only that the positive outrank its negative, which is all the
        synthetic labels say.
        """
        import torch

        scores = self.forward_scores(inputs, model)
        pos, neg = scores.chunk(2)
        return torch.nn.functional.softplus(neg - pos).mean()

    # -- shared behaviour -----------------------------------------------------------------

    @classmethod
    def load(
        cls,
        name: str | None = None,
        *,
        max_length: int | None = None,
        device: str = "auto",
        dtype: str = "float32",
    ) -> Reranker:
        """Loads a model of this kind: a folder, a hub id, or a bundled alias."""
        name = name or cls.default_model
        device = pick_device(device)
        path = resolve_model_path(name)
        saved = read_metadata(path)
        if max_length is None:
            max_length = int(saved.get("max_length", cls.default_max_length)) if saved else None
        try:
            model, tokenizer = cls.load_model(path, pick_dtype(dtype, device))
        except OSError as exc:
            raise InparsError(f"cannot load model {name!r}: {exc}") from None
        return cls(
            model.to(device),
            tokenizer,
            name=name,
            max_length=max_length or cls.default_max_length,
            device=device,
        )

    def to_device(self, inputs: Any) -> Any:
        """``inputs`` (tensors, possibly nested in dicts) moved to the model's device."""
        if isinstance(inputs, dict):
            return {key: self.to_device(value) for key, value in inputs.items()}
        return inputs.to(self.device) if hasattr(inputs, "to") else inputs

    def score(
        self,
        queries: Sequence[str],
        documents: Sequence[str],
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[float]:
        """The score of each (query, document) pair, in input order.

        Pairs are batched by document length (longest first) to limit padding, then put
        back in order. ``on_batch(n)`` is called after each batch of ``n`` pairs.
        """
        import torch

        if len(queries) != len(documents):
            raise ValueError("queries and documents must have the same length")
        order = sorted(range(len(queries)), key=lambda i: -len(documents[i]) - len(queries[i]))
        scores = [0.0] * len(order)
        self.model.eval()
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                inputs = self.encode([queries[i] for i in chunk], [documents[i] for i in chunk])
                values = self.forward_scores(self.to_device(inputs)).float().cpu().tolist()
                for i, value in zip(chunk, values, strict=True):
                    scores[i] = value
                if on_batch is not None:
                    on_batch(len(chunk))
        return scores

    def save(self, folder: str | Path, **extra: Any) -> None:
        """Saves the model, its tokenizer and ``inpars-reranker.json`` (kind, input length)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.save_model(folder)
        metadata = {"kind": self.kind, "max_length": self.max_length, "base_model": self.name}
        metadata.update(extra)
        atomic_write_json(folder / METADATA_FILE, metadata)


def read_metadata(path: str | Path) -> dict[str, Any] | None:
    """The ``inpars-reranker.json`` of a local folder, or None."""
    file = Path(path) / METADATA_FILE
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text())
    except ValueError as exc:
        raise InparsError(f"{file}: not valid JSON ({exc})") from None
    return data if isinstance(data, dict) else None


def available_kinds() -> list[str]:
    """The reranker kinds of this package (module names with ``_`` as ``-``)."""
    import inpars.rerankers as package

    return sorted(
        m.name.replace("_", "-") for m in pkgutil.iter_modules(package.__path__) if m.name != "base"
    )


def reranker_class(kind: str) -> type[Reranker]:
    """The class of reranker ``kind``."""
    if kind not in available_kinds():
        raise InparsError(
            f"unknown reranker kind {kind!r}; available: {', '.join(available_kinds())}"
        )
    module = importlib.import_module(f"inpars.rerankers.{kind.replace('-', '_')}")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Reranker)
            and getattr(value, "kind", None) == kind
        ):
            return value
    raise InparsError(f"inpars/rerankers/{kind.replace('-', '_')}.py defines no {kind!r} reranker")


def infer_kind(name: str) -> str:
    """The kind of a model, from its ``inpars-reranker.json``, or else its files and config.

    A T5 model is ``monot5``; a sentence-transformers folder is ``bi-encoder``, unless
    sentence-transformers saved it as a ``CrossEncoder`` (its
    ``config_sentence_transformers.json`` says so); any other model is ``cross-encoder``.
    """
    path = resolve_model_path(name)
    saved = read_metadata(path)
    if saved and isinstance(saved.get("kind"), str):
        return saved["kind"]
    if (Path(path) / "modules.json").is_file():
        saved_as = _sentence_transformers_type(path)
        return "cross-encoder" if saved_as == "CrossEncoder" else "bi-encoder"
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise InparsError(f"cannot read the config of model {name!r}: {exc}; pass --kind") from None
    return (
        "monot5" if getattr(config, "model_type", "") in {"t5", "mt5", "umt5"} else "cross-encoder"
    )


def _sentence_transformers_type(path: str | Path) -> str | None:
    """The ``model_type`` in a sentence-transformers folder's config (``CrossEncoder``, ...).

    sentence-transformers 5 and later save cross-encoders with a ``modules.json`` too; older
    folders (and bi-encoders) have no ``model_type``.
    """
    file = Path(path) / "config_sentence_transformers.json"
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("model_type") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def load_reranker(
    name: str | None,
    kind: str | None = None,
    *,
    max_length: int | None = None,
    device: str = "auto",
    dtype: str = "float32",
) -> Reranker:
    """Loads a reranker; ``kind`` defaults to what :func:`infer_kind` finds."""
    if name is None and kind is None:
        raise InparsError("give a model (--model) or a reranker kind (--kind)")
    kind = kind or infer_kind(name)  # type: ignore[arg-type]
    return reranker_class(kind).load(name, max_length=max_length, device=device, dtype=dtype)


__all__ = [
    "METADATA_FILE",
    "Reranker",
    "available_kinds",
    "infer_kind",
    "load_reranker",
    "read_metadata",
    "reranker_class",
]
