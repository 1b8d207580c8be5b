"""A local MTEB retrieval task over a validated BEIR folder: no hub access, no download.

MTEB's own retrieval tasks load from the Hugging Face hub; this subclass of `AbsTaskRetrieval`
fills MTEB's in-memory split format from `BeirData` instead, so every system is scored by
MTEB's evaluator (pytrec_eval NDCG with gain = grade, as trec_eval's ndcg_cut) on the same data.

It also keeps what MTEB averages: each query's NDCG@10 from the last evaluation
(`per_query_ndcg`), the figures the promotion gate resamples.
"""

from __future__ import annotations

from typing import Any

from datasets import Dataset
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.task_metadata import TaskMetadata

from spladeforge.evaluation.beir import BeirData

TASK_NAME = "SpladeforgeLocalRetrieval"
SPLIT = "test"


class LocalRetrievalTask(AbsTaskRetrieval):
    """Retrieval over one BEIR folder's corpus with its judged queries."""

    metadata = TaskMetadata(
        name=TASK_NAME,
        dataset={"path": "local", "revision": "local"},
        description="Retrieval on a local BEIR-layout folder (corpus, queries, graded qrels).",
        reference=None,
        type="Retrieval",
        category="t2t",
        modalities=["text"],
        eval_splits=[SPLIT],
        eval_langs=["eng-Latn"],  # also what MTEB's BM25 reads to pick English stopwords/stemmer
        main_score="ndcg_at_10",
        date=None,
        domains=None,
        task_subtypes=None,
        license="not specified",
        annotations_creators="human-annotated",
        dialect=[],
        sample_creation="found",
        bibtex_citation="",
    )
    # The stage reports Recall@1000, so systems rank 1,000 deep; the stage trims the saved
    # predictions to the top 100.
    k_values = (1, 3, 5, 10, 20, 100, 1000)

    def __init__(self, data: BeirData, suffix: str = "", **kwargs: Any) -> None:
        self.data = data
        # Per instance: the folder and its content hash land in MTEB's result files; a suffix
        # gives each local task of one run its own result file name.
        self.metadata = self.metadata.model_copy(update={
            "name": f"{TASK_NAME}-{suffix}" if suffix else TASK_NAME,
            "dataset": {"path": str(data.folder), "revision": data.fingerprint or "local"},
        })
        super().__init__(**kwargs)
        # query id -> NDCG@10 of the last system evaluated on this task (pytrec_eval's ndcg_cut_10).
        self.per_query_ndcg: dict[str, float] = {}

    def task_specific_scores(self, scores: dict[str, dict[str, float]], qrels: Any, results: Any,
                             hf_split: str, hf_subset: str) -> dict[str, float]:
        """MTEB's hook after scoring: `scores` holds pytrec_eval's per-query figures, which it averages."""
        self.per_query_ndcg = {qid: float(values["ndcg_cut_10"]) for qid, values in scores.items()}
        return {}

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        corpus_ids = list(self.data.corpus)
        query_ids = list(self.data.queries)
        self.dataset = {"default": {SPLIT: {
            "corpus": Dataset.from_dict({
                "id": corpus_ids,
                "title": [self.data.corpus[i][0] for i in corpus_ids],
                "text": [self.data.corpus[i][1] for i in corpus_ids],
            }),
            "queries": Dataset.from_dict({
                "id": query_ids,
                "text": [self.data.queries[i] for i in query_ids],
            }),
            "relevant_docs": {qid: dict(rels) for qid, rels in self.data.qrels.items()},
            "top_ranked": None,
        }}}
        self.data_loaded = True
