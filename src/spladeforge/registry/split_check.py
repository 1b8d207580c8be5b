"""Was the champion trained on the documents the challenger is tested on? The split identity check.

The test split's `split.json` (`splitting.split_identity`) records the seed, the fractions, the
sha256 of each side's sorted document ids, the documents not on the rule's side and each test
query's document. Every version is tagged with the first four (`split.*`). A champion whose split
differs (another `seed`, other fractions, a corpus whose sides changed) may have trained on a
document of the challenger's test side; a figure on such a query measures memory, not retrieval,
and favours the champion. The check finds the champion's side of each test query's document from
its tags (`splitting.side_by_rule`, or its `split.not_by_rule` list) and, when some were on its
train side, keeps the test queries whose documents both held out: at least `MIN_QUERIES` of them,
or the gate refuses, saying why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spladeforge.errors import InputError
from spladeforge.io import read_json
from spladeforge.splitting import SIDES, SPLIT_IDENTITY, side_by_rule

MIN_QUERIES = 10  # fewer held-out queries than this carry no interval worth deciding on
TAG = "split"
# MLflow version tag values are capped at 5,000 characters in some stores.
_TAG_CHARS = 5000


def read_identity(task_dir: Path) -> dict[str, Any] | None:
    """The test folder's split identity, or None for a folder split wrote without one."""
    path = Path(task_dir) / SPLIT_IDENTITY
    if not path.is_file():
        return None
    identity = read_json(path)
    keys = ("seed", "dev_fraction", "test_fraction", "documents_sha256", "not_by_rule", "query_documents")
    if not isinstance(identity, dict) or not all(k in identity for k in keys):
        raise InputError(f"{path}: expected the split identity split writes ({', '.join(keys)}); rerun split")
    return identity


def identity_tags(identity: dict[str, Any] | None) -> dict[str, str]:
    """`split.seed`, `split.dev_fraction`, `split.test_fraction`, `split.sha256.<side>`, `split.not_by_rule`."""
    if identity is None:
        return {}
    tags = {f"{TAG}.{key}": repr(identity[key]) for key in ("seed", "dev_fraction", "test_fraction")}
    tags.update({f"{TAG}.sha256.{side}": identity["documents_sha256"][side] for side in SIDES})
    moved = json.dumps(identity["not_by_rule"], sort_keys=True)
    tags[f"{TAG}.not_by_rule"] = moved if len(moved) <= _TAG_CHARS else "too long"
    return tags


@dataclass(frozen=True)
class SplitCheck:
    note: str  # for the decision
    keep: frozenset[str] | None = None  # the test queries to compare on; None: all
    refuse: bool = False


def _same(identity: dict[str, Any], tags: dict[str, str]) -> bool:
    return all(tags.get(f"{TAG}.sha256.{side}") == identity["documents_sha256"][side] for side in SIDES)


def check_split(identity: dict[str, Any] | None, tags: dict[str, str], champion: str,
                queries: set[str]) -> SplitCheck:
    """Compare the challenger's test split (`identity`, over `queries`) with `champion`'s tagged one."""
    if identity is None:
        return SplitCheck("the test split records no split identity (split.json; rerun split), not checked")
    if f"{TAG}.seed" not in tags:
        return SplitCheck(f"{champion} records no split identity (registered before it was tagged), not checked")
    if _same(identity, tags):
        return SplitCheck(f"the same document sides as {champion}")
    moved = tags.get(f"{TAG}.not_by_rule", "{}")
    if moved == "too long":
        champion_moved = None
    else:
        champion_moved = json.loads(moved)
    seed, dev, test = (float(tags[f"{TAG}.{k}"]) for k in ("seed", "dev_fraction", "test_fraction"))
    was = (f"{champion} was split with seed {int(seed)}, dev {dev:g}, test {test:g}; this test split with seed "
           f"{identity['seed']}, dev {identity['dev_fraction']:g}, test {identity['test_fraction']:g}")
    if champion_moved is None:
        return SplitCheck(f"{was}, and its moved documents are not on record: refused, as its training side "
                          "cannot be known", refuse=True)
    documents = identity["query_documents"]
    trained = {q for q in queries if q in documents
               and champion_moved.get(documents[q], side_by_rule(documents[q], dev, test, int(seed))) == "train"}
    if not trained:
        return SplitCheck(f"{was}; none of the {len(queries)} test queries' documents was on its train side")
    keep = frozenset(queries - trained)
    if len(keep) < MIN_QUERIES:
        return SplitCheck(f"{was}; it trained on the documents of {len(trained)} of the {len(queries)} test queries "
                          f"and only {len(keep)} remain held out by both (fewer than {MIN_QUERIES}): refused, "
                          "register against a champion of the same split or move the champion", refuse=True)
    return SplitCheck(f"{was}; it trained on the documents of {len(trained)} of the {len(queries)} test queries, so "
                      f"both are compared on the {len(keep)} whose documents both held out", keep=keep)
