"""Read journey model files and report every problem as ``path:line: field: problem``.

The YAML is composed into a node tree first (PyYAML's SafeLoader), because nodes keep their
line; pydantic's error locations are then walked down that tree to the offending node.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from journey_mining.journey_model.errors import JourneyModelError
from journey_mining.journey_model.schema import (
    CROSS_CHECKS,
    RULE_TAGS,
    AllOf,
    AnyOf,
    Condition,
    JourneyModel,
    cross_check,
    describe,
    format_loc,
    suggest,
)

__all__ = ["MODEL_SUFFIXES", "load_journey_model", "load_journey_models", "validate_paths"]

MODEL_SUFFIXES = (".yml", ".yaml")
FILE_FIELD = "<file>"

_TAG_MODELS: dict[str, type[BaseModel]] = {
    "<all>": AllOf,
    "<any>": AnyOf,
    "<condition>": Condition,
}
_SYNONYMS = {
    "property": "attribute",
    "attribute": "property",
    "rules": "match",
    "operator": "op",
    "values": "value",
    "touchpoints": "touchpoint",
    "events": "event",
    "conditions": "where",
}
_KIND_MESSAGES = {
    "string_type": "expected text, got {got}",
    "int_type": "expected a whole number, got {got}",
    "int_from_float": "expected a whole number, got {got}",
    "list_type": "expected a list, got {got}",
    "tuple_type": "expected a list, got {got}",
    "model_type": "expected a mapping of fields, got {got}",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
    "missing": "required field is missing",
}


def _locate(root: Node, loc: tuple[str | int, ...], *, key: bool = False) -> int:
    """Return the 1-based line of the node at ``loc``, or of its deepest existing ancestor."""
    node = root
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, MappingNode):
            found = [
                (k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == str(part)
            ]
            if not found:
                break
            key_node, value_node = found[-1]
            node = key_node if last and key else value_node
        elif isinstance(node, SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
    return int(node.start_mark.line) + 1


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found += _models_in(arg)
    return found


def _allowed_fields(raw_loc: tuple[str | int, ...]) -> list[str]:
    """The field names accepted where an unknown key was found, for 'did you mean'."""
    models: list[type[BaseModel]] = [JourneyModel]
    for part in raw_loc:
        if isinstance(part, int):
            continue
        if part in _TAG_MODELS:
            models = [_TAG_MODELS[part]]
            continue
        nested: list[type[BaseModel]] = []
        for model in models:
            field = model.model_fields.get(part)
            if field is not None:
                nested += _models_in(field.annotation)
        models = nested
    names: list[str] = []
    for model in models:
        names += [name for name in model.model_fields if name not in names]
    return names


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        raw_loc = tuple(error["loc"])
        unknown = str(raw_loc[-1])
        allowed = _allowed_fields(raw_loc[:-1])
        hint = suggest(unknown, allowed)
        if not hint and _SYNONYMS.get(unknown) in allowed:
            hint = f" (did you mean {_SYNONYMS[unknown]!r}?)"
        return f"unknown field{hint}"
    template = _KIND_MESSAGES.get(kind)
    if template is not None:
        return template.format(got=describe(error.get("input")))
    text = str(error["msg"])
    return text[:1].lower() + text[1:]


def _duplicate_keys(node: Node, loc: tuple[str | int, ...] = ()) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    if isinstance(node, MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            name = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
            line = int(key_node.start_mark.line) + 1
            if name in first:
                where = format_loc((*loc, name))
                msg = f"{where}: duplicate key {name!r} (first at line {first[name]})"
                problems.append((line, msg))
            else:
                first[name] = line
            problems += _duplicate_keys(value_node, (*loc, name))
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(item, (*loc, index))
    return problems


def _parse(path: Path) -> tuple[Node | None, Any, list[tuple[int, str]], str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, None, [(1, f"{FILE_FIELD}: cannot be read ({exc.strerror or exc})")], ""
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, None, [(1, f"{FILE_FIELD}: is not UTF-8 text ({exc.reason})")], digest
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None, [(1, f"{FILE_FIELD}: the file is empty")], digest
        problems = _duplicate_keys(node)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "unreadable"
        return None, None, [(line, f"{FILE_FIELD}: invalid YAML: {problem}")], digest
    except (yaml.YAMLError, ValueError) as exc:
        return None, None, [(1, f"{FILE_FIELD}: invalid YAML: {exc}")], digest
    finally:
        loader.dispose()
    return node, data, problems, digest


def _check_file(path: Path) -> tuple[JourneyModel | None, list[str]]:
    display = str(path)
    node, data, problems, digest = _parse(path)
    model: JourneyModel | None = None
    if node is not None:
        if not isinstance(data, dict):
            problems.append(
                (1, f"{FILE_FIELD}: expected a mapping of fields, got {describe(data)}")
            )
        else:
            try:
                model = JourneyModel.model_validate(data, context={CROSS_CHECKS: False})
            except ValidationError as exc:
                for error in exc.errors(include_url=False):
                    if error["type"] == "too_short" and error.get("input"):
                        continue
                    raw_loc = tuple(error["loc"])
                    loc = tuple(part for part in raw_loc if part not in RULE_TAGS)
                    is_key = error["type"] == "extra_forbidden"
                    line = _locate(node, loc, key=is_key)
                    problems.append((line, f"{format_loc(loc)}: {_message(error)}"))
            for loc, text in cross_check(data):
                problems.append((_locate(node, loc), f"{format_loc(loc)}: {text}"))
            journey_id = data.get("id")
            if isinstance(journey_id, str) and journey_id != path.stem:
                msg = (
                    f"id: {journey_id!r} must equal the file name without extension, {path.stem!r}"
                )
                problems.append((_locate(node, ("id",)), msg))
    messages: list[str] = []
    for line, text in sorted(problems, key=lambda problem: problem[0]):
        message = f"{display}:{line}: {_printable(text)}"
        if message not in messages:
            messages.append(message)
    if messages or model is None:
        return None, messages
    model._source_path = path
    model._source_hash = digest
    model._id_line = _locate(node, ("id",)) if node is not None else 1
    return model, []


def _printable(text: str) -> str:
    """Escape control characters, so a hostile key cannot break the one-line message."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def _model_files(target: Path) -> tuple[list[Path], list[str]]:
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.suffix in MODEL_SUFFIXES and p.is_file())
        if not files:
            return [], [f"{target}:1: {FILE_FIELD}: no journey model files (*.yml, *.yaml) here"]
        return files, []
    if not target.exists():
        return [], [f"{target}:1: {FILE_FIELD}: no such file or directory"]
    return [target], []


def _check_all(targets: Iterable[Path]) -> tuple[list[JourneyModel], list[str]]:
    models: list[JourneyModel] = []
    errors: list[str] = []
    owners: dict[str, Path] = {}
    checked: set[Path] = set()
    for target in targets:
        files, problems = _model_files(Path(target))
        errors += problems
        for file in files:
            if file.resolve() in checked:
                continue
            checked.add(file.resolve())
            model, problems = _check_file(file)
            errors += problems
            if model is None:
                continue
            if model.id in owners:
                line = model._id_line
                msg = (
                    f"{file}:{line}: id: journey id {model.id!r} is also used by {owners[model.id]}"
                )
                errors.append(msg)
                continue
            owners[model.id] = file
            models.append(model)
    return models, errors


def load_journey_model(path: str | os.PathLike[str]) -> JourneyModel:
    """Load and validate one journey model file.

    A map built on a wrong rule is worse than no map, so the file is refused as a whole, with
    every problem in it, rather than loaded in part.

    Parameters
    ----------
    path
        A ``models/<journey_id>.yml`` file; messages show the path as given.

    Returns
    -------
    JourneyModel
        The frozen model, with ``source_path``, ``model_hash`` and ``window_seconds``.

    Raises
    ------
    JourneyModelError
        With ``.errors``, one ``path:line: field: problem`` message per problem.

    Examples
    --------
    >>> model = load_journey_model("models/trial_to_paid.yml")
    >>> model.stage_ids[:2], model.window_seconds
    (('discover', 'sign_up'), 2592000)
    """
    model, errors = _check_file(Path(path))
    if errors or model is None:
        raise JourneyModelError(errors)
    return model


def load_journey_models(directory: str | os.PathLike[str]) -> list[JourneyModel]:
    """Load every ``*.yml``/``*.yaml`` journey model in a folder, sorted by file name.

    Errors of all files are collected into one :class:`JourneyModelError`, so a refresh never
    runs with some maps silently missing.

    Parameters
    ----------
    directory
        The models folder (``JOURNEYMAP_MODELS``); not searched recursively.

    Returns
    -------
    list[JourneyModel]
        One model per file; journey ids are unique.
    """
    models, errors = _check_all([Path(directory)])
    if errors:
        raise JourneyModelError(errors)
    return models


def validate_paths(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Validate journey model files and folders and return every problem found.

    This is ``journey validate``: it prints the messages and fails when the list is not empty.

    Parameters
    ----------
    paths
        Files, or folders whose ``*.yml``/``*.yaml`` files are checked.

    Returns
    -------
    list[str]
        ``path:line: field: problem`` messages, in file then line order; empty when all valid.
    """
    _, errors = _check_all(Path(path) for path in paths)
    return errors
