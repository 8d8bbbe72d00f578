"""The names of the files and folders inside a published dataset folder."""

QUERIES_FILE = "queries.jsonl"
TRIPLES_JSONL_FILE = "triples.jsonl"
TRIPLES_TSV_FILE = "triples.tsv"
STATS_FILE = "stats.json"
CARD_FILE = "README.md"
SUMS_FILE = "SHA256SUMS"
MANIFESTS_DIR = "manifests"
PLOTS_DIR = "plots"
STAGES = ("generate", "filter", "triples")

# Every card inpars.publish writes says so in these words; with SUMS_FILE it is how a folder is
# recognised as one that --overwrite may replace.
CARD_MARK = "Made with [inpars](https://github.com/inpars/inpars)"
