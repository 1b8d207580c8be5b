"""Kubeflow components for the data stages: ingest, chunk, generate-queries, split, mine (in shards).

Each function is a thin wrapper: it validates its own params section with `spladeforge.config`
and calls the same `stages.<stage>.run` that `dvc repro` runs. KFP ships only a component's
function source to the pod, so every import is inside the body; the image provides the package.
"""

# No `from __future__ import annotations`: KFP reads these annotations as types.
from kfp.dsl import Artifact, Dataset, Input, Output


def ingest(data: dict, documents: Output[Dataset], documents_meta: Output[Artifact]):
    """Read `data.source` into documents.jsonl; its normalization/data-version record beside it."""
    import shutil
    from pathlib import Path

    from spladeforge.config import DataConfig
    from spladeforge.stages import ingest as stage

    documents.metadata.update(stage.run(DataConfig.model_validate(data), Path(documents.path)))
    shutil.copyfile(stage.meta_path(Path(documents.path)), documents_meta.path)


def chunk(chunk: dict, documents: Input[Dataset], chunks: Output[Dataset]):
    """Cut documents into overlapping windows."""
    from pathlib import Path

    from spladeforge.config import ChunkConfig
    from spladeforge.stages import chunk as stage

    result = stage.run(ChunkConfig.model_validate(chunk), Path(documents.path), Path(chunks.path))
    chunks.metadata.update(result)


def generate_queries(generate_queries: dict, seed: int, chunks: Input[Dataset], queries: Output[Dataset]):
    """Generate training queries for every chunk."""
    from pathlib import Path

    from spladeforge.config import GenerateQueriesConfig
    from spladeforge.stages import generate_queries as stage

    cfg = GenerateQueriesConfig.model_validate(generate_queries)
    queries.metadata.update(stage.run(cfg, Path(chunks.path), Path(queries.path), seed))


def split(split: dict, seed: int, queries: Input[Dataset], chunks: Input[Dataset],
          train_pairs: Output[Dataset], validation: Output[Dataset]):
    """Hold out whole documents; the held-out side is a BEIR folder."""
    from pathlib import Path

    from spladeforge.config import SplitConfig
    from spladeforge.stages import split as stage

    result = stage.run(SplitConfig.model_validate(split), Path(queries.path), Path(chunks.path),
                       Path(train_pairs.path), Path(validation.path), seed)
    validation.metadata.update(result)


def mine_shard(mine: dict, seed: int, shard: int, num_shards: int, train_pairs: Input[Dataset],
               chunks: Input[Dataset], tuples_shard: Output[Dataset]):
    """Mine hard negatives for shard `shard` of `num_shards` of the training queries (one iteration
    of the pipeline's dsl.ParallelFor); every shard searches the whole chunk corpus."""
    from pathlib import Path

    from spladeforge.config import MineConfig
    from spladeforge.stages import mine as stage

    result = stage.run_shard(MineConfig.model_validate(mine), Path(train_pairs.path), Path(chunks.path),
                             Path(tuples_shard.path), seed, shard, num_shards)
    tuples_shard.metadata.update({k: v for k, v in result.items() if v is not None})


def mine(mine: dict, shards: Input[list[Dataset]], tuples: Output[Dataset]):
    """The mine stage's output: the collected `mine_shard` outputs, concatenated in shard order.

    The tuples file is byte-identical to `stages.mine.run`'s with the same seed, whatever the
    number of shards (see `stages.mine`).
    """
    from pathlib import Path

    from spladeforge.config import MineConfig
    from spladeforge.stages import mine as stage

    result = stage.merge_shards(MineConfig.model_validate(mine), [Path(s.path) for s in shards],
                                Path(tuples.path))
    tuples.metadata.update({k: v for k, v in result.items() if v is not None})
