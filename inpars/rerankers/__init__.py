"""Rerankers: one module per kind, all behind :class:`Reranker`."""

from inpars.rerankers.base import (
    Reranker,
    available_kinds,
    load_reranker,
    reranker_class,
)

__all__ = ["Reranker", "available_kinds", "load_reranker", "reranker_class"]
