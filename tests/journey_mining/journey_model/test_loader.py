from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey_mining.journey_model import (
    JourneyModel,
    JourneyModelError,
    load_journey_model,
    load_journey_models,
    validate_paths,
)

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "models"
README = ROOT / "models" / "README.md"
COMMAND = re.compile(r"^\$ journey validate (\S+)$")
FORMAT = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): (?P<field>\S+): (?P<problem>.+)$")


def _documented_messages() -> dict[str, list[str]]:
    """Example output in models/README.md: ``$ journey validate X`` blocks, by target X."""
    messages: dict[str, list[str]] = {}
    target: str | None = None
    for line in README.read_text(encoding="utf-8").splitlines():
        command = COMMAND.match(line)
        if command:
            target = command.group(1)
            messages[target] = []
        elif line.startswith("```"):
            target = None
        elif target is not None:
            messages[target].append(line)
    return messages


DOCUMENTED_MESSAGES = _documented_messages()


def test_readme_documents_every_broken_fixture() -> None:
    broken = {
        f"tests/fixtures/models/invalid/{path.name}"
        for path in (FIXTURES / "invalid").iterdir()
        if path.suffix in (".yml", ".yaml")
    }
    assert broken <= set(DOCUMENTED_MESSAGES)


@pytest.mark.parametrize("target", sorted(DOCUMENTED_MESSAGES))
def test_documented_messages_are_exactly_what_the_validator_says(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each README example is produced verbatim, at that line, and no other message appears."""
    monkeypatch.chdir(ROOT)
    assert DOCUMENTED_MESSAGES[target]
    assert validate_paths([Path(target)]) == DOCUMENTED_MESSAGES[target]


@pytest.mark.parametrize("target", sorted(DOCUMENTED_MESSAGES))
def test_messages_follow_path_line_field_problem(target: str) -> None:
    for message in DOCUMENTED_MESSAGES[target]:
        match = FORMAT.match(message)
        assert match, message
        assert match.group("path").startswith(target)


def test_load_refuses_with_every_problem_in_the_file() -> None:
    with pytest.raises(JourneyModelError) as caught:
        load_journey_model(FIXTURES / "invalid" / "bad_kpis.yml")
    error = caught.value
    assert isinstance(error, ValueError)
    assert len(error.errors) == 6
    assert str(error) == "\n".join(error.errors)
    assert all(
        message.startswith(str(FIXTURES / "invalid" / "bad_kpis.yml")) for message in error.errors
    )


def test_line_numbers_point_at_the_offending_node(tmp_path: Path) -> None:
    text = (FIXTURES / "valid" / "minimal.yml").read_text(encoding="utf-8")
    broken = text.replace(
        "      - event: Signed Up",
        "      - event: Signed Up\n        where:\n          - {property: plan, op: startswith_x, value: tri}",
    )
    path = tmp_path / "minimal.yml"
    path.write_text(broken, encoding="utf-8")
    line = (
        broken.splitlines().index("          - {property: plan, op: startswith_x, value: tri}") + 1
    )
    [message] = validate_paths([path])
    assert message.startswith(
        f"{path}:{line}: stages[0].match[0].where[0].op: 'startswith_x' is not one of eq, in, not_in, "
    )


def test_yaml_alias_errors_point_at_the_anchor(tmp_path: Path) -> None:
    text = (FIXTURES / "valid" / "minimal.yml").read_text(encoding="utf-8")
    text = text.replace(
        "personas: []", "personas: []\nx-condition: &bad {property: plan, op: nope, value: a}"
    )
    text = text.replace(
        "      - event: Signed Up", "      - event: Signed Up\n        where: [*bad]"
    )
    path = tmp_path / "minimal.yml"
    path.write_text(text, encoding="utf-8")
    messages = validate_paths([path])
    anchor_line = (
        text.splitlines().index("x-condition: &bad {property: plan, op: nope, value: a}") + 1
    )
    assert (
        f"{path}:{anchor_line}: stages[0].match[0].where[0].op: 'nope' is not one of eq, in, not_in, contains, icontains, startswith, gt, gte, lt, lte, exists"
        in messages
    )
    assert any(": x-condition: unknown field" in message for message in messages)


def test_loaded_model_keeps_source_window_and_hash() -> None:
    path = FIXTURES / "valid" / "every_operator.yml"
    model = load_journey_model(path)
    assert isinstance(model, JourneyModel)
    assert model.source_path == path
    assert model.window_seconds == 14 * 86_400
    assert len(model.model_hash) == 64
    assert model.stage("buy").name == "Buy"
    with pytest.raises(KeyError):
        model.stage("nope")


def test_model_is_frozen() -> None:
    model = load_journey_model(FIXTURES / "valid" / "minimal.yml")
    with pytest.raises(ValueError, match="frozen"):
        model.name = "changed"  # type: ignore[misc]


def test_model_hash_changes_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "minimal.yml"
    shutil.copy(FIXTURES / "valid" / "minimal.yml", path)
    before = load_journey_model(path).model_hash
    path.write_text(path.read_text(encoding="utf-8").replace("7d", "8d"), encoding="utf-8")
    assert load_journey_model(path).model_hash != before


def test_load_journey_models_sorted_and_complete() -> None:
    models = load_journey_models(FIXTURES / "valid")
    assert [model.id for model in models] == ["every_operator", "minimal"]


def test_load_journey_models_collects_errors_of_all_files(tmp_path: Path) -> None:
    for name in ("bad_kpis.yml", "bad_ids.yml"):
        shutil.copy(FIXTURES / "invalid" / name, tmp_path / name)
    shutil.copy(FIXTURES / "valid" / "minimal.yml", tmp_path / "minimal.yml")
    with pytest.raises(JourneyModelError) as caught:
        load_journey_models(tmp_path)
    files = {message.split(":", 1)[0] for message in caught.value.errors}
    assert files == {str(tmp_path / "bad_ids.yml"), str(tmp_path / "bad_kpis.yml")}


def test_validate_paths_mixes_files_and_folders_checking_each_file_once() -> None:
    assert validate_paths([FIXTURES / "valid", FIXTURES / "valid" / "minimal.yml"]) == []
    messages = validate_paths([FIXTURES / "valid", FIXTURES / "invalid" / "empty.yml"])
    assert messages == [f"{FIXTURES / 'invalid' / 'empty.yml'}:1: <file>: the file is empty"]


def test_validated_in_code_still_cross_checks() -> None:
    data = {
        "version": 1,
        "id": "in_code",
        "name": "In code",
        "actor": "a",
        "scenario": "s",
        "window": "1d",
        "personas": [],
        "stages": [{"id": "a", "name": "A", "match": [{"event": "x"}]}],
        "designed_path": ["a", "b"],
    }
    with pytest.raises(ValueError, match=r"designed_path\[1\]: 'b' is not a stage id"):
        JourneyModel.model_validate(data)


junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=True)
    | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@settings(
    max_examples=150,
    deadline=None,  # writes and validates a file per example: disk time varies under load
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_corruption_is_reported_never_raised(data: st.DataObject, tmp_path: Path) -> None:
    """Replacing any part of a valid model with junk gives format-conforming messages, no crash."""
    model = yaml.safe_load((FIXTURES / "valid" / "every_operator.yml").read_text(encoding="utf-8"))
    where = data.draw(st.sampled_from(_paths(model)[1:]))
    parent = model
    for part in where[:-1]:
        parent = parent[part]
    parent[where[-1]] = data.draw(junk)
    path = tmp_path / "every_operator.yml"
    path.write_text(yaml.safe_dump(model, allow_unicode=True), encoding="utf-8")
    lines = path.read_text(encoding="utf-8").count("\n") + 1
    for message in validate_paths([path]):
        match = FORMAT.match(message)
        assert match, message
        assert match.group("path") == str(path)
        assert 1 <= int(match.group("line")) <= lines


def test_a_junk_key_with_spaces_stays_one_field_token(tmp_path: Path) -> None:
    model = yaml.safe_load((FIXTURES / "valid" / "every_operator.yml").read_text(encoding="utf-8"))
    model["stages"][0][" odd key.\t"] = 1
    path = tmp_path / "every_operator.yml"
    path.write_text(yaml.safe_dump(model, allow_unicode=True), encoding="utf-8")
    [message] = validate_paths([path])
    match = FORMAT.match(message)
    assert match, message
    assert match.group("field") == 'stages[0]["\\u0020odd\\u0020key.\\t"]'
    assert match.group("problem") == "unknown field"
