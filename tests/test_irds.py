"""``irds:<id>`` sources: a real ir_datasets dataset, registered from local files with the
library's own BEIR classes (nothing is downloaded, nothing of ir_datasets is mocked)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from inpars.corpus import CorpusWarning, read_corpus, read_qrels, read_queries
from inpars.errors import InputError

from conftest import write_beir_collection

_names = itertools.count()


def register(folder: Path, doc_type: type | None = None) -> str:
    """Registers ``folder`` (a BEIR collection) with ir_datasets; returns its ``irds:`` name."""
    import ir_datasets
    from ir_datasets.datasets.base import Dataset
    from ir_datasets.datasets.beir import BeirDocs, BeirQrels, BeirQueries, BeirTitleDoc
    from ir_datasets.formats import GenericQuery
    from ir_datasets.util import LocalDownload

    name = f"inpars-test/{folder.name}-{next(_names)}"
    dataset = Dataset(
        BeirDocs(name, LocalDownload(folder / "corpus.jsonl"), doc_type or BeirTitleDoc),
        BeirQueries(name, LocalDownload(folder / "queries.jsonl"), GenericQuery),
        BeirQrels(LocalDownload(folder / "qrels" / "test.tsv"), qrels_defs={}),
    )
    ir_datasets.registry.register(name, dataset)
    return f"irds:{name}"


@pytest.fixture
def collection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds-home"))
    folder = write_beir_collection(tmp_path / "collection")
    return folder, register(folder)


def test_documents_queries_and_qrels_read_as_from_the_folder(collection: tuple[Path, str]) -> None:
    folder, source = collection
    assert list(read_corpus(source)) == list(read_corpus(folder))
    assert list(read_queries(source)) == list(read_queries(folder))
    assert read_qrels(source) == read_qrels(folder)
    # Title and text are joined the one documented way.
    first = next(iter(read_corpus(source)))
    assert first.contents == "On wing flutter a study of wing flutter number 0"


def test_unknown_dataset_and_missing_text_field_are_clear_errors(
    collection: tuple[Path, str], tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="ir_datasets has no dataset 'no/such/dataset'"):
        list(read_corpus("irds:no/such/dataset"))
    _, source = collection
    with pytest.raises(InputError, match=r"no field 'abstract' \(they have doc_id, text, title\)"):
        list(read_corpus(source, text_field="abstract"))
    # A dataset's own field can be the text; documents left empty are skipped as usual.
    with pytest.warns(CorpusWarning, match="skipped 24 document"):
        docs = list(read_corpus(source, text_field="title", title_field="title"))
    assert [doc.text for doc in docs][:2] == ["On wing flutter", "On heat transfer"]


def test_rerank_and_evaluate_give_the_folder_s_results(
    collection: tuple[Path, str], tmp_path: Path
) -> None:
    from inpars.evaluate import EvaluateConfig, evaluate_runs
    from inpars.rerank import RerankConfig, rerank

    results = []
    for name, source in zip(("folder", "irds"), (str(collection[0]), collection[1]), strict=True):
        out = tmp_path / name
        rerank(
            RerankConfig(
                queries=source, corpus=source, qrels=source, output=str(out / "run.trec"),
                model="all-minilm-l6-v2", depth=5, first_stage_output=str(out / "bm25.trec"),
                device="cpu", threads=1,
            )
        )  # fmt: skip
        runs = [str(out / "bm25.trec"), str(out / "run.trec")]
        reports = evaluate_runs(EvaluateConfig(qrels=source, runs=runs, measures=["nDCG@10"]))
        texts = [Path(run).read_text() for run in runs]
        results.append((texts, [report.evaluation.means() for report in reports]))
    assert results[0] == results[1]
    assert len(results[1][0][0].splitlines()) == 5 * 5  # 5 judged queries, depth 5
