"""The first task of the pipeline: validate the whole run configuration before any work."""

# No `from __future__ import annotations`: KFP reads these annotations as types.


def check_params(seed: int, data: dict, chunk: dict, generate_queries: dict, split: dict, mine: dict,
                 train: dict, evaluate: dict, quantize: dict, register: dict, publish: dict) -> dict:
    """Validate every run parameter (`config.RUN_PARAMETERS`, one argument each); return them all.

    Parameters edited in the Kubeflow UI fail here, in seconds, naming the key, instead of after
    hours of upstream work. The returned dict is what `register` logs to MLflow and the model
    card records.
    """
    from spladeforge.config import run_config
    from spladeforge.orchestration import validated

    params = validated({"seed": seed, "data": data, "chunk": chunk, "generate_queries": generate_queries,
                        "split": split, "mine": mine, "train": train, "evaluate": evaluate, "quantize": quantize,
                        "register": register, "publish": publish})
    return run_config(params, drop_nulls=True)
