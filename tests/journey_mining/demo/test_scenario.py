from __future__ import annotations

import json
from dataclasses import replace

import pytest

from journey_mining.demo import DEFAULT_SCENARIO, Profile, Scenario, persona_of


@pytest.mark.parametrize(
    ("role", "size", "persona"),
    [
        ("IT Manager", 10, "it_admin"),
        ("Senior Software Engineer", 3, "developer"),
        ("Backend Developer", 4000, "developer"),
        ("Director", 50, "team_lead"),
        ("Director", 49, "unassigned"),
        ("Team Lead", 12, "unassigned"),
        ("Student", 900, "unassigned"),
    ],
)
def test_persona_of_follows_the_contract_rules(role: str, size: int, persona: str) -> None:
    assert persona_of(role, size) == persona


def test_scenario_rejects_shares_that_do_not_sum_to_one() -> None:
    first = replace(DEFAULT_SCENARIO.personas[0], share=0.5)
    with pytest.raises(ValueError, match="shares sum"):
        replace(DEFAULT_SCENARIO, personas=(first, *DEFAULT_SCENARIO.personas[1:]))


def test_scenario_rejects_a_profile_the_rules_give_another_persona() -> None:
    lead = DEFAULT_SCENARIO.personas[2]
    wrong = replace(lead, profiles=(Profile(1.0, ("Team Lead",), (10, 500)),))
    personas = (*DEFAULT_SCENARIO.personas[:2], wrong, DEFAULT_SCENARIO.personas[3])
    with pytest.raises(ValueError, match="'Team Lead' at size 10 is not team_lead"):
        replace(DEFAULT_SCENARIO, personas=personas)


def test_scenario_rejects_paths_longer_than_the_window() -> None:
    with pytest.raises(ValueError, match="window"):
        replace(DEFAULT_SCENARIO, max_delay_seconds=5 * 86_400)


def test_parameters_serialise_per_persona_and_transition() -> None:
    params = json.loads(json.dumps(DEFAULT_SCENARIO.to_json()))
    developer = params["personas"]["developer"]
    assert developer["advance"]["discover->sign_up"] == 0.75
    assert developer["skip_probability"] == {"onboard": 0.25, "evaluate": 0.6}
    assert developer["survey_means"]["onboard"] == {"survey": "csat", "mean": 4.2}
    assert params["delay"]["clip_seconds"] == [60, 4 * 86_400]
    assert isinstance(DEFAULT_SCENARIO, Scenario)
