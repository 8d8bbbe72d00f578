"""Training batches in which no text appears twice, for losses with in-batch negatives.

With a multiple-negatives ranking loss every other document of a batch is a negative for a
query. When one document is the positive of two queries of the batch (two queries per
document is the pipeline's default), or one query comes twice with two negatives, the model
is pushed away from the very document it should find. :class:`NoDuplicatesBatchSampler`
forms each batch from examples that share no text (query, positive or negative).

One sampler for every trainer that uses in-batch negatives: ``inpars.train --kind
bi-encoder`` (transformers' Trainer, through :func:`no_duplicates_dataloader`) and GenQ in
:mod:`inpars.dense` (sentence-transformers' trainer, through
:func:`sentence_transformers_batch_sampler`).

The batches depend only on the data, the seed and the epoch, so every process of a
distributed run forms the same ones (each then takes its share) and a resumed run skips
exactly the batches it had already trained on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import BatchSampler

Texts = Callable[[int], Iterable[str]]
"""The texts of example ``i`` (for a triple: query, positive, negative)."""


def no_duplicate_batches(
    order: Iterable[int], texts: Texts, batch_size: int
) -> Iterator[list[int]]:
    """Batches of up to ``batch_size`` examples, taken in ``order``, none sharing a text.

    An example that shares a text with the batch being filled waits for a later batch (it
    keeps its place in the order). A batch is yielded short only when no remaining example
    fits it, so batches are full except where duplicates leave no choice, and at the end.
    """
    waiting = dict.fromkeys(order)  # insertion-ordered, O(1) removal
    while waiting:
        batch: list[int] = []
        seen: set[str] = set()
        for index in waiting:
            values = set(texts(index))
            if seen.isdisjoint(values):
                batch.append(index)
                seen |= values
                if len(batch) == batch_size:
                    break
        for index in batch:
            del waiting[index]
        yield batch


class NoDuplicatesBatchSampler(BatchSampler):
    """Shuffled batches of ``batch_size`` examples that share no text (see the module).

    ``group`` > 1 makes ``group`` consecutive batches jointly free of duplicates: under
    ``torchrun`` with ``group`` = the number of processes, each process takes one batch of
    every group, so the whole step's batch, which a loss gathering embeddings across
    processes treats as one, holds no text twice.
    """

    def __init__(
        self,
        texts: Texts,
        size: int,
        batch_size: int,
        *,
        drop_last: bool = False,
        seed: int = 0,
        group: int = 1,
    ) -> None:
        self.texts = texts
        self.size = size
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.seed = seed
        self.group = group
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Each epoch shuffles anew (the same way on every process and every run)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        joint = self.batch_size * self.group
        for batch in no_duplicate_batches(order, self.texts, joint):
            if self.drop_last and len(batch) < joint:
                continue
            for start in range(0, len(batch), self.batch_size):
                yield batch[start : start + self.batch_size]

    def __len__(self) -> int:
        """Batches of an epoch without duplicates to defer (duplicates make a few more)."""
        if self.drop_last:
            return self.size // (self.batch_size * self.group) * self.group
        return -(-self.size // self.batch_size)


def no_duplicates_dataloader(
    dataset: Any, batch_size: int, collate_fn: Callable[[list[Any]], Any], seed: int
) -> Any:
    """A DataLoader over ``dataset`` (items: tuples of texts) in no-duplicate batches."""
    from torch.utils.data import DataLoader

    sampler = NoDuplicatesBatchSampler(lambda i: dataset[i], len(dataset), batch_size, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_fn)


class NoDuplicatesFactory:
    """What sentence-transformers' ``batch_sampler`` argument calls to build a
    :class:`NoDuplicatesBatchSampler` over a ``datasets.Dataset``'s text columns.

    A class rather than a closure: the trainer pickles its arguments into checkpoints.
    """

    def __init__(self, group: int = 1) -> None:
        self.group = group

    def __call__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: Any = None,
        seed: int = 0,
    ) -> NoDuplicatesBatchSampler:
        labels = set(valid_label_columns or ())
        columns = [dataset[name] for name in dataset.column_names if name not in labels]
        return NoDuplicatesBatchSampler(
            lambda i: (str(column[i]) for column in columns),
            len(dataset),
            batch_size,
            drop_last=drop_last,
            seed=seed,
            group=self.group,
        )


def sentence_transformers_batch_sampler(name: str, group: int = 1) -> Any:
    """The ``batch_sampler`` argument of sentence-transformers' training arguments for
    ``--batch-sampler`` ``name``: ``no-duplicates`` is :class:`NoDuplicatesBatchSampler`
    over the dataset's text columns (``group``: see there), ``random`` the library's
    default sampler."""
    from sentence_transformers.base.sampler import BatchSamplers

    if name != "no-duplicates":
        return BatchSamplers.BATCH_SAMPLER
    return NoDuplicatesFactory(group)


__all__ = [
    "NoDuplicatesBatchSampler",
    "NoDuplicatesFactory",
    "no_duplicate_batches",
    "no_duplicates_dataloader",
    "sentence_transformers_batch_sampler",
]
