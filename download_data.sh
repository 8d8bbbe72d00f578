#!/usr/bin/env bash
# Download data for inpars: BEIR datasets, MS MARCO passage, and the synthetic queries
# published by the InPars authors. BEIR and MS MARCO come through ir_datasets (its registry,
# its downloads, its MD5 checks), the InPars-v2 queries through huggingface_hub's
# snapshot_download, the InPars v1 queries (a plain S3 bucket) through curl, resuming partial
# downloads and checking the MD5 the server publishes. Nothing appears under its final name
# before it is complete. Runs on bash 3.2 (macOS) and later. Run with --help for the names.
set -euo pipefail

PROG=download_data.sh
HERE=$(cd "$(dirname "$0")" && pwd)

# The InPars v1 bucket (a mirror can replace it; the tests point it at nothing).
INPARS_V1_URL="${INPARS_V1_URL:-https://zav-public.s3.amazonaws.com/inpars}"
CONNECT_TIMEOUT="${INPARS_CONNECT_TIMEOUT:-15}"
# The Hub dataset of the InPars-v2 (InPars toolkit) queries: NAME/queries.jsonl.
INPARS_V2_REPO=inpars/generated-data

# The BEIR collections ir_datasets knows as beir/NAME (its registry has their URLs and MD5s).
BEIR_NAMES="msmarco trec-covid nfcorpus nq hotpotqa fiqa arguana webis-touche2020 cqadupstack
quora dbpedia-entity scidocs fever climate-fever scifact"

# InPars v1 synthetic queries (100k per dataset, GPT-3 Curie), by BEIR name.
INPARS_V1_NAMES="msmarco robust04 nq trec-covid fiqa dbpedia-entity scidocs scifact arguana
bioasq climate-fever cqadupstack fever hotpotqa nfcorpus quora signal1m webis-touche2020
trec-news"

v1_file() {
    # v1_file NAME: the bucket's file name for an InPars v1 dataset (bash 3.2 has no maps).
    case "$1" in
        scifact) echo scifacts_synthetic_queries_100k.jsonl ;;
        dbpedia-entity) echo dbpedia_synthetic_queries_100k.jsonl ;;
        signal1m) echo signal_synthetic_queries_100k.jsonl ;;
        webis-touche2020) echo touche_synthetic_queries_100k.jsonl ;;
        *) echo "${1//-/_}_synthetic_queries_100k.jsonl" ;;
    esac
}

# InPars-v2 / InPars toolkit queries (GPT-J) in the Hub dataset INPARS_V2_REPO.
INPARS_V2_NAMES="trec-covid nfcorpus hotpotqa fiqa arguana webis-touche2020 dbpedia-entity
scidocs fever climate-fever scifact"

usage() {
    cat <<EOF
Usage: $PROG [--dir DIR] [--dry-run] NAME [NAME ...]

Downloads data for inpars into DIR (default: data). Running the same command again skips
what is complete and resumes partial downloads (ir_datasets restarts an archive it did not
finish); a checksum that does not match removes the download and fails; a dataset appears
under its final name only once it is complete.

NAME is one of:

  BEIR datasets, into DIR/NAME/ (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv), fetched
  and MD5-checked by ir_datasets (as beir/NAME, kept in its cache for irds:beir/NAME/...):
$(fold_names "$BEIR_NAMES")

  msmarco-passage
      MS MARCO passage ranking into DIR/msmarco-passage/, fetched and MD5-checked by
      ir_datasets (msmarco-passage/...): collection.tsv (8.8M passages),
      queries.{train,dev,eval}.tsv, queries.{dev,eval}.small.tsv (6,980 dev queries),
      qrels.{train,dev,dev.small}.tsv.

  inpars-v1:NAME
      InPars v1 synthetic queries (100k per dataset, from the InPars authors' S3 bucket),
      into DIR/inpars-v1/NAME.jsonl; checked against the MD5 the server publishes (ETag)
      when it does. NAME is one of:
$(fold_names "$INPARS_V1_NAMES")

  inpars-v2:NAME
      InPars-v2 (InPars toolkit) synthetic queries from the Hugging Face dataset
      $INPARS_V2_REPO (huggingface_hub's snapshot_download), into
      DIR/inpars-v2/NAME.jsonl; checked against the SHA-256 the Hub publishes for the
      file. NAME is one of:
$(fold_names "$INPARS_V2_NAMES")

inpars.filter and inpars.triples read the InPars files as they are (see inpars.published).

Options:
  -d, --dir DIR      where to put the data (default: data)
  -n, --dry-run      print what would be downloaded, from where and how it is checked
  -h, --help         show this help

BEIR, MS MARCO and InPars-v2 need Python with inpars installed (the README's set-up):
\$INPARS_PYTHON if set (only that one), else $HERE/.venv/bin/python, else python3.

Environment: IR_DATASETS_HOME (ir_datasets' cache, default ~/.ir_datasets; a local copy of
an archive can be linked into its downloads/ folder under its MD5), HF_HOME and HF_ENDPOINT
(the Hub's cache and a mirror), INPARS_V1_URL (a mirror of the InPars v1 bucket),
INPARS_CONNECT_TIMEOUT (seconds curl waits for a connection, default 15).

Examples:
  $PROG scifact nfcorpus
  $PROG --dir /data msmarco-passage inpars-v1:trec-covid inpars-v2:scifact
EOF
}

fold_names() {
    # A word list as indented lines for the help text.
    echo "$1" | tr '\n' ' ' | fold -s -w 76 | sed -e 's/ *$//' -e 's/^/      /'
}

log() { echo "$PROG: $*" >&2; }

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

usage_error() {
    echo "$PROG: $*" >&2
    echo "Try '$PROG --help' for the names it knows." >&2
    exit 2
}

in_list() {
    # in_list WORD "LIST": whether WORD is one of the whitespace-separated LIST.
    local word
    for word in $2; do
        [[ "$word" == "$1" ]] && return 0
    done
    return 1
}

curl_reason() {
    case "$1" in
        6) echo "could not resolve the host: offline, or DNS is blocked" ;;
        7) echo "could not connect: offline, or the server is down" ;;
        22) echo "the server answered with an HTTP error (not published at this address?)" ;;
        28) echo "timed out: offline, or the network is too slow" ;;
        35 | 60) echo "TLS/SSL failure" ;;
        33) echo "the server cannot resume this download" ;;
        56) echo "the connection broke off" ;;
        *) echo "see 'man curl', EXIT CODES" ;;
    esac
}

checksum_of() {
    # checksum_of ALGO FILE: the hex digest (md5 or sha256).
    if command -v "${1}sum" >/dev/null 2>&1; then
        "${1}sum" "$2" | cut -d' ' -f1
    else
        python3 -c 'import hashlib, sys
h = hashlib.new(sys.argv[1])
with open(sys.argv[2], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())' "$1" "$2"
    fi
}

published_checksum() {
    # published_checksum URL: "ALGO HEX" from the server's headers, or nothing. The Hub
    # sends X-Linked-Etag (SHA-256 of an LFS file); S3 sends ETag (MD5 of a file uploaded
    # in one part).
    local headers value
    headers=$(curl -sSI --connect-timeout "$CONNECT_TIMEOUT" --max-time 60 "$1" 2>/dev/null) || return 0
    value=$(printf '%s\n' "$headers" | tr -d '\r' | sed -n 's/^[Xx]-[Ll]inked-[Ee][Tt]ag: *"\{0,1\}\([0-9a-f]\{64\}\)"\{0,1\}$/\1/p' | head -n 1)
    if [[ -n "$value" ]]; then
        echo "sha256 $value"
        return 0
    fi
    value=$(printf '%s\n' "$headers" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: *"\{0,1\}\([0-9a-f]\{32\}\)"\{0,1\}$/\1/p' | head -n 1)
    if [[ -n "$value" ]]; then
        echo "md5 $value"
    fi
}

curl_to() {
    # curl_to FILE URL [CURL OPTIONS]: downloads URL into FILE, resuming it; a progress bar
    # on a terminal, only errors otherwise.
    local file="$1" url="$2" quiet=-sS
    shift 2
    [[ -t 2 ]] && quiet=--progress-bar
    curl -fL "$quiet" --connect-timeout "$CONNECT_TIMEOUT" -C - -o "$file" "$@" "$url"
}

fetch() {
    # fetch URL DEST [ALGO HEX]: downloads URL to DEST, resuming DEST.part, and checks the
    # checksum (given, or else published by the server). DEST appears only when complete.
    local url="$1" dest="$2" algo="${3:-}" expected="${4:-}" part="$2.part" rc=0 actual
    if [[ -f "$dest" ]]; then
        log "already downloaded: $dest"
        return 0
    fi
    mkdir -p "$(dirname "$dest")"
    if [[ -s "$part" ]]; then
        log "resuming $url ($(wc -c <"$part") bytes so far)"
    else
        log "downloading $url"
    fi
    # A host that does not resolve fails at once (offline); other errors are retried.
    curl_to "$part" "$url" || rc=$?
    if [[ $rc -ne 0 && $rc -ne 6 ]]; then
        rc=0
        curl_to "$part" "$url" --retry 3 --retry-delay 2 || rc=$?
    fi
    if [[ $rc -ne 0 ]]; then
        # A part that was already complete makes the server refuse the range; the checksum
        # below then decides.
        if ! [[ $rc -eq 33 || $rc -eq 22 ]] || [[ -z "$algo" ]] || ! [[ -s "$part" ]] ||
            [[ "$(checksum_of "$algo" "$part")" != "$expected" ]]; then
            if [[ -s "$part" ]]; then
                die "could not download $url (curl exit $rc: $(curl_reason $rc)). Nothing was completed; $part holds what arrived, and running the same command again resumes it."
            fi
            rm -f "$part"
            rmdir "$(dirname "$dest")" 2>/dev/null || true
            die "could not download $url (curl exit $rc: $(curl_reason $rc)). Nothing was downloaded."
        fi
    fi
    if [[ -z "$algo" ]]; then
        read -r algo expected < <(published_checksum "$url") || true
    fi
    if [[ -n "$algo" ]]; then
        actual=$(checksum_of "$algo" "$part")
        if [[ "$actual" != "$expected" ]]; then
            rm -f "$part"
            die "checksum mismatch for $url: expected $algo $expected, got $actual. The download was removed; run the command again."
        fi
        log "$algo OK: $(basename "$dest")"
    else
        log "no checksum published for $url: not verified"
    fi
    mv -f "$part" "$dest"
}

find_python() {
    # find_python: sets PYTHON to a Python that has inpars, ir_datasets and huggingface_hub.
    local candidate
    local candidates=("$HERE/.venv/bin/python" python3 python)
    # A Python the user names is the only one tried: falling back would hide their mistake.
    if [[ -n "${INPARS_PYTHON:-}" ]]; then
        candidates=("$INPARS_PYTHON")
    fi
    for candidate in "${candidates[@]}"; do
        if ! command -v "$candidate" >/dev/null 2>&1; then
            continue
        fi
        if with_inpars "$candidate" -c 'import inpars.download, ir_datasets, huggingface_hub' \
            >/dev/null 2>&1; then
            PYTHON="$candidate"
            return 0
        fi
    done
    die "BEIR, MS MARCO and InPars-v2 data come through ir_datasets and huggingface_hub, which need Python with inpars installed (see the README's set-up), or INPARS_PYTHON=/path/to/that/python"
}

with_inpars() {
    # with_inpars COMMAND...: runs COMMAND with this checkout's inpars first on the path.
    PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}" "$@"
}

library_fetch() {
    # library_fetch ARGS...: python -m inpars.download ARGS (ir_datasets, huggingface_hub).
    [[ -n "$PYTHON" ]] || find_python
    with_inpars "$PYTHON" -m inpars.download "$@" || exit 1
}

plan() {
    # plan NAME: appends what NAME needs to the PLAN_* arrays (one entry per name, each field
    # its own array element, so a --dir with spaces stays whole), or a usage error.
    local name="$1" dataset kind source dest check arg=
    case "$name" in
        inpars-v1:*)
            dataset="${name#inpars-v1:}"
            in_list "$dataset" "$INPARS_V1_NAMES" ||
                usage_error "unknown InPars v1 dataset '$dataset' in '$name'"
            kind=file source="$INPARS_V1_URL/$(v1_file "$dataset")"
            dest="$DIR/inpars-v1/$dataset.jsonl"
            check="checksum: the one the server publishes, if any"
            ;;
        inpars-v2:*)
            dataset="${name#inpars-v2:}"
            in_list "$dataset" "$INPARS_V2_NAMES" ||
                usage_error "unknown InPars-v2 dataset '$dataset' in '$name'"
            kind=hub arg="$dataset/queries.jsonl"
            source="Hugging Face dataset $INPARS_V2_REPO, $arg"
            dest="$DIR/inpars-v2/$dataset.jsonl"
            check="checksum: the SHA-256 the Hub publishes"
            ;;
        msmarco-passage)
            kind=msmarco source="ir_datasets msmarco-passage" dest="$DIR/msmarco-passage/"
            check="checksums: the MD5s of ir_datasets' registry"
            ;;
        *)
            in_list "$name" "$BEIR_NAMES" || usage_error "unknown dataset '$name'"
            kind=beir arg="$name" source="ir_datasets beir/$name" dest="$DIR/$name/"
            check="checksum: the MD5 of ir_datasets' registry"
            ;;
    esac
    PLAN_KIND+=("$kind")
    PLAN_FROM+=("$source")
    PLAN_DEST+=("$dest")
    PLAN_CHECK+=("$check")
    PLAN_ARG+=("$arg")
}

DIR=data
DRY_RUN=0
PYTHON=
NAMES=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help)
            usage
            exit 0
            ;;
        -d | --dir)
            [[ $# -ge 2 && -n "$2" ]] || usage_error "$1 needs a folder"
            DIR="$2"
            shift 2
            ;;
        --dir=*)
            DIR="${1#--dir=}"
            [[ -n "$DIR" ]] || usage_error "--dir needs a folder"
            shift
            ;;
        -n | --dry-run)
            DRY_RUN=1
            shift
            ;;
        --)
            shift
            [[ $# -eq 0 ]] || NAMES+=("$@")
            break
            ;;
        -*)
            usage_error "unknown option '$1'"
            ;;
        *)
            NAMES+=("$1")
            shift
            ;;
    esac
done
[[ ${#NAMES[@]} -gt 0 ]] || usage_error "name at least one dataset to download"

# Check every name before downloading anything. Plan i is PLAN_*[i].
PLAN_KIND=() PLAN_FROM=() PLAN_DEST=() PLAN_CHECK=() PLAN_ARG=()
for name in "${NAMES[@]}"; do
    plan "$name"
done

if [[ $DRY_RUN -eq 1 ]]; then
    for i in "${!NAMES[@]}"; do
        echo "${NAMES[$i]}: ${PLAN_FROM[$i]} -> ${PLAN_DEST[$i]} (${PLAN_CHECK[$i]})"
    done
    exit 0
fi

for i in "${!NAMES[@]}"; do
    dest="${PLAN_DEST[$i]}"
    case "${PLAN_KIND[$i]}" in
        beir | msmarco)
            if [[ -d "$dest" ]]; then
                log "already there: ${dest%/}"
                continue
            fi
            if [[ "${PLAN_KIND[$i]}" == beir ]]; then
                library_fetch beir "${PLAN_ARG[$i]}" "${dest%/}"
            else
                library_fetch msmarco-passage "${dest%/}"
            fi
            ;;
        hub)
            if [[ -f "$dest" ]]; then
                log "already downloaded: $dest"
                continue
            fi
            library_fetch hub "$INPARS_V2_REPO" "${PLAN_ARG[$i]}" "$dest"
            ;;
        file)
            command -v curl >/dev/null 2>&1 || die "curl is needed (apt-get install curl)"
            fetch "${PLAN_FROM[$i]}" "$dest"
            ;;
    esac
done
log "done: ${NAMES[*]} in $DIR"
