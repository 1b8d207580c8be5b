"""Which tasks an evaluate run scores, and how it reacts to bad folders and unreachable MTEB tasks."""

from __future__ import annotations

import pytest

from spladeforge.errors import ConfigError, InputError
from spladeforge.evaluation.tasks import load_beir_tasks, load_mteb_tasks, metric_label, resolve_mteb_names
from tests.conftest import write_beir


def test_labels_are_safe_metric_prefixes():
    assert metric_label("msmarco-dl19 subset") == "msmarco_dl19_subset"
    assert metric_label("NanoSciFactRetrieval") == "nanoscifactretrieval"


def test_beir_folders_load_with_their_split(tmp_path):
    folder = write_beir(tmp_path / "My-Set", split="dev")
    [(label, data)] = load_beir_tasks([str(folder)], "dev", max_queries=2)
    assert label == "my_set" and len(data.queries) == 2


@pytest.mark.parametrize("missing", ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"])
def test_beir_folder_with_a_missing_file_names_it(tmp_path, missing):
    folder = write_beir(tmp_path / "set")
    (folder / missing).unlink()
    with pytest.raises(InputError, match=missing.replace(".", r"\.")):
        load_beir_tasks([str(folder)], "test", None)


def test_empty_split_names_the_file(tmp_path):
    folder = write_beir(tmp_path / "set")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n")
    with pytest.raises(InputError, match=r"qrels/test\.tsv: no judgments found"):
        load_beir_tasks([str(folder)], "test", None)


def test_two_folders_with_the_same_label_are_refused(tmp_path):
    a, b = write_beir(tmp_path / "a" / "set"), write_beir(tmp_path / "b" / "set")
    with pytest.raises(ConfigError, match="prefix 'set'"):
        load_beir_tasks([str(a), str(b)], "test", None)


@pytest.mark.slow  # imports MTEB (~5 s)
def test_offline_mteb_task_is_skipped_with_a_warning_naming_it(monkeypatch):
    """Without the hub a named task cannot load: the run warns, names it, and goes on."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    tasks = resolve_mteb_names(["NanoSciFactRetrieval"])
    with pytest.warns(UserWarning, match="skipping MTEB task NanoSciFactRetrieval"):
        loaded, skipped = load_mteb_tasks(tasks)
    assert loaded == [] and "NanoSciFactRetrieval" in skipped[0]


@pytest.mark.slow
def test_benchmark_names_expand_and_unknown_names_are_refused():
    assert len(resolve_mteb_names(["NanoBEIR"])) == 13
    with pytest.raises(ConfigError, match="evaluate.mteb_tasks: 'NoSuchTask'"):
        resolve_mteb_names(["NoSuchTask"])
