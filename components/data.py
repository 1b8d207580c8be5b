"""Kubeflow components for the data stages: ingest, chunk, generate-queries, split, mine (in shards).

Each function is a thin wrapper: it validates its params sections and calls the same
`stages.<stage>.run` that `dvc repro` runs, through `spladeforge.orchestration`, which writes the
stage's manifest (to the `manifest` output) exactly as the CLI does. KFP ships only a component's
function source to the pod, so every import is inside the body; the image provides the package.
"""

# No `from __future__ import annotations`: KFP reads these annotations as types.
from kfp.dsl import Artifact, Dataset, Input, Output


def ingest(data: dict, documents: Output[Dataset], documents_meta: Output[Artifact], manifest: Output[Artifact]):
    """Read `data.source` into documents.jsonl; its normalization/data-version record beside it."""
    import shutil
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.stages import ingest as stage

    params = run.validated({"data": data})
    result = run.run_stage("ingest", stage.run, params.data, Path(documents.path), params=params,
                           manifest=Path(manifest.path))
    documents.metadata.update(run.metadata(result))
    shutil.copyfile(stage.meta_path(Path(documents.path)), documents_meta.path)


def chunk(chunk: dict, documents: Input[Dataset], chunks: Output[Dataset], manifest: Output[Artifact]):
    """Cut documents into overlapping windows."""
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.stages import chunk as stage

    params = run.validated({"chunk": chunk})
    result = run.run_stage("chunk", stage.run, params.chunk, Path(documents.path), Path(chunks.path),
                           params=params, inputs=[Path(documents.path)], manifest=Path(manifest.path))
    chunks.metadata.update(run.metadata(result))


def generate_queries(generate_queries: dict, seed: int, chunks: Input[Dataset], documents_meta: Input[Artifact],
                     queries: Output[Dataset], manifest: Output[Artifact]):
    """Generate training queries for every chunk, in the corpus language ingest recorded."""
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.stages import generate_queries as stage

    params = run.validated({"generate_queries": generate_queries, "seed": seed})
    result = run.run_stage("generate-queries", stage.run, params.generate_queries, Path(chunks.path),
                           Path(queries.path), params.seed, documents_meta=Path(documents_meta.path), params=params,
                           inputs=[Path(chunks.path), Path(documents_meta.path)], manifest=Path(manifest.path))
    queries.metadata.update(run.metadata(result))


def split(split: dict, seed: int, queries: Input[Dataset], chunks: Input[Dataset],
          train_pairs: Output[Dataset], dev: Output[Dataset], test: Output[Dataset], manifest: Output[Artifact]):
    """Split by document into train pairs and the dev and test BEIR folders (whole chunk corpus)."""
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.stages import split as stage

    params = run.validated({"split": split, "seed": seed})
    result = run.run_stage("split", stage.run, params.split, Path(queries.path), Path(chunks.path),
                           Path(train_pairs.path), Path(dev.path), Path(test.path), params.seed, params=params,
                           inputs=[Path(queries.path), Path(chunks.path)], manifest=Path(manifest.path))
    test.metadata.update(run.metadata(result))


def mine_shard(mine: dict, seed: int, shard: int, num_shards: int, train_pairs: Input[Dataset],
               chunks: Input[Dataset], documents_meta: Input[Artifact], tuples_shard: Output[Dataset]):
    """Mine hard negatives for shard `shard` of `num_shards` of the training queries (one iteration
    of the pipeline's dsl.ParallelFor); every shard searches the whole chunk corpus, BM25 tokenized
    for the corpus language ingest recorded."""
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.stages import mine as stage

    params = run.validated({"mine": mine, "seed": seed})
    result = stage.run_shard(params.mine, Path(train_pairs.path), Path(chunks.path), Path(tuples_shard.path),
                             params.seed, shard, num_shards, documents_meta=Path(documents_meta.path))
    tuples_shard.metadata.update(run.metadata(result))


def mine(mine: dict, seed: int, train_pairs: Input[Dataset], chunks: Input[Dataset],
         shards: Input[list[Dataset]], tuples: Output[Dataset], manifest: Output[Artifact]):
    """The mine stage's output: the collected `mine_shard` outputs, concatenated in shard order.

    The tuples file is byte-identical to `stages.mine.run`'s with the same seed, whatever the
    number of shards (see `stages.mine`). The manifest records the stage's inputs, as dvc's does.
    """
    from pathlib import Path

    from spladeforge import orchestration as run
    from spladeforge.stages import mine as stage

    params = run.validated({"mine": mine, "seed": seed})
    result = run.run_stage("mine", stage.merge_shards, params.mine, [Path(s.path) for s in shards],
                           Path(tuples.path), params=params, inputs=[Path(train_pairs.path), Path(chunks.path)],
                           manifest=Path(manifest.path))
    tuples.metadata.update(run.metadata(result))
