"""The first task of the pipeline: validate the whole run configuration before any work."""

# No `from __future__ import annotations`: KFP reads these annotations as types.


def check_params(seed: int, data: dict, chunk: dict, generate_queries: dict, split: dict, mine: dict,
                 train: dict, evaluate: dict, quantize: dict, register: dict, publish: dict) -> dict:
    """Validate every section with `spladeforge.config.Params`; return the run configuration.

    Parameters edited in the Kubeflow UI fail here, in seconds, naming the key, instead of after
    hours of upstream work. The returned dict is what `register` logs to MLflow and the model
    card records.
    """
    from pydantic import ValidationError

    from spladeforge.config import Params, _format_errors
    from spladeforge.errors import ConfigError

    sections = {"seed": seed, "data": data, "chunk": chunk, "generate_queries": generate_queries,
                "split": split, "mine": mine, "train": train, "evaluate": evaluate, "quantize": quantize,
                "register": register, "publish": publish}
    try:
        params = Params.model_validate(sections)
    except ValidationError as exc:
        raise ConfigError(_format_errors("pipeline parameters", exc)) from None
    # No nulls: KFP parameters cannot carry None, and an omitted key validates to the same default.
    # `preset` is already merged into the sections; `kubeflow` is placement, fixed at compile time.
    return params.model_dump(mode="json", exclude={"kubeflow", "preset"}, exclude_none=True)
