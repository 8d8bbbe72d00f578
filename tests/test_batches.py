"""The no-duplicates batch sampler shared by every trainer with in-batch negatives."""

from __future__ import annotations

from inpars.batches import NoDuplicatesBatchSampler, no_duplicate_batches


def examples() -> list[tuple[str, str, str]]:
    rows = [(f"q{d}-{q}", f"doc{d}", f"neg{d}-{q}") for d in range(10) for q in range(3)]
    return [*rows, ("q0-0", "doc0", "another negative")]


def test_batches_share_no_text_and_cover_every_example_once() -> None:
    rows = examples()
    sampler = NoDuplicatesBatchSampler(lambda i: rows[i], len(rows), 4, seed=1)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert sorted(i for b in batches for i in b) == list(range(len(rows)))
        for batch in batches:
            texts = [t for i in batch for t in rows[i]]
            assert len(texts) == len(set(texts))
        assert batches == list(sampler)  # the same on every process and every resume
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first  # each epoch shuffles anew


def test_a_group_of_batches_is_free_of_duplicates_as_a_whole() -> None:
    rows = examples()
    sampler = NoDuplicatesBatchSampler(lambda i: rows[i], len(rows), 2, seed=0, group=3)
    batches = list(sampler)
    for start in range(0, len(batches) - 3, 3):
        texts = [t for b in batches[start : start + 3] for i in b for t in rows[i]]
        assert len(texts) == len(set(texts))


def test_a_duplicate_waits_for_a_later_batch_keeping_its_place() -> None:
    texts = {0: ["a"], 1: ["a"], 2: ["b"], 3: ["c"], 4: ["a"]}
    assert list(no_duplicate_batches(range(5), texts.__getitem__, 2)) == [
        [0, 2], [1, 3], [4],
    ]  # fmt: skip
