"""Loading the run configuration: `params.yaml` merged over a preset from `configs/`, validated once.

Precedence, lowest first: the section defaults, `configs/<preset>.yaml`, `params.yaml`,
`--set key.path=value` overrides on the command line. Unknown keys, wrong types and
out-of-range values fail before any work, naming the key path and what is accepted.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from spladeforge.config.params import DEFAULT_PRESET, Params
from spladeforge.errors import ConfigError


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    return data


def available_presets(configs_dir: Path) -> list[str]:
    return sorted(p.stem for p in configs_dir.glob("*.yaml"))


def parse_override(text: str) -> dict[str, Any]:
    """Turn `train.learning_rate=1e-4` into `{"train": {"learning_rate": 1e-4}}`."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. train.learning_rate=1e-4")
    value = yaml.safe_load(raw) if raw.strip() else None
    tree: dict[str, Any] = {}
    node = tree
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return tree


def format_errors(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        if err["type"] == "extra_forbidden":
            section = section_model(err["loc"][:-1])
            accepted = ", ".join(section.model_fields) if section else ""
            lines.append(f"  {path}: unknown key (accepted: {accepted})")
        else:
            got = err.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            lines.append(f"  {path or '<top>'}: {err['msg']}{shown}")
    return "\n".join(lines)


def section_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Params
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return None
        model = field.annotation
    return model


def load_params(
    path: str | Path = "params.yaml",
    overrides: list[str] | None = None,
    configs_dir: str | Path | None = None,
) -> Params:
    """Load and validate the run configuration; raise ConfigError naming the bad key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    user = read_yaml(path)
    for text in overrides or []:
        user = deep_merge(user, parse_override(text))
    configs = Path(configs_dir) if configs_dir else path.resolve().parent / "configs"
    preset = user.get("preset", DEFAULT_PRESET)
    preset_file = configs / f"{preset}.yaml"
    if not isinstance(preset, str) or not preset_file.is_file():
        names = ", ".join(available_presets(configs)) or f"none found in {configs}"
        raise ConfigError(f"{path}: preset: unknown preset {preset!r} (accepted: {names})")
    base = read_yaml(preset_file)
    if "preset" in base:
        raise ConfigError(f"{preset_file}: a preset cannot name another preset")
    try:
        return Params.model_validate(deep_merge(base, user))
    except ValidationError as exc:
        raise ConfigError(format_errors(f"{path} (preset {preset})", exc)) from None
