"""The tasks one evaluate run scores: the held-out split, local BEIR folders, named MTEB tasks.

Each becomes an `EvalTask` carrying its metric prefix: none for the held-out task (so
`model_ndcg_at_10` keeps its meaning across runs), the folder or MTEB task name otherwise.
Named MTEB tasks (or benchmarks, e.g. NanoBEIR, expanded to their tasks) load from the Hugging
Face hub; one whose data cannot be loaded (offline, no cache) is skipped with a warning naming
it, and the run continues with the others.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spladeforge.config.release import metric_label
from spladeforge.errors import ConfigError
from spladeforge.evaluation.beir import BeirData, load_beir


@dataclass
class EvalTask:
    label: str  # shown in the report
    prefix: str  # "" or "<label>_" in metrics.json
    task: Any  # an MTEB retrieval task, data loaded
    data: BeirData | None = None  # local tasks only

    @property
    def num_queries(self) -> int | None:
        return len(self.data.queries) if self.data is not None else None


def local_task(data: BeirData, label: str, prefix: str = "") -> EvalTask:
    # mteb_task imports MTEB (seconds): the BEIR checks of this module run before anything needs it.
    from spladeforge.evaluation.mteb_task import LocalRetrievalTask

    return EvalTask(label=label, prefix=prefix, task=LocalRetrievalTask(data, suffix=label if prefix else ""),
                    data=data)


def load_beir_tasks(folders: list[str], split: str, max_queries: int | None) -> list[tuple[str, BeirData]]:
    """(label, data) per BEIR folder, validated before any model is loaded."""
    loaded, labels = [], set()
    for folder in folders:
        label = metric_label(Path(folder).name)
        if label in labels or label == "model":
            raise ConfigError(f"evaluate.beir_datasets: two folders give the metric prefix {label!r}; "
                              "rename one folder")
        labels.add(label)
        loaded.append((label, load_beir(folder, split=split).subsample(max_queries)))
    return loaded


def resolve_mteb_names(names: list[str]) -> list[Any]:
    """MTEB task objects for task or benchmark names; ConfigError for a name MTEB does not know."""
    import mteb

    tasks = []
    for name in names:
        try:
            tasks += list(mteb.get_tasks(tasks=[name]))
            continue
        except KeyError:
            pass
        try:
            tasks += list(mteb.get_benchmark(name).tasks)
        except (KeyError, ValueError):
            raise ConfigError(f"evaluate.mteb_tasks: {name!r} is neither an MTEB task nor an MTEB benchmark "
                              "(see `mteb.get_tasks()` / `mteb.get_benchmarks()`)") from None
    for task in tasks:
        if task.metadata.type != "Retrieval":
            raise ConfigError(f"evaluate.mteb_tasks: {task.metadata.name} is a {task.metadata.type} task; "
                              "only Retrieval tasks can be evaluated")
    return tasks


def load_mteb_tasks(tasks: list[Any]) -> tuple[list[EvalTask], list[str]]:
    """Load each task's data; return the loaded ones and a message per skipped one."""
    loaded, skipped = [], []
    for task in tasks:
        name = task.metadata.name
        try:
            task.load_data()
        except Exception as exc:  # noqa: BLE001 - datasets raises many kinds when the hub is unreachable
            message = (f"evaluate.mteb_tasks: skipping MTEB task {name}: its data could not be loaded "
                       f"({type(exc).__name__}: {str(exc)[:200]}). Hub access is off by default "
                       "(HF_HUB_OFFLINE=1); allow it or pre-fill the Hugging Face cache.")
            warnings.warn(message, stacklevel=2)
            skipped.append(message)
            continue
        label = metric_label(name)
        loaded.append(EvalTask(label=name, prefix=f"{label}_", task=task))
    return loaded, skipped
