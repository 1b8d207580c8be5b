"""Training and dev data for the trainer: tuple columns, teacher scores, the dev BEIR folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from spladeforge.config import TrainConfig
from spladeforge.errors import ConfigError, InputError
from spladeforge.evaluation.beir import load_beir
from spladeforge.io import iter_jsonl
from spladeforge.text import passage


class TrainingTuples(NamedTuple):
    columns: dict[str, list[Any]]  # anchor, positive, negative_1..N and, if present, scores
    negatives_per_tuple: int
    has_scores: bool  # every tuple carries teacher scores


class DevSet(NamedTuple):
    """What sentence-transformers' SparseInformationRetrievalEvaluator takes."""

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant_docs: dict[str, set[str]]


class TrainingDatasets(NamedTuple):
    dataset: Any  # a datasets.Dataset, or a dict of named ones when extra datasets are mixed in
    extra_rows: dict[str, int]  # extra dataset name -> rows


def load_tuples(path: Path) -> TrainingTuples:
    """Columns anchor, positive, negative_1..N (the order the loss reads them), and `scores`."""
    rows = list(iter_jsonl(path, required=("anchor", "positive")))
    if not rows:
        raise InputError(f"{path}: no training tuples")
    n_neg = min(sum(1 for k in r if k.startswith("negative_") and k != "negative_ids") for r in rows)
    columns: dict[str, list[Any]] = {"anchor": [r["anchor"] for r in rows],
                                     "positive": [r["positive"] for r in rows]}
    for n in range(1, n_neg + 1):
        columns[f"negative_{n}"] = [r[f"negative_{n}"] for r in rows]
    has_scores = all(isinstance(r.get("scores"), list) and len(r["scores"]) >= n_neg + 1 for r in rows)
    if has_scores:
        columns["scores"] = [[float(s) for s in r["scores"][: n_neg + 1]] for r in rows]
    return TrainingTuples(columns, n_neg, has_scores)


def with_labels(columns: dict[str, list[Any]], distill: str | None, scale: float = 1.0) -> dict[str, list[Any]]:
    """Turn teacher scores into the `label` column the distillation loss expects (or drop them).

    The scores are teacher logits (`mining.teacher.teacher_logits`) times `scale`
    (`train.teacher_scale`): MarginMSE learns the positive's margin over the negative, KL-div the
    softmax of the whole row.
    """
    out = {k: v for k, v in columns.items() if k != "scores"}
    if distill == "margin-mse":
        out["label"] = [(s[0] - s[1]) * scale for s in columns["scores"]]
    elif distill == "kl-div":
        out["label"] = [[x * scale for x in s] for s in columns["scores"]] if scale != 1.0 else columns["scores"]
    return out


def corpus_texts(columns: dict[str, list[Any]]) -> list[str]:
    """Distinct passages of the training tuples (for the IDF of inference-free and idf-flops)."""
    seen: dict[str, None] = {}
    for key, values in columns.items():
        if key == "positive" or key.startswith("negative_"):
            seen.update(dict.fromkeys(values))
    return list(seen)


def load_dev(folder: Path) -> DevSet:
    """Queries, corpus and relevant docs of the dev BEIR folder, for the in-training evaluator.

    Reads through `evaluation.beir.load_beir`, the same checked reader evaluate uses. Every
    judged grade counts as relevant: the evaluator's NDCG is binary.
    """
    data = load_beir(folder)
    corpus = {doc_id: passage({"title": title, "text": text}) for doc_id, (title, text) in data.corpus.items()}
    relevant = {q: {d for d, grade in rels.items() if grade > 0} for q, rels in data.qrels.items()}
    relevant = {q: docs for q, docs in relevant.items() if docs}
    queries = {q: t for q, t in data.queries.items() if q in relevant}
    if not queries:
        raise InputError(f"{folder}: the dev split has no judged queries")
    return DevSet(queries, corpus, relevant)


def load_extra_dataset(ref: str, key: str = "train.extra_datasets"):
    """A JSONL file or a `save_to_disk` folder of pairs/triplets as anchor, positive, negative_1..

    Columns named anchor/positive/negative* keep their role; otherwise the first column is the
    anchor, the second the positive and the rest negatives, as sentence-transformers reads them.
    """
    from datasets import Dataset, load_from_disk

    path = Path(ref)
    if path.is_dir():
        try:
            data = load_from_disk(str(path))
        except Exception as exc:  # noqa: BLE001 - any unreadable folder
            raise ConfigError(f"{key}: {ref} is not a datasets.save_to_disk folder ({exc})") from None
        if not isinstance(data, Dataset):
            raise ConfigError(f"{key}: {ref} holds several splits; point at one split's folder")
    elif path.is_file():
        rows = list(iter_jsonl(path))
        if not rows:
            raise InputError(f"{path}: no rows")
        names = list(rows[0])
        for lineno, row in enumerate(rows, start=1):
            if list(row) != names:
                raise InputError(f"{path}:{lineno}: fields {list(row)} differ from the first line's {names}")
        data = Dataset.from_dict({name: [str(r[name]) for r in rows] for name in names})
    else:
        raise ConfigError(f"{key}: {ref} does not exist (accepted: a .jsonl file or a save_to_disk folder)")
    columns = [c for c in data.column_names if c not in ("label", "score")]
    if len(columns) < 2:
        raise InputError(f"{ref}: needs at least two text columns (anchor, positive), found {columns}")
    named = {"anchor", "positive"} <= set(columns)
    ordered = (["anchor", "positive", *sorted(c for c in columns if c.startswith("negative"))] if named
               else columns)
    renamed = {old: new for old, new in zip(ordered, ["anchor", "positive", *[
        f"negative_{i}" for i in range(1, len(ordered) - 1)]], strict=True) if old != new}
    return data.select_columns(ordered).rename_columns(renamed)


def training_datasets(cfg: TrainConfig, columns: dict[str, list[Any]], distill: str | None) -> TrainingDatasets:
    """The generated tuples alone, or a dict of named datasets with the extra ones mixed in."""
    from datasets import Dataset

    generated = Dataset.from_dict(columns)
    if not cfg.extra_datasets:
        return TrainingDatasets(generated, {})
    if distill is not None:
        raise ConfigError("train.extra_datasets: mixing datasets with distillation is not supported "
                          "(the extra datasets carry no teacher scores); set train.distillation: none")
    datasets = {"generated": generated}
    for i, ref in enumerate(cfg.extra_datasets):
        datasets[f"extra_{i}_{Path(ref).stem}"] = load_extra_dataset(ref)
    return TrainingDatasets(datasets, {name: len(d) for name, d in datasets.items() if name != "generated"})


def column_names(dataset: Any) -> list[str]:
    """The columns of a dataset, or of all the named datasets of a mix."""
    if isinstance(dataset, dict):
        return sorted({c for d in dataset.values() for c in d.column_names})
    return list(dataset.column_names)
