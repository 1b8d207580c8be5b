"""The training DAG: the same stages as `dvc repro`, gated before promotion and publishing.

check-params → ingest → chunk → generate-queries → split → mine-shard × n (dsl.ParallelFor) → mine
(collect) → train (H100 pool; reads the dev split) → encode-shard × m (dsl.ParallelFor) → evaluate
(collect) → quantize → register (challenger + the gate's decision) → promoted → dsl.If → promote
(champion) → publish. encode-shard, evaluate, quantize and register read the test split.

The pipeline's parameters are the sections of params.yaml (plus `seed`), each a dict validated
by its stage's config model inside the component; their defaults are params.yaml merged with its
preset, read when the pipeline is built. `kubeflow` (placement and the shard counts n =
`mine_shards`, m = `encode_shards`) is fixed at compile time: the loops iterate over static lists.
"""

# No `from __future__ import annotations`: KFP reads the pipeline's annotations as types.
from collections.abc import Callable

from kfp import dsl

from spladeforge.components import Components, build
from spladeforge.config import KubeflowConfig, Params, run_config
from spladeforge.pipelines.placement import cpu_task, gpu_train_task, use_secrets

PIPELINE_NAME = "spladeforge-training"


def run_arguments(params: Params) -> dict:
    """The pipeline's parameters for `params`: `seed` and one dict per section (`config.RUN_PARAMETERS`)."""
    return run_config(params, drop_nulls=True)


def make_pipeline(params: Params, enable_caching: bool = True) -> Callable:
    """Build the pipeline function with `params` as its defaults and `params.kubeflow` as placement.

    `enable_caching=False` marks every task uncached in the IR itself: a recurring run that
    references an uploaded pipeline version has no run-level switch for caching in KFP's API.
    """
    p = run_arguments(params)
    k = params.kubeflow
    c = build(k.image, k.train_image)

    @dsl.pipeline(name=PIPELINE_NAME,
                  description="Train, evaluate, quantize and gate a SPLADE model; publish it if it wins.")
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
        checkpoint_root: str = k.checkpoint_mount,
    ):
        checked = cpu_task(c.check_params(
            seed=seed, data=data, chunk=chunk, generate_queries=generate_queries, split=split, mine=mine,
            train=train, evaluate=evaluate, quantize=quantize, register=register, publish=publish), k)
        checked_config = checked.output

        docs = cpu_task(c.ingest(data=data), k).after(checked)
        chunks = cpu_task(c.chunk(chunk=chunk, documents=docs.outputs["documents"]), k)
        # The key's variable is fixed at compile time from the params the pipeline is built with
        # (params.generate_queries.openai.api_key_env, default OPENAI_API_KEY), although that key
        # is also a run parameter: a run naming another variable must use a recompiled pipeline.
        queries = use_secrets(cpu_task(c.generate_queries(generate_queries=generate_queries, seed=seed,
                                                          chunks=chunks.outputs["chunks"]), k), k, openai=True,
                              openai_key_env=params.generate_queries.openai.api_key_env)
        halves = cpu_task(c.split(split=split, seed=seed, queries=queries.outputs["queries"],
                                  chunks=chunks.outputs["chunks"]), k)
        # One code path for any n: with n = 1 the loop has one iteration and the collect one input.
        with dsl.ParallelFor(items=list(range(k.mine_shards)), parallelism=k.shard_parallelism) as shard:
            mined = cpu_task(c.mine_shard(mine=mine, seed=seed, shard=shard, num_shards=k.mine_shards,
                                          train_pairs=halves.outputs["train_pairs"],
                                          chunks=chunks.outputs["chunks"]), k)
        tuples = cpu_task(c.mine(mine=mine, seed=seed, train_pairs=halves.outputs["train_pairs"],
                                 chunks=chunks.outputs["chunks"],
                                 shards=dsl.Collected(mined.outputs["tuples_shard"])), k)
        trained = c.train(train=train, seed=seed, tuples=tuples.outputs["tuples"], dev=halves.outputs["dev"],
                          documents_meta=docs.outputs["documents_meta"], checkpoint_root=checkpoint_root,
                          run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
        use_secrets(gpu_train_task(trained, k), k, hf=True)

        # The test split: evaluate, quantize and the gate; training never sees it.
        model, test = trained.outputs["model"], halves.outputs["test"]
        with dsl.ParallelFor(items=list(range(k.encode_shards)), parallelism=k.shard_parallelism) as shard:
            encoded = cpu_task(c.encode_shard(evaluate=evaluate, shard=shard, num_shards=k.encode_shards,
                                              model=model, test=test), k)
        scored = use_secrets(cpu_task(c.evaluate(
            evaluate=evaluate, model=model, test=test,
            document_embeddings=dsl.Collected(encoded.outputs["embeddings"])), k), k, hf=True)
        int8 = cpu_task(c.quantize(quantize=quantize, model=model, test=test), k)
        release(c, k, register=register, publish=publish, quantize=quantize, run_config=checked_config, model=model,
                metrics=scored.outputs["metrics"], eval_report=scored.outputs["report"], test=test,
                quantize_report=int8.outputs["report"], onnx_model=int8.outputs["onnx_model"])

        if not enable_caching:
            for task in (checked, docs, chunks, queries, halves, mined, tuples, trained, encoded, scored, int8):
                task.set_caching_options(False)

    return spladeforge_training


def release(c: Components, k: KubeflowConfig, *, register, publish, quantize, run_config, model, metrics,
            eval_report, test, quantize_report, onnx_model) -> dict[str, dsl.PipelineTask]:
    """The gated tail of the DAG: register → promoted → dsl.If(passed) → promote → publish.

    `register` records the version as challenger and the gate's decision but never moves
    `champion`; only inside the condition does `promote` move it, and publish reads the decision
    `promote` wrote. Every task here has side effects in MLflow, S3 or on the Hub, so none is
    ever answered from the cache.
    """
    gate = c.register(register=register, run_config=run_config, model=model, metrics=metrics,
                      eval_report=eval_report, test=test, quantize_report=quantize_report, onnx_model=onnx_model)
    use_secrets(cpu_task(gate, k), k, aws=True, mlflow=True).set_caching_options(False)

    verdict = cpu_task(c.promoted(decision=gate.outputs["decision"]), k).set_caching_options(False)
    with dsl.If(verdict.output == True, name="ndcg-gate-passed"):  # noqa: E712
        promotion = c.promote(register=register, run_config=run_config, decision=gate.outputs["decision"])
        use_secrets(cpu_task(promotion, k), k, mlflow=True).set_caching_options(False)
        released = c.publish(publish=publish, quantize=quantize, run_config=run_config, model=model,
                             decision=promotion.outputs["promotion"], metrics=metrics,
                             quantize_report=quantize_report, onnx_model=onnx_model)
        use_secrets(cpu_task(released, k), k, hf=True, aws=True).set_caching_options(False)
    return {"register": gate, "promoted": verdict, "promote": promotion, "publish": released}


def compile_pipeline(params: Params, package_path: str, enable_caching: bool = True) -> str:
    """Write the pipeline's IR YAML to `package_path`; return the path."""
    from kfp import compiler

    compiler.Compiler().compile(make_pipeline(params, enable_caching), package_path=package_path)
    return package_path
