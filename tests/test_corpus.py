"""Tests for inpars.corpus: corpus formats, bad input, sampling, queries, qrels, sample data."""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

import pytest

from inpars.corpus import (
    CORPUS_FORMATS,
    SAMPLE_CORPUS,
    CorpusReader,
    CorpusWarning,
    detect_format,
    read_corpus,
    read_doc_ids,
    read_qrels,
    read_queries,
    sample_doc_ids,
    select_documents,
)
from inpars.errors import InparsError, InputError
from inpars.records import Document, Query

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def beir_folder(tmp_path: Path, n: int = 3) -> Path:
    folder = tmp_path / "beir"
    write_jsonl(
        folder / "corpus.jsonl",
        [{"_id": f"d{i}", "title": f"Title {i}", "text": f"Text {i}"} for i in range(n)],
    )
    return folder


def big_corpus(tmp_path: Path, n: int = 50) -> CorpusReader:
    path = write_jsonl(tmp_path / "big.jsonl", [{"id": i, "text": f"t{i}"} for i in range(n)])
    return read_corpus(path)


def expect_error(reader: object, *parts: str, line: int | None = None) -> InputError:
    """Iterates ``reader`` expecting an InputError whose message contains every part."""
    with pytest.raises(InputError) as info:
        list(reader)  # type: ignore[call-overload]
    message = str(info.value)
    for part in parts:
        assert part in message, message
    if line is not None:
        assert info.value.line == line
        assert f":{line}" in message
    return info.value


# --- formats -----------------------------------------------------------------------------


def test_beir_folder(tmp_path: Path) -> None:
    reader = read_corpus(beir_folder(tmp_path))
    assert reader.format == "beir"
    docs = list(reader)
    assert docs[0] == Document(id="d0", text="Text 0", title="Title 0")
    assert docs[0].contents == "Title 0 Text 0"
    assert reader.documents == 3
    assert reader.skipped_empty == 0
    assert list(reader) == docs  # re-iterable


def test_beir_folder_gz(tmp_path: Path) -> None:
    folder = tmp_path / "gzbeir"
    folder.mkdir()
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"_id": "x", "title": "", "text": "héllo"}) + "\n")
    assert detect_format(folder) == "beir"
    assert list(read_corpus(folder)) == [Document(id="x", text="héllo", title="")]


def test_jsonl_default_fields(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [
            {"id": 7, "contents": "seven"},
            {"docid": "a", "body": "bee", "title": "T"},
            {"doc_id": "b", "text": "", "title": "empty text"},
            {"_id": "c", "text": None, "title": "null text"},
        ],
    )
    docs = list(read_corpus(path))
    assert docs == [
        Document(id="7", text="seven"),
        Document(id="a", text="bee", title="T"),
        Document(id="b", text="", title="empty text"),
        Document(id="c", text="", title="null text"),
    ]


@pytest.mark.parametrize("layout", ["jsonl", "beir"])
def test_a_document_without_its_text_field_is_an_error_not_a_title(
    tmp_path: Path, layout: str
) -> None:
    """A missing key is an error naming file, line and field; an empty text is allowed."""
    records = [{"_id": "d0", "title": "ok", "text": "fine"}, {"_id": "d1", "title": "no text"}]
    path = write_jsonl(tmp_path / "c" / "corpus.jsonl", records)
    reader = read_corpus(path.parent if layout == "beir" else path)
    error = expect_error(reader, "corpus.jsonl", "missing text field", line=2)
    assert error.field == "text"
    error = expect_error(read_corpus(path, text_field="body"), "'body'", line=1)
    assert error.field == "body"


def test_empty_text_in_every_format_is_a_skipped_document(tmp_path: Path) -> None:
    jsonl = write_jsonl(
        tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"_id": "b", "title": "", "text": ""}]
    )
    tsv = tmp_path / "c.tsv"
    tsv.write_text("a\tx\nb\t\n", encoding="utf-8")
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("id,title,text\na,,x\nb,,\n", encoding="utf-8")
    for path in (jsonl, tsv, csv_file):
        reader = read_corpus(path)
        with pytest.warns(CorpusWarning, match="skipped 1 document"):
            assert [d.id for d in reader] == ["a"]


def test_a_csv_without_a_text_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,title\nx,only a title\n", encoding="utf-8")
    error = expect_error(read_corpus(path), "c.csv", "no text column", "'title'", line=1)
    assert error.field == "text"


def test_jsonl_configured_fields(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "c.json", [{"pid": "p1", "passage": "the text", "heading": "H", "id": "x"}]
    )
    reader = read_corpus(path, id_field="pid", text_field="passage", title_field="heading")
    assert list(reader) == [Document(id="p1", text="the text", title="H")]


def test_jsonl_gz(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"_id": "1", "text": "one"}) + "\n")
    assert detect_format(path) == "jsonl"
    assert [d.id for d in read_corpus(path)] == ["1"]


def test_tsv_two_and_three_columns(tmp_path: Path) -> None:
    two = tmp_path / "collection.tsv"
    two.write_text("0\tfirst passage\n1\tsecond, with comma\n\n", encoding="utf-8")
    assert list(read_corpus(two)) == [
        Document(id="0", text="first passage"),
        Document(id="1", text="second, with comma"),
    ]
    three = tmp_path / "titled.tsv"
    three.write_text("docid\ttitle\ttext\nd1\tA title\tSome text\n", encoding="utf-8")
    assert list(read_corpus(three)) == [Document(id="d1", text="Some text", title="A title")]


def test_tsv_gz(tmp_path: Path) -> None:
    path = tmp_path / "collection.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("5\tfive\n")
    assert detect_format(path) == "tsv"
    assert list(read_corpus(path)) == [Document(id="5", text="five")]


def test_csv_quoted_fields_and_configured_names(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        'id,title,text\n1,"A, title","line one\nline two"\n2,,"said ""hi"""\n',
        encoding="utf-8",
    )
    docs = list(read_corpus(path))
    assert docs == [
        Document(id="1", text="line one\nline two", title="A, title"),
        Document(id="2", text='said "hi"', title=""),
    ]
    other = tmp_path / "o.csv"
    other.write_text("key,passage\nk1,hello\n", encoding="utf-8")
    assert list(read_corpus(other, id_field="key", text_field="passage")) == [
        Document(id="k1", text="hello")
    ]


def test_csv_gz_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "c.csv.gz"
    with gzip.open(path, "wb") as handle:
        handle.write("\ufeff_id,text\nz,zed\n".encode())
    assert detect_format(path) == "csv"
    assert list(read_corpus(path)) == [Document(id="z", text="zed")]


def test_explicit_format_overrides_name(tmp_path: Path) -> None:
    path = tmp_path / "collection.txt"
    path.write_text("1\tone\n", encoding="utf-8")
    assert list(read_corpus(path, format="tsv")) == [Document(id="1", text="one")]


# --- detection ---------------------------------------------------------------------------


def test_detect_format(tmp_path: Path) -> None:
    assert detect_format(beir_folder(tmp_path)) == "beir"
    for name, expected in [
        ("a.jsonl", "jsonl"),
        ("a.json", "jsonl"),
        ("a.JSONL.gz", "jsonl"),
        ("a.tsv", "tsv"),
        ("a.csv", "csv"),
        ("a.csv.gz", "csv"),
    ]:
        (tmp_path / name).write_text("")
        assert detect_format(tmp_path / name) == expected, name
    assert detect_format("irds:beir/scifact/test") == "irds"
    assert set(CORPUS_FORMATS) == {"beir", "jsonl", "tsv", "csv", "irds"}


def test_detect_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("x")
    with pytest.raises(InputError, match=r"corpus\.txt.*unknown corpus format.*--corpus-format"):
        detect_format(path)


def test_detect_folder_without_corpus(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"corpus\.jsonl"):
        read_corpus(tmp_path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nowhere"):
        read_corpus(tmp_path / "nowhere.jsonl")
    with pytest.raises(InputError, match="nowhere"):
        read_corpus(tmp_path / "nowhere.jsonl", format="jsonl")


def test_unknown_explicit_format(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [])
    with pytest.raises(InparsError, match="xml"):
        read_corpus(path, format="xml")


def test_tsv_format_on_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="needs a file"):
        read_corpus(beir_folder(tmp_path), format="tsv")


# --- bad input ---------------------------------------------------------------------------


def test_malformed_json_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"_id": "1", "text": "ok"}\n{"_id": "2", "text": \n', encoding="utf-8")
    expect_error(read_corpus(path), "bad.jsonl", "malformed JSON", line=2)


def test_missing_id_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "1", "text": "a"}, {"text": "b"}])
    error = expect_error(read_corpus(path), "c.jsonl", "'_id'", "missing id", line=2)
    assert error.field == "_id"
    error = expect_error(read_corpus(path, id_field="key"), "'key'", line=1)
    assert error.field == "key"


def test_missing_text_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "1", "text": "a"}, {"_id": "2", "x": 1}])
    error = expect_error(read_corpus(path), "c.jsonl", "'text'", "missing text", line=2)
    assert error.field == "text"
    expect_error(read_corpus(path, text_field="passage"), "'passage'", line=1)


@pytest.mark.parametrize("bad_id", [1.5, None, ["x"], {"a": 1}, True])
def test_bad_id_type(tmp_path: Path, bad_id: object) -> None:
    path = write_jsonl(
        tmp_path / "c.jsonl", [{"_id": "ok", "text": "a"}, {"id": bad_id, "text": "b"}]
    )
    error = expect_error(read_corpus(path), "c.jsonl", "string or an integer", line=2)
    assert error.field == "id"


def test_bad_text_type(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "1", "text": 42}])
    error = expect_error(read_corpus(path), "must be a string", line=1)
    assert error.field == "text"


def test_empty_id(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "  ", "text": "a"}])
    expect_error(read_corpus(path), "empty id", line=1)


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [
            {"_id": "a", "text": "1"},
            {"_id": "b", "text": "2"},
            {"_id": 7, "text": "3"},
            {"_id": "7", "text": "4"},
        ],
    )
    error = expect_error(read_corpus(path), "c.jsonl", "duplicate id '7'", "line 3", line=4)
    assert error.field == "_id"


def test_duplicate_ids_tsv_and_csv(tmp_path: Path) -> None:
    tsv = tmp_path / "c.tsv"
    tsv.write_text("1\ta\n2\tb\n1\tc\n", encoding="utf-8")
    expect_error(read_corpus(tsv), "c.tsv", "duplicate id '1'", "line 1", line=3)
    csv_path = tmp_path / "c.csv"
    csv_path.write_text('id,text\nx,"multi\nline"\nx,again\n', encoding="utf-8")
    expect_error(read_corpus(csv_path), "c.csv", "duplicate id 'x'", "line 2", line=4)


def test_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"_id": "1", "text": "ok"}\n{"_id": "2", "text": "\xe9"}\n')
    expect_error(read_corpus(path), "c.jsonl", "invalid UTF-8", line=2)


def test_wrong_tsv_column_count(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_text("1\ta\n2\n", encoding="utf-8")
    expect_error(read_corpus(path), "c.tsv", "found 1", line=2)
    path.write_text("1\ta\n2\tb\tc\td\n", encoding="utf-8")
    expect_error(read_corpus(path), "found 4", line=2)


def test_csv_missing_header_columns(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("name,text\nx,y\n", encoding="utf-8")
    error = expect_error(read_corpus(path), "c.csv", "no id column", "'name'", line=1)
    assert error.field == "_id"
    path.write_text("id,summary\nx,y\n", encoding="utf-8")
    error = expect_error(read_corpus(path), "no text column", line=1)
    assert error.field == "text"
    expect_error(read_corpus(path, text_field="body2"), "'body2'", line=1)


def test_csv_row_length_and_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,text\n1,"a"\n2,b,extra\n', encoding="utf-8")
    expect_error(read_corpus(path), "expected 2 columns", line=3)
    path.write_text("", encoding="utf-8")
    expect_error(read_corpus(path), "header row", line=1)


def test_empty_documents_skipped_with_one_warning(tmp_path: Path) -> None:
    records = [{"_id": "full", "text": "x"}]
    records += [{"_id": f"e{i}", "title": " ", "text": "\t"} for i in range(7)]
    path = write_jsonl(tmp_path / "c.jsonl", records)
    reader = read_corpus(path)
    with pytest.warns(CorpusWarning) as record:
        docs = list(reader)
    assert [d.id for d in docs] == ["full"]
    assert reader.skipped_empty == 7
    assert reader.documents == 1
    assert len(record) == 1
    message = str(record[0].message)
    assert "skipped 7" in message
    assert "'e0'" in message
    assert "c.jsonl" in message


def test_no_warning_without_empty_documents(tmp_path: Path) -> None:
    reader = read_corpus(beir_folder(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(reader)


# --- doc ids, sampling, selection ----------------------------------------------------------


def test_read_doc_ids(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("# chosen documents\nd3\n\n d1 \nd3\n#d9\nd2\n", encoding="utf-8")
    assert read_doc_ids(path) == ["d3", "d1", "d2"]


def test_sample_doc_ids_seeded(tmp_path: Path) -> None:
    reader = big_corpus(tmp_path)
    first = sample_doc_ids(reader, 10, seed=1)
    assert len(first) == 10
    assert first == sample_doc_ids(reader, 10, seed=1)
    others = [sample_doc_ids(reader, 10, seed=s) for s in range(2, 7)]
    assert any(o != first for o in others)
    assert first <= {str(i) for i in range(50)}
    assert sample_doc_ids(reader, 50, seed=3) == {str(i) for i in range(50)}
    assert sample_doc_ids(reader, 500, seed=3) == {str(i) for i in range(50)}
    assert sample_doc_ids(reader, 0, seed=3) == set()


def test_select_documents_all(tmp_path: Path) -> None:
    reader = big_corpus(tmp_path, 5)
    assert [d.id for d in select_documents(reader)] == ["0", "1", "2", "3", "4"]


def test_select_documents_max_docs(tmp_path: Path) -> None:
    reader = big_corpus(tmp_path)
    docs = list(select_documents(reader, max_docs=8, seed=5))
    ids = [d.id for d in docs]
    assert len(ids) == 8
    assert ids == sorted(ids, key=int)  # corpus order
    assert set(ids) == sample_doc_ids(reader, 8, seed=5)
    assert [d.id for d in select_documents(reader, max_docs=8, seed=5)] == ids
    assert list(select_documents(reader, max_docs=0)) == []


def test_select_documents_doc_ids(tmp_path: Path) -> None:
    reader = big_corpus(tmp_path)
    docs = list(select_documents(reader, doc_ids=["30", "2", "11"]))
    assert [d.id for d in docs] == ["2", "11", "30"]
    assert docs[0] == Document(id="2", text="t2")
    both = list(select_documents(reader, doc_ids=[str(i) for i in range(20)], max_docs=5, seed=2))
    assert len(both) == 5
    assert all(int(d.id) < 20 for d in both)


def test_select_documents_missing_ids_fail_before_yielding(tmp_path: Path) -> None:
    reader = big_corpus(tmp_path)
    missing = [f"nope{i}" for i in range(12)]
    with pytest.raises(InputError) as info:
        select_documents(reader, doc_ids=["1", *missing, "2"])  # raises on the call itself
    message = str(info.value)
    assert "12 of the 14 requested document ids are not in the corpus" in message
    assert "'nope0'" in message
    assert "'nope9'" in message
    assert "'nope10'" not in message
    assert "and 2 more" in message
    assert "big.jsonl" in message


def test_select_documents_empty_document_requested(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"_id": "b", "title": "", "text": ""}]
    )
    with pytest.warns(CorpusWarning), pytest.raises(InputError, match="empty title and text: 'b'"):
        select_documents(read_corpus(path), doc_ids=["a", "b"])


def test_negative_max_docs(tmp_path: Path) -> None:
    with pytest.raises(InparsError):
        select_documents(big_corpus(tmp_path), max_docs=-1)


# --- queries and qrels ---------------------------------------------------------------------


def test_read_queries_beir_and_folder(tmp_path: Path) -> None:
    folder = beir_folder(tmp_path)
    write_jsonl(
        folder / "queries.jsonl", [{"_id": 1, "text": " what is x "}, {"id": "q2", "query": "y"}]
    )
    expected = [Query(id="1", text="what is x"), Query(id="q2", text="y")]
    assert list(read_queries(folder / "queries.jsonl")) == expected
    assert list(read_queries(folder)) == expected


def test_read_queries_tsv(tmp_path: Path) -> None:
    path = tmp_path / "queries.dev.tsv"
    path.write_text("1048585\twhat is paula deen's brother\n2\tsecond\n", encoding="utf-8")
    assert list(read_queries(path)) == [
        Query(id="1048585", text="what is paula deen's brother"),
        Query(id="2", text="second"),
    ]


def test_read_queries_errors(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_text("1\ta\n2\n", encoding="utf-8")
    expect_error(read_queries(path), "q.tsv", "found 1", line=2)
    path.write_text("1\ta\n1\tb\n", encoding="utf-8")
    expect_error(read_queries(path), "duplicate query id '1'", "line 1", line=2)
    jpath = write_jsonl(tmp_path / "q.jsonl", [{"_id": "1"}])
    expect_error(read_queries(jpath), "missing text", "'text'", line=1)
    with pytest.raises(InputError, match="nowhere"):
        read_queries(tmp_path / "nowhere.tsv")


def test_read_queries_empty_text_warns(tmp_path: Path) -> None:
    path = tmp_path / "q.tsv"
    path.write_text("1\ta\n2\t \n", encoding="utf-8")
    with pytest.warns(CorpusWarning, match="skipped 1 query"):
        assert [q.id for q in read_queries(path)] == ["1"]


def test_read_qrels_beir(tmp_path: Path) -> None:
    folder = beir_folder(tmp_path)
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n1\td0\t2\n1\td1\t0\nq2\td2\t1\n", encoding="utf-8"
    )
    expected = {"1": {"d0": 2, "d1": 0}, "q2": {"d2": 1}}
    assert read_qrels(folder) == expected
    assert read_qrels(folder / "qrels" / "test.tsv") == expected


def test_read_qrels_trec(tmp_path: Path) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text("1 0 d0 1\n1 0 d5 -1\n\n2  Q0  d9  3\n", encoding="utf-8")
    assert read_qrels(path) == {"1": {"d0": 1, "d5": -1}, "2": {"d9": 3}}


def test_read_qrels_errors(tmp_path: Path) -> None:
    path = tmp_path / "qrels.tsv"
    path.write_text("1\td0\t1\n1\td1\tx\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"qrels\.tsv:2, field 'score'"):
        read_qrels(path)
    path.write_text("1 0 d0 1\n1 d1 1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"qrels\.tsv:2.*expected 4 fields"):
        read_qrels(path)
    path.write_text("just-one-field\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a qrels file"):
        read_qrels(path)
    with pytest.raises(InputError, match="qrels"):
        read_qrels(beir_folder(tmp_path))


# --- bundled sample and shared data ----------------------------------------------------------


def test_sample_corpus() -> None:
    reader = read_corpus("sample")
    assert reader.path == SAMPLE_CORPUS
    assert reader.format == "beir"
    docs = list(reader)
    assert len(docs) == 27
    assert len({d.id for d in docs}) == 27
    assert [d.id for d in docs] == [f"amendment-{i}" for i in range(1, 28)]
    assert all(d.title and d.text for d in docs)
    assert docs[0].text.startswith("Congress shall make no law respecting an establishment")
    assert "equal protection of the laws" in docs[13].text
    assert (SAMPLE_CORPUS / "SOURCE.md").is_file()


def test_local_path_named_sample_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "sample" / "corpus.jsonl", [{"_id": "mine", "text": "local"}])
    assert [d.id for d in read_corpus("sample")] == ["mine"]


def test_shared_cranfield() -> None:
    cranfield = SHARED_DATA / "cranfield"
    if not (cranfield / "corpus.jsonl").is_file():
        pytest.skip(f"shared data not found at {cranfield}")
    reader = read_corpus(cranfield)
    assert reader.format == "beir"
    with warnings.catch_warnings():
        # Cranfield has a couple of documents with no text; the reader warns about them.
        warnings.simplefilter("ignore", CorpusWarning)
        ids = [doc.id for doc in reader]
    assert len(ids) + reader.skipped_empty == 1400
    assert len(set(ids)) == len(ids)
    queries = list(read_queries(cranfield))
    assert len(queries) == 225
    qrels = read_qrels(cranfield)
    assert qrels
    assert set(qrels) <= {q.id for q in queries}
    judged = {doc_id for docs in qrels.values() for doc_id in docs}
    assert judged <= set(ids) | {str(i) for i in range(1, 1401)}
