"""The names of the files and folders inside a published dataset folder."""

QUERIES_FILE = "queries.jsonl"
TRIPLES_JSONL_FILE = "triples.jsonl"
TRIPLES_TSV_FILE = "triples.tsv"
STATS_FILE = "stats.json"
CARD_FILE = "README.md"
SUMS_FILE = "SHA256SUMS"
MANIFESTS_DIR = "manifests"
STAGES = ("generate", "filter", "triples")
