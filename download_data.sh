#!/usr/bin/env bash
# Download data for inpars: BEIR datasets, MS MARCO passage, and the synthetic queries
# published by the InPars authors. Resumes partial downloads, checks checksums where they
# are published, and never leaves a half-extracted folder under its final name.
# Run with --help for what it can fetch.
set -euo pipefail

PROG=download_data.sh

# Where things come from; each can be pointed at a mirror (the tests point them at nothing).
BEIR_URL="${INPARS_BEIR_URL:-https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets}"
MSMARCO_URL="${INPARS_MSMARCO_URL:-https://msmarco.z22.web.core.windows.net/msmarcoranking}"
INPARS_V1_URL="${INPARS_V1_URL:-https://zav-public.s3.amazonaws.com/inpars}"
INPARS_V2_URL="${INPARS_V2_URL:-https://huggingface.co/datasets/inpars/generated-data/resolve/main}"
CONNECT_TIMEOUT="${INPARS_CONNECT_TIMEOUT:-15}"

# MD5 checksums published in the BEIR README (datasets downloadable from BEIR_URL).
declare -A BEIR_MD5=(
    [msmarco]=444067daf65d982533ea17ebd59501e4
    [trec-covid]=ce62140cb23feb9becf6270d0d1fe6d1
    [nfcorpus]=a89dba18a62ef92f7d323ec890a0d38d
    [nq]=d4d3d2e48787a744b6f6e691ff534307
    [hotpotqa]=f412724f78b0d91183a0e86805e16114
    [fiqa]=17918ed23cd04fb15047f73e6c3bd9d9
    [arguana]=8ad3e3c2a5867cdced806d6503f29b99
    [webis-touche2020]=46f650ba5a527fc69e0a6521c5a23563
    [cqadupstack]=4e41456d7df8ee7760a7f866133bda78
    [quora]=18fb154900ba42a600f84b839c173167
    [dbpedia-entity]=c2a39eb420a3164af735795df012ac2c
    [scidocs]=38121350fc3a4d2f48850f6aff52e4a9
    [fever]=5a818580227bfb4b35bb6fa46d9b6c03
    [climate-fever]=8b66f0a9126c521bae2bde127b4dc99d
    [scifact]=5f7d1de60b170fc8027bb7898e2efca1
)
BEIR_NAMES="msmarco trec-covid nfcorpus nq hotpotqa fiqa arguana webis-touche2020 cqadupstack
quora dbpedia-entity scidocs fever climate-fever scifact"

# MS MARCO passage: collection, queries (train/dev/eval, and the small dev set) and qrels, in
# one archive; MD5 published in the MS MARCO README.
MSMARCO_FILE=collectionandqueries.tar.gz
MSMARCO_MD5=31644046b18952c1386cd4564ba2ae69

# InPars v1 synthetic queries (100k per dataset, GPT-3 Curie), by BEIR name -> file name.
declare -A INPARS_V1_FILES=(
    [msmarco]=msmarco_synthetic_queries_100k.jsonl
    [robust04]=robust04_synthetic_queries_100k.jsonl
    [nq]=nq_synthetic_queries_100k.jsonl
    [trec-covid]=trec_covid_synthetic_queries_100k.jsonl
    [fiqa]=fiqa_synthetic_queries_100k.jsonl
    [dbpedia-entity]=dbpedia_synthetic_queries_100k.jsonl
    [scidocs]=scidocs_synthetic_queries_100k.jsonl
    [scifact]=scifacts_synthetic_queries_100k.jsonl
    [arguana]=arguana_synthetic_queries_100k.jsonl
    [bioasq]=bioasq_synthetic_queries_100k.jsonl
    [climate-fever]=climate_fever_synthetic_queries_100k.jsonl
    [cqadupstack]=cqadupstack_synthetic_queries_100k.jsonl
    [fever]=fever_synthetic_queries_100k.jsonl
    [hotpotqa]=hotpotqa_synthetic_queries_100k.jsonl
    [nfcorpus]=nfcorpus_synthetic_queries_100k.jsonl
    [quora]=quora_synthetic_queries_100k.jsonl
    [signal1m]=signal_synthetic_queries_100k.jsonl
    [webis-touche2020]=touche_synthetic_queries_100k.jsonl
    [trec-news]=trec_news_synthetic_queries_100k.jsonl
)
INPARS_V1_NAMES="msmarco robust04 nq trec-covid fiqa dbpedia-entity scidocs scifact arguana
bioasq climate-fever cqadupstack fever hotpotqa nfcorpus quora signal1m webis-touche2020
trec-news"

# InPars-v2 / InPars toolkit queries (GPT-J), in the inpars/generated-data dataset on the Hub.
INPARS_V2_NAMES="trec-covid nfcorpus hotpotqa fiqa arguana webis-touche2020 dbpedia-entity
scidocs fever climate-fever scifact"

usage() {
    cat <<EOF
Usage: $PROG [--dir DIR] [--keep-archives] [--dry-run] NAME [NAME ...]

Downloads data for inpars into DIR (default: data). Partial downloads resume when the same
command is run again; a checksum that does not match removes the download and fails; a
dataset folder appears under its final name only once it is complete.

NAME is one of:

  BEIR datasets, into DIR/NAME/ (corpus.jsonl, queries.jsonl, qrels/), MD5-checked:
$(fold_names "$BEIR_NAMES")

  msmarco-passage
      MS MARCO passage ranking into DIR/msmarco-passage/: collection.tsv (8.8M
      passages), queries.{train,dev,eval}.tsv, queries.dev.small.tsv (6,980 dev queries),
      qrels.dev.small.tsv, qrels.{train,dev}.tsv. One 1 GB archive, MD5-checked.

  inpars-v1:NAME
      InPars v1 synthetic queries (100k per dataset, from the InPars authors' S3 bucket),
      into DIR/inpars-v1/NAME.jsonl; checked against the MD5 the server publishes (ETag)
      when it does. NAME is one of:
$(fold_names "$INPARS_V1_NAMES")

  inpars-v2:NAME
      InPars-v2 (InPars toolkit) synthetic queries from the Hugging Face dataset
      inpars/generated-data, into DIR/inpars-v2/NAME.jsonl; checked against the SHA-256 the
      Hub publishes for the file. NAME is one of:
$(fold_names "$INPARS_V2_NAMES")

inpars.filter and inpars.triples read the InPars files as they are (see inpars.published).

Options:
  -d, --dir DIR      where to put the data (default: data)
  --keep-archives    keep .zip/.tar.gz files after extracting them (in DIR/downloads/)
  -n, --dry-run      print what would be downloaded, from where and with which checksum
  -h, --help         show this help

Environment: INPARS_BEIR_URL, INPARS_MSMARCO_URL, INPARS_V1_URL, INPARS_V2_URL (mirrors);
INPARS_CONNECT_TIMEOUT (seconds to wait for a connection, default 15).

Examples:
  $PROG scifact nfcorpus
  $PROG --dir /data msmarco-passage inpars-v1:trec-covid inpars-v2:scifact
EOF
}

fold_names() {
    # A word list as indented lines for the help text.
    echo $1 | fold -s -w 76 | sed -e 's/ *$//' -e 's/^/      /'
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

extract_zip() {
    # extract_zip ZIP DIR: unpacks into DIR.
    if command -v unzip >/dev/null 2>&1; then
        unzip -q -o "$1" -d "$2"
    else
        python3 -m zipfile -e "$1" "$2"
    fi
}

get_beir() {
    local name="$1" zip="$DIR/downloads/$1.zip" tmp="$DIR/.extract-$1.$$"
    EXTRACTING="$tmp"
    if [[ -d "$DIR/$name" ]]; then
        log "already there: $DIR/$name"
        return 0
    fi
    fetch "$BEIR_URL/$name.zip" "$zip" md5 "${BEIR_MD5[$name]}"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    extract_zip "$zip" "$tmp" || { rm -rf "$tmp"; die "could not extract $zip"; }
    [[ -d "$tmp/$name" ]] || { rm -rf "$tmp"; die "$zip does not hold a folder $name/"; }
    mv "$tmp/$name" "$DIR/$name"
    rm -rf "$tmp"
    [[ $KEEP_ARCHIVES -eq 1 ]] || rm -f "$zip"
    log "ready: $DIR/$name"
}

get_msmarco() {
    local target="$DIR/msmarco-passage" archive="$DIR/downloads/$MSMARCO_FILE"
    local tmp="$DIR/.extract-msmarco-passage.$$"
    EXTRACTING="$tmp"
    if [[ -d "$target" ]]; then
        log "already there: $target"
        return 0
    fi
    fetch "$MSMARCO_URL/$MSMARCO_FILE" "$archive" md5 "$MSMARCO_MD5"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    tar -xzf "$archive" -C "$tmp" || { rm -rf "$tmp"; die "could not extract $archive"; }
    mv "$tmp" "$target"
    [[ $KEEP_ARCHIVES -eq 1 ]] || rm -f "$archive"
    log "ready: $target"
}

plan() {
    # plan NAME: appends what NAME needs to the PLAN_* arrays (one entry per name, each field
    # its own array element, so a --dir with spaces stays whole), or a usage error.
    local name="$1" dataset kind url dest algo hex
    case "$name" in
        inpars-v1:*)
            dataset="${name#inpars-v1:}"
            in_list "$dataset" "$INPARS_V1_NAMES" ||
                usage_error "unknown InPars v1 dataset '$dataset' in '$name'"
            kind=file url="$INPARS_V1_URL/${INPARS_V1_FILES[$dataset]}"
            dest="$DIR/inpars-v1/$dataset.jsonl" algo= hex=
            ;;
        inpars-v2:*)
            dataset="${name#inpars-v2:}"
            in_list "$dataset" "$INPARS_V2_NAMES" ||
                usage_error "unknown InPars-v2 dataset '$dataset' in '$name'"
            kind=file url="$INPARS_V2_URL/$dataset/queries.jsonl"
            dest="$DIR/inpars-v2/$dataset.jsonl" algo= hex=
            ;;
        msmarco-passage)
            kind=msmarco url="$MSMARCO_URL/$MSMARCO_FILE" dest="$DIR/msmarco-passage/"
            algo=md5 hex="$MSMARCO_MD5"
            ;;
        *)
            in_list "$name" "$BEIR_NAMES" || usage_error "unknown dataset '$name'"
            kind=beir url="$BEIR_URL/$name.zip" dest="$DIR/$name/" algo=md5
            hex="${BEIR_MD5[$name]}"
            ;;
    esac
    PLAN_KIND+=("$kind")
    PLAN_URL+=("$url")
    PLAN_DEST+=("$dest")
    PLAN_ALGO+=("$algo")
    PLAN_HEX+=("$hex")
}

# A folder being extracted; removed if the script stops before moving it into place.
EXTRACTING=
trap '[[ -z "$EXTRACTING" ]] || rm -rf "$EXTRACTING"' EXIT

DIR=data
KEEP_ARCHIVES=0
DRY_RUN=0
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
        --keep-archives)
            KEEP_ARCHIVES=1
            shift
            ;;
        -n | --dry-run)
            DRY_RUN=1
            shift
            ;;
        --)
            shift
            NAMES+=("$@")
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

# Check every name before downloading anything. Plan i is PLAN_*[i]; an empty PLAN_ALGO
# means the checksum the server publishes, if any.
PLAN_KIND=() PLAN_URL=() PLAN_DEST=() PLAN_ALGO=() PLAN_HEX=()
for name in "${NAMES[@]}"; do
    plan "$name"
done

if [[ $DRY_RUN -eq 1 ]]; then
    for i in "${!NAMES[@]}"; do
        if [[ -z "${PLAN_ALGO[$i]}" ]]; then
            echo "${NAMES[$i]}: ${PLAN_URL[$i]} -> ${PLAN_DEST[$i]} (checksum: the one the server publishes, if any)"
        else
            echo "${NAMES[$i]}: ${PLAN_URL[$i]} -> ${PLAN_DEST[$i]} (${PLAN_ALGO[$i]} ${PLAN_HEX[$i]})"
        fi
    done
    exit 0
fi

command -v curl >/dev/null 2>&1 || die "curl is needed (apt-get install curl)"
for i in "${!NAMES[@]}"; do
    case "${PLAN_KIND[$i]}" in
        beir) get_beir "${NAMES[$i]}" ;;
        msmarco) get_msmarco ;;
        file) fetch "${PLAN_URL[$i]}" "${PLAN_DEST[$i]}" ;;
    esac
done
log "done: ${NAMES[*]} in $DIR"
