"""Where every component's settings come from, read by one loader: a file, `IOC_*` variables, overrides.

Why one loader: the platform, the vision worker, the wall and the jobs each read a strict pydantic
model from defaults, a file and the environment. They share one naming scheme for environment
overrides, `IOC_<SECTION>__<FIELD>[__<SUB>...]` (JSON for lists and objects):

- the platform's sections: `IOC_KAFKA__BOOTSTRAP`, `IOC_SPARK__MASTER`, `IOC_STREAMING__...`;
- the components' own: `IOC_VISION__RUNTIME__MAX_BATCH`, `IOC_WALL__PORT`, `IOC_JOBS__REPORT_DIR`.

The platform's loader leaves the components' sections to their loaders; every loader fails on a name
its model does not know, so a typo never passes silently. The older prefixes (`VISION__`, `WALL__`,
`JOBS__`) are refused with the new name, rather than ignored.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Final, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ioc.exceptions import ConfigError, IocError

ENV_PREFIX: Final = "IOC_"
ENV_DELIMITER: Final = "__"
# sections read by the components' own loaders, each with the prefix it had before the one scheme
COMPONENT_SECTIONS: Final[dict[str, str]] = {"vision": "VISION__", "wall": "WALL__", "jobs": "JOBS__"}
# IOC_* variables that are not settings: the platform's settings file, the test suite's hypothesis profile
NOT_SETTINGS: Final = frozenset({"IOC_CONFIG", "IOC_HYPOTHESIS_PROFILE"})

M = TypeVar("M", bound=BaseModel)


def env_prefix(section: str | None = None) -> str:
    """`IOC_` for the platform, `IOC_<SECTION>__` for a component's section."""
    return ENV_PREFIX if section is None else f"{ENV_PREFIX}{section.upper()}{ENV_DELIMITER}"


def env_values(environ: Mapping[str, str], model: type[BaseModel], section: str | None = None,
               error: type[IocError] = ConfigError) -> dict[str, Any]:
    """The overrides `environ` holds for `model` (the platform's when `section` is None), as nested values.

    Raises `error` naming the variable: a field the model does not have, sub-keys of a plain value, or
    a component variable under its old prefix.
    """
    prefix = env_prefix(section)
    if section is not None:
        _refuse_old_prefix(environ, section, error)
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        upper = name.upper()
        if not upper.startswith(prefix) or upper in NOT_SETTINGS:
            continue
        path = [part.lower() for part in upper[len(prefix):].split(ENV_DELIMITER)]
        if section is None and path[0] in COMPONENT_SECTIONS:
            continue
        _check_path(name, path, model, error)
        node = values
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = parse_env_value(raw)
    return values


def parse_env_value(raw: str) -> Any:
    """JSON for structured values (`{...}`, `[...]`), the plain string otherwise."""
    stripped = raw.strip()
    if stripped[:1] in "{[":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return raw
    return raw


def read_toml(path: Path, what: str, error: type[IocError] = ConfigError, missing_hint: str | None = None
              ) -> dict[str, Any]:
    """A TOML settings file, or `error` saying what is wrong with it."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"{what} {path} does not exist", hint=missing_hint) from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {path} is not valid TOML: {exc}") from exc


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`extra` over `base`, mapping by mapping."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validated(model: type[M], values: Mapping[str, Any], what: str, hint: str,
              error: type[IocError] = ConfigError) -> M:
    """`model` from `values`, or `error` naming where the first problem is (and how many more)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise error(f"invalid {what} {where}: {first['msg']}{more}", hint=hint) from exc


def _refuse_old_prefix(environ: Mapping[str, str], section: str, error: type[IocError]) -> None:
    old = COMPONENT_SECTIONS[section]
    for name in environ:
        if name.upper().startswith(old):
            renamed = env_prefix(section) + name[len(old):].upper()
            raise error(f"{name} is no longer read: the {section} settings are {env_prefix(section)}* variables",
                        hint=f"rename it {renamed}")


def _check_path(name: str, path: list[str], model: type[BaseModel], error: type[IocError]) -> None:
    """Every part of the path is a field; only models, mappings and unions of models take sub-keys."""
    for depth, part in enumerate(path):
        field = model.model_fields.get(part)
        if field is None:
            raise error(f"unknown setting {name}: {part!r} is not a field of {model.__name__}",
                        hint=f"known fields there: {', '.join(model.model_fields)}")
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
            continue
        if depth != len(path) - 1 and not _takes_sub_keys(annotation):
            raise error(f"unknown setting {name}: {part!r} takes no sub-keys")
        return


def _takes_sub_keys(annotation: Any) -> bool:
    """A mapping, or a union holding a model (a detector's kinds): the model's validation checks the keys."""
    origin = get_origin(annotation)
    if origin is dict:
        return True
    if origin in (Union, UnionType):
        return any(isinstance(arg, type) and issubclass(arg, BaseModel) for arg in get_args(annotation))
    if origin is Annotated:
        return _takes_sub_keys(get_args(annotation)[0])
    return False
