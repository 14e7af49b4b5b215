"""Reading a daemon's YAML config file into its pydantic model, with CLI overrides applied on top.

Shared by the worker and the challenger; every problem becomes a ConfigError naming the file and
the field, raised at start-up before anything is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def load_config(cls: type[M], path: Path | str | None, what: str, doc: str, **overrides: Any) -> M:
    """`cls` from the YAML mapping in `path` (if given) updated with the non-None `overrides`."""
    raw: dict = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError as e:
            raise ConfigError(f"{what} config {path} not found", "pass an existing file to --config") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"{what} config {path} is not valid YAML: {e}") from e
        if not isinstance(raw, dict):
            raise ConfigError(f"{what} config {path} must be a mapping of option: value")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return cls.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"invalid {what} configuration:\n{e}", f"fix the fields named above ({doc})") from e
