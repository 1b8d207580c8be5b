"""The base of every params section: unknown keys are errors, assignments are validated, and no
value can carry a secret or a number a library would choke on later.

Checked for every field of every section (`Section._safe_value`):
- no credentials in a URL-like value (`https://TOKEN@host`, `user:password@`, `?token=`) and no
  secret-named key in a mapping (`data.dvc_remote_config.secret_access_key`): params are copied
  verbatim into dvc.lock by DVC, so the only safe place for a secret is the environment;
- a `*_env` key holds the NAME of an environment variable, never the secret itself (a pasted
  token is refused without being echoed);
- a URL's port is a port (urllib raises ValueError on `:99999` when the URL is first used);
- a number field gets a number: YAML reads `on`, `yes`, `true` as booleans, which pydantic would
  otherwise take as 1 (`learning_rate: on` training at 1.0); refused, in lists and mappings too;
- integers fit 64 bits (numpy and torch raise OverflowError on larger ones), and floats are
  finite (`allow_inf_nan=False`: `.inf` epochs would train forever, NaN compares false).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Union
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from spladeforge.redaction import credential_in_url, is_env_name, is_secret_key, redact_url

_INT_LIMIT = 2**63
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# Where a credential goes instead of params, by the key that held it.
_WHERE = {
    "dvc_repo": "use a git credential helper or ~/.netrc for the git server",
    "dvc_remote_config": "S3 remotes read AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) "
                         "from the environment; other remotes take theirs from `dvc remote modify --local`",
    "endpoint_url": "S3 credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment",
    "tracking_uri": "set MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, or put the whole URI in "
                    "MLFLOW_TRACKING_URI, which is read from the environment and never written",
    "base_url": "put the API key in the environment variable that generate_queries.openai.api_key_env names",
}
_DEFAULT_WHERE = ("supply them from the environment: a git credential helper or ~/.netrc for git URLs, "
                  "AWS_* variables for S3, the variable a `*_env` key names for API keys")


def _credential_error(name: str, what: str) -> ValueError:
    return ValueError(f"holds {what}: params are copied verbatim into dvc.lock, stage manifests, MLflow "
                      f"and the model card, so credentials never go here; remove them and "
                      f"{_WHERE.get(name, _DEFAULT_WHERE)}")


def check_value(name: str, value: Any) -> None:
    """Raise ValueError (never quoting a secret) when `value` of field `name` is unsafe to keep."""
    if isinstance(value, int) and not isinstance(value, bool) and not -_INT_LIMIT <= value < _INT_LIMIT:
        raise ValueError(f"must fit a 64-bit integer (below 2**63), got a {len(str(abs(value)))}-digit number")
    if name.endswith("_env") and isinstance(value, str) and value and not is_env_name(value):
        raise ValueError("expected the NAME of an environment variable (letters, digits and _, not "
                         "starting with a digit), not a value that looks like a secret itself; put the "
                         "secret in that variable (export NAME=...) and give its name here")
    if isinstance(value, str) and (what := credential_in_url(value)):
        raise _credential_error(name, what)
    if isinstance(value, str) and _URL.match(value):
        try:
            _ = urlsplit(value).port  # urllib checks the port only when asked for it
        except ValueError:
            raise ValueError(f"{redact_url(value)}: the port must be a number in 0..65535") from None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if is_secret_key(str(key)) and item not in (None, ""):
                raise ValueError(f"{key}: credentials never go in params (they would be copied into dvc.lock, "
                                 f"manifests, MLflow and the model card); {_WHERE.get(name, _DEFAULT_WHERE)}")
            if isinstance(item, str) and (what := credential_in_url(item)):
                raise _credential_error(name, f"{what} under {key!r}")
    if isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, str) and (what := credential_in_url(item)):
                raise _credential_error(name, what)


def _boolean_in_number(annotation: Any, value: Any) -> bool:
    """Whether `value` holds a boolean where `annotation` wants a number (and no boolean would do)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return _boolean_in_number(args[0], value)
    if isinstance(value, bool):
        options = args if origin in (Union, types.UnionType) else (annotation,)
        return (any(option in (int, float) for option in options)
                and not any(option in (bool, Any) for option in options))
    if origin in (Union, types.UnionType):
        return any(_boolean_in_number(option, value) for option in args if option is not type(None))
    if origin in (list, set, frozenset) and isinstance(value, list | tuple | set | frozenset):
        return any(_boolean_in_number(args[0], item) for item in value)
    if origin is tuple and isinstance(value, list | tuple):
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        return any(_boolean_in_number(tp, item) for tp, item in zip(items, value, strict=False))
    if origin is dict and isinstance(value, Mapping):
        return any(_boolean_in_number(args[1], item) for item in value.values())
    return False


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _boolean_in_number(field.annotation, value):
            raise ValueError("expected a number, got a boolean (YAML reads on/off, yes/no and true/false as "
                             "booleans; write the number, e.g. 1 or 1.0e-4)")
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _safe_value(cls, value: Any, info: ValidationInfo) -> Any:
        check_value(info.field_name or "", value)
        return value
