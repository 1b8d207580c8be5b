"""The training DAG: the same stages as `dvc repro`, gated before promotion and publishing.

check-params → ingest → chunk → generate-queries → split → mine-shard × n (dsl.ParallelFor) → mine
(collect) → train (H100 pool; reads the dev split) → encode-shard × m (dsl.ParallelFor) → evaluate
(collect) → quantize → register (challenger + the gate's decision) → promoted → dsl.If → promote
(champion) → publish. encode-shard, evaluate, quantize and register read the test split; evaluate
and register also the team's judgments folder (`judgments_uri`: an object-store path or a DVC revision).

The pipeline's parameters are the sections of params.yaml (plus `seed`), each a dict validated
by its stage's config model inside the component; their defaults are params.yaml merged with its
preset, read when the pipeline is built. `kubeflow` (placement and the shard counts n =
`mine_shards`, m = `encode_shards`) is fixed at compile time: the loops iterate over static lists.
"""

# No `from __future__ import annotations`: KFP reads the pipeline's annotations as types.
from collections.abc import Callable

from kfp import dsl
from kfp.dsl.pipeline_context import Pipeline

from spladeforge.components import Components, build
from spladeforge.config import Params, run_config
from spladeforge.config.kubeflow import duration_seconds
from spladeforge.errors import ConfigError
from spladeforge.pipelines.images import is_pinned, pin
from spladeforge.pipelines.placement import gpu_tasks, place_all

PIPELINE_NAME = "spladeforge-training"


def run_arguments(params: Params) -> dict:
    """The pipeline's parameters for `params`: `seed` and one dict per section (`config.RUN_PARAMETERS`)."""
    return run_config(params, drop_nulls=True)


def make_pipeline(params: Params, enable_caching: bool = False) -> Callable:
    """Build the pipeline function with `params` as its defaults and `params.kubeflow` as placement.

    Caching is decided here, per task, in the IR itself (`placement.TASKS`): with `enable_caching`
    only the pure data tasks may be answered from KFP's cache, never the gate, train or anything
    with side effects. A run must not override it (kfp.Client's `enable_caching` rewrites every
    root task, the gate included), and a recurring run of an uploaded version cannot.
    """
    p = run_arguments(params)
    k = params.kubeflow
    c = build(k.image, k.train_image, gpu=gpu_tasks(params))

    # The run's deadline (Argo's workflow activeDeadlineSeconds): a Pending pod cannot hold it for ever.
    @dsl.pipeline(name=PIPELINE_NAME,
                  description="Train, evaluate, quantize and gate a SPLADE model; publish it if it wins.",
                  pipeline_config=dsl.PipelineConfig(active_deadline_seconds=duration_seconds(k.run_timeout)))
    def spladeforge_training(
        seed: int = p["seed"],
        data: dict = p["data"],
        chunk: dict = p["chunk"],
        generate_queries: dict = p["generate_queries"],
        split: dict = p["split"],
        mine: dict = p["mine"],
        train: dict = p["train"],
        evaluate: dict = p["evaluate"],
        quantize: dict = p["quantize"],
        register: dict = p["register"],
        publish: dict = p["publish"],
        # Where train mirrors its checkpoints: s3://... (the run id is appended), or "" for beside
        # its model artifact in the pipeline root; a local folder under kfp.local.
        checkpoint_uri: str = k.checkpoint_uri or "",
        # The team's judgments folder, read by evaluate and register: s3://<bucket>/<prefix>,
        # dvc://<repo>@<rev>:<path> (a DVC revision), or "" for none.
        judgments_uri: str = "",
    ):
        checked = c.check_params(
            seed=seed, data=data, chunk=chunk, generate_queries=generate_queries, split=split, mine=mine,
            train=train, evaluate=evaluate, quantize=quantize, register=register, publish=publish)
        checked_config = checked.output

        docs = c.ingest(data=data).after(checked)
        chunks = c.chunk(chunk=chunk, documents=docs.outputs["documents"])
        # The OpenAI key's variable is fixed at compile time from the params the pipeline is built
        # with (generate_queries.openai.api_key_env, default OPENAI_API_KEY; see placement), although
        # that key is also a run parameter: a run naming another variable needs a recompiled pipeline.
        queries = c.generate_queries(generate_queries=generate_queries, seed=seed, chunks=chunks.outputs["chunks"],
                                     documents_meta=docs.outputs["documents_meta"])
        halves = c.split(split=split, seed=seed, queries=queries.outputs["queries"], chunks=chunks.outputs["chunks"])
        # One code path for any n: with n = 1 the loop has one iteration and the collect one input.
        with dsl.ParallelFor(items=list(range(k.mine_shards)), parallelism=k.shard_parallelism) as shard:
            mined = c.mine_shard(mine=mine, seed=seed, shard=shard, num_shards=k.mine_shards,
                                 train_pairs=halves.outputs["train_pairs"], chunks=chunks.outputs["chunks"],
                                 documents_meta=docs.outputs["documents_meta"])
        tuples = c.mine(mine=mine, seed=seed, train_pairs=halves.outputs["train_pairs"],
                        chunks=chunks.outputs["chunks"], shards=dsl.Collected(mined.outputs["tuples_shard"]))
        trained = c.train(train=train, seed=seed, tuples=tuples.outputs["tuples"],
                          dev=halves.outputs["dev"],
                          documents_meta=docs.outputs["documents_meta"], checkpoint_uri=checkpoint_uri,
                          run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)

        # The test split: evaluate, quantize and the gate; training never sees it.
        model, test = trained.outputs["model"], halves.outputs["test"]
        with dsl.ParallelFor(items=list(range(k.encode_shards)), parallelism=k.shard_parallelism) as shard:
            encoded = c.encode_shard(evaluate=evaluate, shard=shard, num_shards=k.encode_shards, model=model,
                                     test=test)
        scored = c.evaluate(evaluate=evaluate, judgments_uri=judgments_uri, model=model, test=test,
                            document_embeddings=dsl.Collected(encoded.outputs["embeddings"]))
        int8 = c.quantize(quantize=quantize, model=model, test=test)
        release(c, register=register, publish=publish, quantize=quantize, run_config=checked_config, model=model,
                metrics=scored.outputs["metrics"], eval_report=scored.outputs["report"], test=test,
                quantize_report=int8.outputs["report"], onnx_model=int8.outputs["onnx_model"],
                judgments_uri=judgments_uri)

        # Pool, resources, secrets, environment, retries and caching, by task name (placement.TASKS).
        place_all(Pipeline.get_default_pipeline().tasks, params, enable_caching)

    return spladeforge_training


def release(c: Components, *, register, publish, quantize, run_config, model, metrics,
            eval_report, test, quantize_report, onnx_model, judgments_uri="") -> dict[str, dsl.PipelineTask]:
    """The gated tail of the DAG: register → promoted → dsl.If(passed) → promote → publish.

    `register` records the version as challenger and the gate's decision but never moves
    `champion`; only inside the condition does `promote` move it, and publish reads the decision
    `promote` wrote. Every task here has side effects in MLflow, S3 or on the Hub, so none is
    ever answered from the cache.
    """
    gate = c.register(register=register, run_config=run_config, judgments_uri=judgments_uri, model=model,
                      metrics=metrics,
                      eval_report=eval_report, test=test, quantize_report=quantize_report, onnx_model=onnx_model)
    gate.set_caching_options(False)

    verdict = c.promoted(decision=gate.outputs["decision"]).set_caching_options(False)
    with dsl.If(verdict.output == True, name="ndcg-gate-passed"):  # noqa: E712
        promotion = c.promote(register=register, run_config=run_config,
                              decision=gate.outputs["decision"]).set_caching_options(False)
        released = c.publish(publish=publish, quantize=quantize, run_config=run_config, model=model,
                             decision=promotion.outputs["promotion"], metrics=metrics,
                             quantize_report=quantize_report, onnx_model=onnx_model)
        released.set_caching_options(False)
    return {"register": gate, "promoted": verdict, "promote": promotion, "publish": released}


def pinned_images(params: Params, image_tag: str | None) -> Params:
    """`params` with tag-less image repositories pinned to `image_tag` (the git commit `make images`
    tags with); a reference that already names a tag or digest is kept."""
    k = params.kubeflow
    pinned = k.model_copy(update={"image": pin(k.image, image_tag), "train_image": pin(k.train_image, image_tag)})
    for key in ("image", "train_image"):
        if not is_pinned(getattr(pinned, key)):
            raise ConfigError(f"kubeflow.{key}: {getattr(pinned, key)!r} names no tag or digest, so the cluster "
                              "would pull whatever `latest` is that day; compile with `spladeforge pipeline "
                              "compile` (pins the git commit) or give a digest with --image/--train-image")
    return params.model_copy(update={"kubeflow": pinned})


def compile_pipeline(params: Params, package_path: str, enable_caching: bool = False,
                     image_tag: str | None = None) -> str:
    """Write the pipeline's IR YAML to `package_path`, images pinned (see `pinned_images`); return the path."""
    from kfp import compiler

    compiler.Compiler().compile(make_pipeline(pinned_images(params, image_tag), enable_caching),
                                package_path=package_path)
    return package_path
