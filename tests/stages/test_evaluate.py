"""The evaluate stage end to end on a tiny BEIR folder with the built-in model, base model and BM25."""

from __future__ import annotations

import json
import math
import warnings

import pytest

from spladeforge.config import EvaluateConfig
from spladeforge.errors import InputError
from spladeforge.evaluation.embeddings import read_document_embeddings
from spladeforge.evaluation.mteb_task import TASK_NAME
from spladeforge.stages import evaluate
from tests.conftest import TINY_CORPUS, TINY_QUERIES, write_beir

# Broad queries with several graded documents, so rankings are imperfect and NDCG is not 1.0;
# one query has no judgment at all.
QUERIES = {
    **TINY_QUERIES,
    "q5": ("module for files", {"d2": 1, "d3": 2, "d1": 1}),
    "q6": ("python numbers and times", {"d5": 2, "d6": 1, "d4": 1}),
    "q7": ("a query nobody judged", {}),
}
SYSTEMS = ("model", "base", "bm25", "dense", "hybrid")
# A second local task on another split, with its own unjudged query.
EXTRA_QUERIES = {"e1": ("compress files", {"d2": 2, "d3": 1}), "e2": ("random numbers", {"d5": 1}),
                 "e3": ("nobody judged this", {})}
OFFLINE_TASK = "NanoSciFactRetrieval"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, _saved_model_dir):
    root = tmp_path_factory.mktemp("evaluate")
    task_dir = write_beir(root / "beir", queries=QUERIES)
    extra_dir = write_beir(root / "Extra-Set", queries=EXTRA_QUERIES, split="dev")
    out_dir, metrics_path = root / "out", root / "metrics.json"
    cfg = EvaluateConfig(batch_size=4, beir_datasets=[str(extra_dir)], beir_split="dev",
                         mteb_tasks=[OFFLINE_TASK], error_analysis_queries=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = evaluate.run(cfg, _saved_model_dir, task_dir, out_dir, metrics_path)
    summary["warnings"] = [str(w.message) for w in caught]
    return summary, json.loads(metrics_path.read_text()), out_dir


def trec_ndcg_at_10(scores: dict[str, float], grades: dict[str, int]) -> float:
    """ndcg_cut.10 from a system's scores: ties broken by document id, descending, as trec_eval."""
    ranking = sorted(scores, key=lambda doc: (scores[doc], doc), reverse=True)[:10]
    dcg = sum(grades.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking))
    ideal = sorted((g for g in grades.values() if g > 0), reverse=True)
    return dcg / sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal[:10]))


@pytest.mark.slow
def test_metrics_file_is_flat_and_complete(evaluated):
    """DVC reads one flat dict: every system x metric, the counts and the delta against the base."""
    summary, metrics, _ = evaluated
    for system in SYSTEMS:
        for metric in ("ndcg_at_10", "mrr_at_10", "recall_at_100"):
            assert 0.0 <= metrics[f"{system}_{metric}"] <= 1.0
    for system in ("model", "base"):
        assert metrics[f"{system}_query_active_dims"] > 0
        assert metrics[f"{system}_doc_active_dims"] > metrics[f"{system}_query_active_dims"]
        assert 0.99 < metrics[f"{system}_doc_sparsity"] < 1.0  # ~60 of 30,522 terms
        assert 0 < metrics[f"{system}_flops"] <= metrics[f"{system}_query_active_dims"]
        assert metrics[f"{system}_index_bytes"] > 0
    for system in ("model", "base", "dense"):
        assert metrics[f"{system}_docs_per_second"] > 0
    for system in ("model", "dense"):  # the base model shares the model's architecture: not timed
        assert 0 < metrics[f"{system}_latency_p50_ms"] <= metrics[f"{system}_latency_p99_ms"]
    for system in SYSTEMS:
        for metric in ("recall_at_10", "recall_at_1000", "map_at_100"):
            assert 0.0 <= metrics[f"{system}_{metric}"] <= 1.0
    assert "bm25_doc_active_dims" not in metrics and "dense_doc_active_dims" not in metrics
    assert metrics["num_queries"] == 6
    assert metrics["num_queries_without_judgments"] == 1
    assert metrics["num_documents"] == len(TINY_CORPUS)
    # The trained model here is the untrained base model: no change.
    assert metrics["ndcg_at_10_delta_vs_base"] == 0.0
    assert all(not isinstance(v, dict) for v in metrics.values())
    assert summary["model_ndcg_at_10"] == metrics["model_ndcg_at_10"]


@pytest.mark.slow
def test_each_system_ranks_the_whole_corpus_and_its_ndcg_follows_from_its_ranking(evaluated):
    """Every system ranks all documents for the same judged queries, and the reported NDCG@10 is
    the trec_eval formula applied to the ranking it saved (not averaged with the unjudged query)."""
    _, metrics, out_dir = evaluated
    judged = {qid: rels for qid, (_, rels) in QUERIES.items() if any(g > 0 for g in rels.values())}
    for system in SYSTEMS:
        path = out_dir / "predictions" / system / f"{TASK_NAME}_predictions.json"
        predictions = json.loads(path.read_text())["default"]["test"]
        assert set(predictions) == set(judged)
        for ranking in predictions.values():
            assert set(ranking) == set(TINY_CORPUS)
        expected = sum(trec_ndcg_at_10(predictions[q], judged[q]) for q in judged) / len(judged)
        assert metrics[f"{system}_ndcg_at_10"] == pytest.approx(expected, abs=1e-4)
    assert metrics["bm25_ndcg_at_10"] < 1.0  # the broad queries do make the ranking imperfect


@pytest.mark.slow
def test_hybrid_ranking_is_the_fusion_of_the_model_and_dense_rankings(evaluated):
    """The hybrid's saved ranking is min-max(model) / min-max(dense) at weight 0.5, per query."""
    from spladeforge.evaluation.fusion import fuse

    _, _, out_dir = evaluated
    runs = {system: json.loads((out_dir / "predictions" / system / f"{TASK_NAME}_predictions.json")
                               .read_text())["default"]["test"] for system in ("model", "dense", "hybrid")}
    expected = fuse(runs["model"], runs["dense"], weight=0.5)
    for qid, ranking in runs["hybrid"].items():
        assert ranking == pytest.approx(expected[qid], abs=1e-5)


@pytest.mark.slow
def test_other_tasks_get_prefixed_keys_and_unjudged_queries_are_counted_not_averaged(evaluated):
    _, metrics, out_dir = evaluated
    assert metrics["extra_set_num_queries"] == 2
    assert metrics["extra_set_num_queries_without_judgments"] == 1
    for system in SYSTEMS:
        assert 0.0 <= metrics[f"extra_set_{system}_ndcg_at_10"] <= 1.0
    [result] = (out_dir / "mteb" / "results").glob(f"spladeforge__model/*/{TASK_NAME}-extra_set.json")
    scores = json.loads(result.read_text())["scores"]["test"][0]
    assert round(scores["ndcg_at_10"], 4) == metrics["extra_set_model_ndcg_at_10"]
    assert "extra_set_ndcg_at_10_delta_vs_base" in metrics


@pytest.mark.slow
def test_offline_mteb_task_is_skipped_with_a_warning_and_the_run_continues(evaluated):
    summary, metrics, out_dir = evaluated
    assert any(f"skipping MTEB task {OFFLINE_TASK}" in w for w in summary["warnings"])
    assert summary["skipped_tasks"] == 1
    assert not any(key.startswith("nanoscifact") for key in metrics)
    assert f"skipping MTEB task {OFFLINE_TASK}" in (out_dir / "report.md").read_text()


@pytest.mark.slow
def test_plots_and_error_analysis_are_written(evaluated):
    _, _, out_dir = evaluated
    for name in ("ndcg", "active_dims", "latency"):
        assert (out_dir / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    errors = json.loads((out_dir / "errors.json").read_text())
    assert len(errors) == 3
    assert errors[0]["ndcg_at_10"] <= errors[-1]["ndcg_at_10"]
    assert errors[0]["expansion"] and len(errors[0]["model_top"]) == 3 and len(errors[0]["bm25_top"]) == 3
    assert f"## {errors[0]['query_id']}: " in (out_dir / "errors.md").read_text()


@pytest.mark.slow
def test_outputs_mteb_results_and_report(evaluated):
    _, metrics, out_dir = evaluated
    for system in SYSTEMS:
        [result] = (out_dir / "mteb" / "results").glob(f"spladeforge__{system}/*/{TASK_NAME}.json")
        scores = json.loads(result.read_text())["scores"]["test"][0]
        assert round(scores["ndcg_at_10"], 4) == metrics[f"{system}_ndcg_at_10"]
    report = (out_dir / "report.md").read_text()
    assert "| system | NDCG@10 | MRR@10 | Recall@10 | Recall@100 | Recall@1000 | MAP@100 |" in report
    for system in SYSTEMS:
        assert f"| {system} | {metrics[f'{system}_ndcg_at_10']:.4f} |" in report


@pytest.mark.slow
def test_per_query_ndcg_is_what_mteb_averages_for_every_system_and_task(evaluated):
    """per_query.json: {task label: {system: {query id: NDCG@10}}} over the judged queries; each mean is
    MTEB's figure (the same sum, rounded to MTEB's 5 places) and rounds to metrics.json's 4."""
    _, metrics, out_dir = evaluated
    per_query = json.loads((out_dir / "per_query.json").read_text())
    judged = {q for q, (_, rels) in QUERIES.items() if any(g > 0 for g in rels.values())}
    extra_judged = {q for q, (_, rels) in EXTRA_QUERIES.items() if any(g > 0 for g in rels.values())}
    assert set(per_query) == {"held-out", "extra_set"}  # the offline MTEB task has no local data
    for label, prefix, queries in (("held-out", "", judged), ("extra_set", "extra_set_", extra_judged)):
        assert set(per_query[label]) == set(SYSTEMS)
        for system, scores in per_query[label].items():
            assert set(scores) == queries and all(0.0 <= v <= 1.0 for v in scores.values())
            mean = sum(scores.values()) / len(scores)
            suffix = f"-{label}" if prefix else ""
            [result] = (out_dir / "mteb" / "results").glob(f"spladeforge__{system}/*/{TASK_NAME}{suffix}.json")
            assert round(mean, 5) == json.loads(result.read_text())["scores"]["test"][0]["ndcg_at_10"]
            assert abs(mean - metrics[f"{prefix}{system}_ndcg_at_10"]) <= 5e-5, (label, system)
    assert len({tuple(v.values()) for v in per_query["held-out"].values()}) > 1, "systems differ per query"


@pytest.mark.slow
def test_each_task_records_the_hash_of_the_set_it_was_measured_on(evaluated, tmp_path_factory):
    """set_sha256 hashes the queries, qrels and corpus scored (after subsampling), not the files."""
    from spladeforge.evaluation.beir import load_beir

    _, metrics, out_dir = evaluated
    root = out_dir.parent
    assert metrics["set_sha256"] == load_beir(root / "beir").content_sha256()
    assert metrics["extra_set_set_sha256"] == load_beir(root / "Extra-Set", split="dev").content_sha256()
    assert metrics["set_sha256"] != metrics["extra_set_set_sha256"]
    copy = write_beir(tmp_path_factory.mktemp("copy") / "beir", queries=QUERIES)
    assert load_beir(copy).content_sha256() == metrics["set_sha256"]  # content, wherever it lives
    assert load_beir(copy).subsample(2).content_sha256() != metrics["set_sha256"]


@pytest.mark.slow
def test_register_scores_a_saved_model_exactly_as_evaluate_does(evaluated, _saved_model_dir):
    """The reference path (evaluation.reference, used by register for the champion) gives the per-query
    figures and set hash evaluate wrote for the same model on the same folder."""
    from spladeforge.evaluation.reference import load_gate_sets, score_saved_model

    _, metrics, out_dir = evaluated
    cfg = EvaluateConfig(batch_size=4, beir_datasets=[str(out_dir.parent / "Extra-Set")], beir_split="dev")
    sets = load_gate_sets(cfg, out_dir.parent / "beir", {"held-out", "extra_set"})
    scored = score_saved_model(cfg, _saved_model_dir, sets)
    per_query = json.loads((out_dir / "per_query.json").read_text())
    for label, prefix in (("held-out", ""), ("extra_set", "extra_set_")):
        assert scored[label].set_sha256 == metrics[f"{prefix}set_sha256"]
        assert scored[label].per_query == pytest.approx(per_query[label]["model"], abs=1e-6)


@pytest.mark.slow
def test_comparisons_can_be_switched_off_and_queries_capped(tmp_path, model_dir, tiny_beir_dir):
    """Only the model, and a baseline file: the report and metrics show the change against it."""
    baseline = tmp_path / "old_metrics.json"
    baseline.write_text(json.dumps({"model_ndcg_at_10": 0.25, "bm25_ndcg_at_10": 0.5}))
    cfg = EvaluateConfig(compare_base=False, compare_bm25=False, max_queries=2, dense_model=None,
                         error_analysis_queries=0, latency_queries=0)
    evaluate.run(cfg, model_dir, tiny_beir_dir, tmp_path / "out", tmp_path / "metrics.json",
                 baseline=baseline)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["num_queries"] == 2
    assert not any(key.startswith(("base_", "bm25_", "dense_", "hybrid_")) for key in metrics)
    assert "ndcg_at_10_delta_vs_base" not in metrics
    assert metrics["model_ndcg_at_10_delta_vs_baseline"] == pytest.approx(metrics["model_ndcg_at_10"] - 0.25)
    report = (tmp_path / "out" / "report.md").read_text()
    assert f"| model_ndcg_at_10 | 0.2500 | {metrics['model_ndcg_at_10']:.4f} |" in report


def test_bad_task_folder_fails_before_writing_anything(tmp_path, model_dir):
    task_dir = write_beir(tmp_path / "beir")
    (task_dir / "corpus.jsonl").write_text("")
    with pytest.raises(InputError, match=r"corpus\.jsonl"):
        evaluate.run(EvaluateConfig(), model_dir, task_dir, tmp_path / "out", tmp_path / "metrics.json")
    assert not (tmp_path / "out").exists() and not (tmp_path / "metrics.json").exists()


def test_model_folder_without_sidecar_is_refused(tmp_path, model_dir, tiny_beir_dir):
    (model_dir / "spladeforge.json").unlink()
    with pytest.raises(InputError, match=r"spladeforge\.json: file not found"):
        evaluate.run(EvaluateConfig(), model_dir, tiny_beir_dir, tmp_path / "out", tmp_path / "metrics.json")


@pytest.mark.parametrize("problem", ["missing corpus", "unknown document", "empty split"])
def test_bad_extra_beir_folder_fails_naming_the_file_before_writing_anything(tmp_path, model_dir,
                                                                           tiny_beir_dir, problem):
    folder = write_beir(tmp_path / "extra")
    qrels = folder / "qrels" / "test.tsv"
    if problem == "missing corpus":
        (folder / "corpus.jsonl").unlink()
        expected = r"corpus\.jsonl: file not found"
    elif problem == "unknown document":
        qrels.write_text(qrels.read_text() + "q1\td99\t1\n")
        expected = r"qrels/test\.tsv:\d+: corpus-id 'd99'"
    else:
        qrels.write_text("query-id\tcorpus-id\tscore\n")
        expected = r"qrels/test\.tsv: no judgments found"
    cfg = EvaluateConfig(beir_datasets=[str(folder)])
    with pytest.raises(InputError, match=expected):
        evaluate.run(cfg, model_dir, tiny_beir_dir, tmp_path / "out", tmp_path / "metrics.json")
    assert not (tmp_path / "out").exists() and not (tmp_path / "metrics.json").exists()


# Document embeddings computed in shards (the Kubeflow fan-out) instead of by evaluate itself.
TIMING = ("seconds", "per_second", "latency")


def _encode_shards(model_dir, task_dir, folder, n, cfg):
    paths = [folder / f"shard-{i}.npz" for i in range(n)]
    sizes = [evaluate.encode_documents(cfg, model_dir, task_dir, path, i, n)["documents"]
             for i, path in enumerate(paths)]
    assert sum(sizes) == len(TINY_CORPUS)
    return paths


@pytest.mark.slow
def test_sharded_document_embeddings_give_evaluates_own_results(tmp_path, model_dir, monkeypatch):
    """Every model_* figure equals evaluate's own encoding, for 2 shards and more shards than documents;
    and with the shards the corpus is not encoded again."""
    from spladeforge.evaluation.search import IndexedSearch

    task_dir = write_beir(tmp_path / "beir", queries=QUERIES)
    cfg = EvaluateConfig(batch_size=4, compare_base=False, dense_model=None, error_analysis_queries=3,
                         latency_queries=2)
    evaluate.run(cfg, model_dir, task_dir, tmp_path / "own", tmp_path / "own.json")
    own = json.loads((tmp_path / "own.json").read_text())
    figures = {k: v for k, v in own.items() if k.startswith("model_") and not any(t in k for t in TIMING)}
    assert {"model_ndcg_at_10", "model_recall_at_100", "model_doc_active_dims", "model_flops"} <= set(figures)
    assert 0.0 < own["model_ndcg_at_10"] < 1.0

    encode = IndexedSearch.encode_documents
    for n in (2, len(TINY_CORPUS) + 2):
        paths = _encode_shards(model_dir, task_dir, tmp_path / f"n{n}", n, cfg)
        with monkeypatch.context() as mp:
            def refuse(self, texts):
                raise AssertionError(f"evaluate encoded {len(texts)} documents despite the shards")

            mp.setattr(IndexedSearch, "encode_documents", refuse)
            evaluate.run(cfg, model_dir, task_dir, tmp_path / f"out{n}", tmp_path / f"metrics{n}.json",
                         document_embeddings=paths[::-1])
        assert IndexedSearch.encode_documents is encode
        sharded = json.loads((tmp_path / f"metrics{n}.json").read_text())
        for key, value in figures.items():
            assert sharded[key] == pytest.approx(value, rel=1e-6, abs=1e-6), (n, key)
        assert sharded["bm25_ndcg_at_10"] == own["bm25_ndcg_at_10"]
        assert sharded["model_docs_per_second"] > 0


@pytest.mark.slow
def test_shard_vectors_are_the_vectors_evaluate_encodes(tmp_path, model_dir, tiny_beir_dir):
    """Row by row (ids in corpus order), the stacked shards equal one encoding of the whole corpus."""
    from spladeforge.evaluation.search import passages
    from spladeforge.evaluation.systems import model_system
    from spladeforge.io import sha256_tree
    from spladeforge.retrieval.sparse_index import to_csr

    cfg = EvaluateConfig(batch_size=4)
    paths = _encode_shards(model_dir, tiny_beir_dir, tmp_path, 3, cfg)
    ids, matrix, _ = read_document_embeddings(paths, list(TINY_CORPUS), sha256_tree(model_dir))
    assert ids == list(TINY_CORPUS)
    system = model_system(cfg, model_dir, "cpu")
    whole = to_csr(system.encode_documents(passages({"title": t, "text": x} for t, x in TINY_CORPUS.values())))
    assert matrix.shape == whole.shape and matrix.nnz > len(ids)
    assert abs(matrix - whole).max() <= 1e-5 * abs(whole).max()


def test_document_embeddings_must_be_every_shard_of_this_model_and_corpus(tmp_path, model_dir, tiny_beir_dir):
    from spladeforge.io import sha256_tree

    cfg = EvaluateConfig(batch_size=4)
    paths = _encode_shards(model_dir, tiny_beir_dir, tmp_path, 2, cfg)
    sha, ids = sha256_tree(model_dir), list(TINY_CORPUS)
    with pytest.raises(InputError, match="exactly once"):
        read_document_embeddings(paths[:1], ids, sha)
    with pytest.raises(InputError, match="exactly once"):
        read_document_embeddings([paths[0], paths[0]], ids, sha)
    with pytest.raises(InputError, match="another model"):
        read_document_embeddings(paths, ids, "0" * 64)
    with pytest.raises(InputError, match="missing e.g. 'd7'"):
        read_document_embeddings(paths, [*ids, "d7"], sha)
    (tmp_path / "bad.npz").write_text("not numpy")
    with pytest.raises(InputError, match="not a document embeddings file"):
        read_document_embeddings([tmp_path / "bad.npz"], ids, sha)
    assert read_document_embeddings(paths, ids, sha)[0] == ids
