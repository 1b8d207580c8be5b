"""Loading the run configuration: `params.yaml` merged over a preset from `configs/`, validated once.

Precedence, lowest first: the section defaults, `configs/<preset>.yaml`, `params.yaml`,
`--set key.path=value` overrides on the command line. Unknown keys, wrong types and
out-of-range values fail before any work, naming the key path and what is accepted.

Files are read with `config.yaml_strict` (duplicate keys, deep nesting and alias bombs are
errors with the line), bytes that are not UTF-8 are reported with their line and offset, a bad
`--set` names the override, and a value quoted in a message is cut short (`reprlib`) and never
shows a secret.
"""

from __future__ import annotations

import copy
import re
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from spladeforge.config import yaml_strict
from spladeforge.config.params import DEFAULT_PRESET, Params
from spladeforge.errors import ConfigError
from spladeforge.redaction import is_secret_key, masked, redact_text, redact_value

# A preset is a file name in configs/, never a path: `../x` or `/etc/x` would read outside it.
_PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_KEY_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxlevel = 80, 80, 6, 6, 3


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}, "
                          f"{exc.reason}); save the file as UTF-8") from None


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml_strict.load(_decode(path))
    except yaml.YAMLError as exc:
        line, problem = yaml_strict.describe(exc)
        where = f":{line}" if line is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from None
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
    shown = _SHORT.repr(redact_text(text))  # redacted before it is cut: a cut URL is no URL
    if not sep or not key.strip():
        raise ConfigError(f"--set {shown}: expected KEY.PATH=VALUE, e.g. train.learning_rate=1e-4")
    parts = key.strip().split(".")
    if len(parts) > yaml_strict.MAX_DEPTH or not all(_KEY_PART.match(part) for part in parts):
        raise ConfigError(f"--set {shown}: {_SHORT.repr(key.strip())} is not a key path (dot-separated "
                          "names, e.g. train.learning_rate)")
    try:
        value = yaml_strict.load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        _, problem = yaml_strict.describe(exc)
        raise ConfigError(f"--set {shown}: the value is not valid YAML ({problem}); quote it to pass it as "
                          f"text, e.g. --set \"{key.strip()}='...'\"") from None
    tree: dict[str, Any] = {}
    node = tree
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return tree


def shown_value(path: str, value: Any) -> str:
    """A value as an error message may quote it: cut short, URLs redacted, secrets only described."""
    if isinstance(value, str) and (path.endswith("_env") or is_secret_key(path)):
        return masked(value)
    return _SHORT.repr(redact_value(path, value))  # redacted before it is cut: a cut URL is no URL


def format_errors(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
        if err["type"] == "extra_forbidden":
            section = section_model(err["loc"][:-1])
            accepted = ", ".join(section.model_fields) if section else ""
            lines.append(f"  {path[:120]}: unknown key (accepted: {accepted})")
        else:
            got = err.get("input")
            shown = "" if isinstance(got, dict) else f" (got {shown_value(path, got)})"
            lines.append(f"  {path or '<top>'}: {redact_text(err['msg'])}{shown}")
    return "\n".join(lines)


def section_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Params
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return None
        model = field.annotation
    return model


@dataclass(frozen=True)
class ParamsSource:
    """Where a `Params` was read from, and the merged values it was read as.

    A stage compares `merged` with the files again when it ends (`changed`): DVC records the
    params in `dvc.lock` after the stage's command returns, so an edit made while the stage ran
    would otherwise be recorded as what made outputs that were computed with the old values.
    """

    path: Path
    overrides: tuple[str, ...]
    configs_dir: Path | None
    merged: dict[str, Any]

    def changed(self, sections: tuple[str, ...]) -> list[str]:
        """The dotted keys of `sections` whose value in the files now differs from what was read."""
        now, _ = merged_params(self.path, list(self.overrides), self.configs_dir)
        keys: list[str] = []
        for section in sections:
            keys += _differences(section, self.merged.get(section), now.get(section))
        return keys


def _differences(path: str, old: Any, new: Any) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [key for name in sorted(set(old) | set(new), key=str)
                for key in _differences(f"{path}.{name}", old.get(name), new.get(name))]
    return [] if old == new and type(old) is type(new) else [path]


def merged_params(path: str | Path, overrides: list[str] | None = None,
                  configs_dir: str | Path | None = None) -> tuple[dict[str, Any], str]:
    """The preset, `params.yaml` and `--set` overrides merged (not yet validated), and the preset name."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    user = read_yaml(path)
    for text in overrides or []:
        user = deep_merge(user, parse_override(text))
    configs = Path(configs_dir) if configs_dir else path.resolve().parent / "configs"
    preset = user.get("preset", DEFAULT_PRESET)
    names = ", ".join(available_presets(configs)) or f"none found in {configs}"
    if not isinstance(preset, str) or not _PRESET_NAME.match(preset) or ".." in preset:
        raise ConfigError(f"{path}: preset: {_SHORT.repr(preset)} is not a preset name (the name of a file in "
                          f"{configs} without .yaml, no path; accepted: {names})")
    preset_file = configs / f"{preset}.yaml"
    if not preset_file.is_file():
        raise ConfigError(f"{path}: preset: unknown preset {preset!r} (accepted: {names})")
    base = read_yaml(preset_file)
    if "preset" in base:
        raise ConfigError(f"{preset_file}: a preset cannot name another preset")
    return deep_merge(base, user), preset


def load_params(
    path: str | Path = "params.yaml",
    overrides: list[str] | None = None,
    configs_dir: str | Path | None = None,
) -> Params:
    """Load and validate the run configuration; raise ConfigError naming the bad key.

    The result remembers what it was read from (`params_source`), so that a stage can tell
    whether the files changed while it ran.
    """
    merged, preset = merged_params(path, overrides, configs_dir)
    try:
        params = Params.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_errors(f"{path} (preset {preset})", exc)) from None
    params._source = ParamsSource(Path(path), tuple(overrides or ()), Path(configs_dir) if configs_dir else None,
                                  copy.deepcopy(merged))
    return params


def params_source(params: Params) -> ParamsSource | None:
    """What `params` was loaded from (None for params given as values, e.g. Kubeflow parameters)."""
    return getattr(params, "_source", None)
