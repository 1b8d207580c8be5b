"""ingest: read `data.source` into `documents.jsonl` (id, title, text, source).

Sources: `python-stdlib-docs` (the embedded default), a folder searched recursively for
.txt/.md/.html/.pdf/.jsonl files, or a single JSONL file such as a BEIR `corpus.jsonl`
(`spladeforge.data.sources`); with `data.dvc_repo`, the source is first fetched at a DVC-versioned
revision of a data repository (`spladeforge.data.dvc_source`). Every text gets the same
normalization (`spladeforge.data.normalize`) so that training and inference see text the same
way; it is recorded in `<output stem>.meta.json` (`documents.meta.json`) for the model to carry,
with what was dropped: exact duplicates, near-duplicates, short texts (`spladeforge.data.corpus`),
and the corpus language (`data.language`, or the one `auto` detected: `spladeforge.language.detect`),
which the later stages' text steps follow.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from spladeforge.config import DataConfig
from spladeforge.data.corpus import Corpus, collect_corpus, drop_rules
from spladeforge.data.dvc_source import fetch
from spladeforge.data.normalize import NORMALIZATION
from spladeforge.data.sources import refuse_own_outputs
from spladeforge.io import atomic_outputs, write_json, write_jsonl
from spladeforge.language import detect


def meta_path(output: Path) -> Path:
    """`documents.jsonl` -> `documents.meta.json`: the normalization record beside it."""
    return output.with_name(output.name.split(".")[0] + ".meta.json")


def run(cfg: DataConfig, output: Path) -> dict[str, Any]:
    """Read the source, normalize, drop duplicates and short texts, write `output` atomically."""
    if cfg.dvc_repo:
        with tempfile.TemporaryDirectory(prefix="spladeforge-dvc-") as tmp:
            local = Path(tmp) / Path(cfg.source).name
            version = fetch(cfg.dvc_repo, cfg.source, cfg.dvc_rev, cfg.dvc_remote_config, local, cfg.dvc_timeout_s)
            summary = _ingest(cfg.model_copy(update={"source": str(local)}), output, version)
        return {**summary, "data_commit": version["commit"]}
    refuse_own_outputs(cfg.source, [Path(output), meta_path(Path(output))])
    return _ingest(cfg, output, None)


def _ingest(cfg: DataConfig, output: Path, version: dict[str, Any] | None) -> dict[str, Any]:
    corpus = collect_corpus(cfg)
    detected = detect([f"{d.get('title') or ''} {d['text']}" for d in corpus.documents], cfg.language)
    with atomic_outputs(output, meta_path(Path(output))) as (documents_tmp, meta_tmp):
        written = write_jsonl(documents_tmp, corpus.documents)
        write_json(meta_tmp, {**_meta(cfg, corpus, written, version), "language": detected.record()})
    return {
        "documents": written,
        "language": detected.code,
        "characters": sum(len(d["text"]) for d in corpus.documents),
        "dropped": dict(corpus.dropped),
        "dropped_because": drop_rules(cfg, corpus.dropped),
        "skipped_files": len(corpus.skipped_files),
        "skipped_by_suffix": dict(corpus.skipped_by_suffix),
        "repeated_folders": corpus.repeated_folders,
        "output": str(output),
        "meta": str(meta_path(Path(output))),
    }


def _meta(cfg: DataConfig, corpus: Corpus, written: int, version: dict[str, Any] | None) -> dict[str, Any]:
    """`documents.meta.json`: the normalization, what was dropped, and the data version read."""
    return {"normalization": {**NORMALIZATION, "lowercase": cfg.lowercase},
            "near_duplicates": {"threshold": cfg.near_duplicate_threshold, "shingle_words": cfg.shingle_words,
                                "method": "word shingles, MinHash LSH candidates, exact Jaccard",
                                "dropped": corpus.dropped.get("near_duplicate", 0),
                                "examples": corpus.near_duplicate_examples},
            "source": cfg.source if version is None else version["path"], "data_version": version,
            "documents": written, "dropped": dict(corpus.dropped),
            "dropped_because": drop_rules(cfg, corpus.dropped)}
