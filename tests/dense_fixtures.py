"""Fixtures for the dense retrieval tests: a tiny sentence-transformers bi-encoder, a stub
teacher whose scores can be checked by hand, and a small corpus with generated queries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from conftest import minilm_tokenizer, write_beir_corpus


def build_tiny_bi_encoder(
    directory: Path, seed: int = 0, normalize: bool = True, dropout: float = 0.1
) -> Path:
    """A 2-layer random BERT with mean pooling and normalisation (unless not ``normalize``),
    the MiniLM tokenizer, saved as a sentence-transformers folder (the layout of
    all-MiniLM-L6-v2, 32 dimensions; cosine similarity)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel

    tokenizer = minilm_tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=512,
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
    )  # fmt: skip
    torch.manual_seed(seed)
    body = directory / "body"
    BertModel(config).save_pretrained(body)
    tokenizer.save_pretrained(body)
    transformer = Transformer(str(body), max_seq_length=64)
    pooling = Pooling(transformer.get_embedding_dimension(), "mean")
    modules = [transformer, pooling, Normalize()] if normalize else [transformer, pooling]
    model = SentenceTransformer(modules=modules, device="cpu", similarity_fn_name="cosine")
    folder = directory / "model"
    model.save(str(folder))
    return folder


class WordOverlapTeacher:
    """A teacher whose score is the number of the query's distinct words found in the
    document: margins can be worked out by hand."""

    kind = "word-overlap"
    name = "word-overlap"
    max_length = 512

    def __init__(self) -> None:
        self.pairs_scored = 0

    def score(
        self, queries: Sequence[str], documents: Sequence[str], batch_size: int = 32, **_: object
    ) -> list[float]:
        self.pairs_scored += len(queries)
        return [
            float(len(set(q.lower().split()) & set(d.lower().split())))
            for q, d in zip(queries, documents, strict=True)
        ]


TOPICS = ["wing flutter", "heat transfer", "shock wave", "boundary layer", "jet noise"]


def write_dense_collection(folder: Path) -> tuple[Path, Path]:
    """A BEIR corpus of 5 topics x 4 documents and generated queries (JSONL, inpars.generate
    style): two queries per topic's first document, and one query text generated for two
    documents (``d0-0`` and ``d0-1``), so that both are its positives."""
    docs = []
    for t, topic in enumerate(TOPICS):
        for i in range(4):
            docs.append((f"d{t}-{i}", f"On {topic}" if i == 0 else "", f"{topic} report {i} " * 3))
    corpus = write_beir_corpus(folder / "corpus", docs)
    rows = []
    for t, topic in enumerate(TOPICS):
        rows.append({"doc_id": f"d{t}-0", "query": f"what is known about {topic}"})
        rows.append({"doc_id": f"d{t}-0", "query": f"{topic} measurements"})
    rows.append({"doc_id": "d0-1", "query": "What is known about WING flutter?"})
    queries = folder / "queries.jsonl"
    queries.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return corpus, queries


WORDS = [
    "wing", "shell", "heat", "flutter", "plate", "shock", "jet", "crack", "nozzle", "rotor",
    "blade", "panel", "fuel", "valve", "pump", "gear", "cable", "truss", "beam", "strut",
    "flap", "keel", "mast", "hull",
]  # fmt: skip


def write_learnable_pairs(folder: Path) -> tuple[Path, Path]:
    """A corpus with one document per word and two generated queries for each (48 pairs):
    a query shares its word with its document only, so a bi-encoder learns them quickly."""
    docs = [(f"doc-{w}", "", f"answer: the {w} is explained here") for w in WORDS]
    corpus = write_beir_corpus(folder / "pairs-corpus", docs)
    rows = []
    for w in WORDS:
        rows.append({"doc_id": f"doc-{w}", "query": f"what about the {w}"})
        rows.append({"doc_id": f"doc-{w}", "query": f"{w} explained"})
    queries = folder / "pairs-queries.jsonl"
    queries.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return corpus, queries
