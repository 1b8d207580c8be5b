"""The corpus `ingest` writes: every document of the source, normalized, without duplicates.

In source order, each document must have a unique id without control characters (a TAB or a
newline in an id would break the TSV qrels `split` writes, and every file after it) and at most
`data.max_document_chars` characters (else it fails or, with `data.on_error: skip`, is skipped). Its text and title get
`spladeforge.data.normalize`; texts shorter than `data.min_chars` (a Hangul or CJK character counting
3 letters: `language.dense_length`) are dropped, and so are exact
duplicates and near-duplicates (word-shingle Jaccard >= `data.near_duplicate_threshold`, see
`spladeforge.dedup`): the first in source order is kept. Every drop is counted by reason.
Over `data.max_documents`, a sample by a hash of the id is kept (sorted by id).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from spladeforge.config import DataConfig
from spladeforge.data.normalize import normalize
from spladeforge.data.sources import ACCEPTED, SourceReader
from spladeforge.dedup import NearDuplicateIndex
from spladeforge.errors import InputError
from spladeforge.io import lone_surrogate
from spladeforge.language import dense_length

# How many (dropped, kept, jaccard) examples documents.meta.json shows: enough to check the threshold.
NEAR_DUPLICATE_EXAMPLES = 20
# C0 and C1 control characters and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown_id(doc_id: str) -> str:
    """An id as a message shows it: control characters escaped (\\t, \\n, \\x01), cut at 80."""
    text = doc_id[:80].encode("unicode_escape").decode("ascii")
    return f"'{text}'" + ("..." if len(doc_id) > 80 else "")


@dataclass
class Corpus:
    documents: list[dict[str, Any]]
    dropped: Counter[str]  # reason -> documents dropped
    near_duplicate_examples: list[dict[str, Any]]  # the first few: dropped id, kept id, Jaccard
    skipped_files: list[str]  # why each file or document skipped under `data.on_error: skip` was
    skipped_by_suffix: Counter[str]  # files not read, by suffix
    repeated_folders: int = 0  # symlinked folders reached again (loops, second links): read once


def collect_corpus(cfg: DataConfig) -> Corpus:
    """Read `cfg.source` and keep the documents `documents.jsonl` should hold, in its order."""
    reader = SourceReader(cfg)
    seen_ids: dict[str, str] = {}
    seen_text: set[str] = set()
    near = (NearDuplicateIndex(cfg.near_duplicate_threshold, cfg.shingle_words)
            if cfg.near_duplicate_threshold is not None else None)
    near_examples: list[dict[str, Any]] = []
    docs: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    for doc in tqdm(reader.documents(cfg.source), desc="ingest", unit=" docs"):
        if not doc["id"].strip():
            reader.fail_or_skip(f"{doc['source']}: empty document id (ids name the chunks, queries and qrels "
                                "derived from the document)")
            dropped["empty_id"] += 1
            continue
        bad = _CONTROL.search(doc["id"])
        if bad:
            reader.fail_or_skip(f"{doc['source']}: document id {shown_id(doc['id'])} contains a control character "
                                f"({bad.group(0).encode('unicode_escape').decode('ascii')}); ids are written to TSV "
                                "files (qrels), where a TAB or newline would split the line: use ids without them")
            dropped["control_character_in_id"] += 1
            continue
        field, surrogate = next(((name, found) for name in ("id", "title", "text")
                                 if (found := lone_surrogate(doc[name]))), ("", None))
        if surrogate:
            # A file name that is not UTF-8 (Python reads its bytes as surrogates) or text built from one.
            reader.fail_or_skip(f"{doc['source']!r}: invalid Unicode in the document's {field} (a lone surrogate "
                                f"{surrogate}; a file name that is not UTF-8 reads so): rename or fix it")
            dropped["invalid_unicode"] += 1
            continue
        if doc["id"] in seen_ids:
            raise InputError(f"{doc['source']}: duplicate document id {doc['id']!r} "
                             f"(first seen at {seen_ids[doc['id']]}); ids must be unique")
        seen_ids[doc["id"]] = doc["source"]
        if len(doc["text"]) > cfg.max_document_chars:
            reader.fail_or_skip(f"{doc['source']}: document {doc['id']!r} has {len(doc['text']):,} "
                                f"characters, over data.max_document_chars={cfg.max_document_chars:,}")
            dropped["too_long"] += 1
            continue
        doc["text"] = normalize(doc["text"], cfg.lowercase)
        doc["title"] = normalize(doc["title"], cfg.lowercase)
        if dense_length(doc["text"]) < cfg.min_chars:  # Hangul/CJK characters count 3 letters
            dropped["too_short"] += 1
            continue
        digest = hashlib.sha1(doc["text"].encode()).hexdigest()
        if digest in seen_text:
            dropped["duplicate_text"] += 1
            continue
        seen_text.add(digest)
        if near is not None:
            hit = near.add_unless_duplicate(doc["id"], doc["text"])
            if hit is not None:
                dropped["near_duplicate"] += 1
                if len(near_examples) < NEAR_DUPLICATE_EXAMPLES:
                    near_examples.append({"dropped": doc["id"], "kept": hit[0], "jaccard": round(hit[1], 3)})
                continue
        docs.append(doc)
    if not docs:
        raise InputError(f"data.source: {cfg.source}: no usable documents ({_why_none(cfg, dropped, reader)}; "
                         f"accepted: {ACCEPTED})")
    kept = len(docs)
    if cfg.max_documents is not None and len(docs) > cfg.max_documents:
        # A hash order is a stable sample across the whole source, not its alphabetical head.
        docs = sorted(docs, key=lambda d: hashlib.sha1(d["id"].encode()).hexdigest())[: cfg.max_documents]
        dropped["over_max_documents"] = kept - len(docs)
        docs.sort(key=lambda d: d["id"])
    return Corpus(documents=docs, dropped=dropped, near_duplicate_examples=near_examples,
                  skipped_files=reader.errors, skipped_by_suffix=reader.skipped_suffixes, repeated_folders=reader.repeated_folders)


def drop_rules(cfg: DataConfig, dropped: Counter[str]) -> dict[str, str]:
    """For each reason documents were dropped, the rule (and setting) behind it."""
    rules = {"too_short": f"text under data.min_chars={cfg.min_chars:,} characters",
             "too_long": f"text over data.max_document_chars={cfg.max_document_chars:,} characters",
             "duplicate_text": "the same text as an earlier document (after normalization)",
             "near_duplicate": f"word-shingle Jaccard >= data.near_duplicate_threshold={cfg.near_duplicate_threshold} "
                               "with an earlier document",
             "empty_id": "an empty document id (skipped under data.on_error: skip)",
             "control_character_in_id": "a control character in the id (skipped under data.on_error: skip)",
             "invalid_unicode": "a lone surrogate in the id, title or text (skipped under data.on_error: skip)",
             "over_max_documents": f"outside the sample of data.max_documents={cfg.max_documents}"}
    return {reason: rules.get(reason, reason.replace("_", " ")) for reason in dropped}


def _why_none(cfg: DataConfig, dropped: Counter[str], reader: SourceReader) -> str:
    """Each reason documents were dropped or skipped, with the setting behind it, for the error."""
    limits = {"too_short": f"under data.min_chars={cfg.min_chars:,}",
              "too_long": f"over data.max_document_chars={cfg.max_document_chars:,}"}
    reasons = [f"{count} {reason.replace('_', ' ')}" + (f" ({limits[reason]})" if reason in limits else "")
               for reason, count in dropped.items()]
    if reader.errors:
        reasons.append(f"{len(reader.errors)} skipped under data.on_error: skip (first: {reader.errors[0][:200]})")
    if reader.skipped_suffixes:
        reasons.append("files not read by suffix: " + ", ".join(f"{k} {v}" for k, v in reader.skipped_suffixes.items()))
    return "; ".join(reasons) if reasons else "the source holds no document"
