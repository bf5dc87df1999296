"""The demo scenario's parameters: Acme Analytics' trial-to-paid journey (data contract §4).

Everything the generator draws from lives here as frozen, typed values, so the ground truth
can quote the exact parameters a run used. Tuples indexed by transition follow
:data:`TRANSITIONS` (discover→sign_up, …, evaluate→purchase).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from itertools import pairwise
from typing import Any

STAGES: tuple[str, ...] = ("discover", "sign_up", "onboard", "activate", "evaluate", "purchase")
"""The designed path, in order."""

TRANSITIONS: tuple[str, ...] = tuple(f"{a}->{b}" for a, b in pairwise(STAGES))

IT_ADMIN_ROLES: tuple[str, ...] = ("IT Admin", "IT Manager", "Systems Administrator")
TEAM_LEAD_ROLES: tuple[str, ...] = ("Team Lead", "Head of Operations", "Director")
TEAM_LEAD_MIN_COMPANY_SIZE = 50

SURVEY_STAGE: dict[str, str] = {"csat": "onboard", "ces": "evaluate", "nps": "purchase"}
"""Which stage each survey follows (and so is attributed to)."""

SURVEY_RANGE: dict[str, tuple[int, int]] = {"csat": (1, 5), "ces": (1, 7), "nps": (0, 10)}


def persona_of(role: str, company_size: int) -> str:
    """The persona the contract's rules give a contact (first match wins)."""
    if role in IT_ADMIN_ROLES:
        return "it_admin"
    lowered = role.lower()
    if "developer" in lowered or "engineer" in lowered:
        return "developer"
    if role in TEAM_LEAD_ROLES and company_size >= TEAM_LEAD_MIN_COMPANY_SIZE:
        return "team_lead"
    return "unassigned"


@dataclass(frozen=True)
class Profile:
    """A way a persona's contacts look in the CRM: job titles and a company-size range."""

    weight: float
    roles: tuple[str, ...]
    company_size: tuple[int, int]


@dataclass(frozen=True)
class SurveyMeans:
    """Mean score per survey (CSAT 1-5 after onboard, CES 1-7 after evaluate, NPS 0-10)."""

    csat: float
    ces: float
    nps: float


@dataclass(frozen=True)
class Persona:
    """One persona: its share of contacts, CRM look and journey behaviour."""

    id: str
    share: float
    profiles: tuple[Profile, ...]
    advance: tuple[float, float, float, float, float]
    median_hours: tuple[float, float, float, float, float]
    skip_onboard: float
    skip_evaluate: float
    loop: float
    sales_assisted: float
    survey_means: SurveyMeans
    noise_events: float


@dataclass(frozen=True)
class Dirt:
    """Rates of the planted data problems (per product event unless named otherwise)."""

    late: float = 0.02
    duplicate_in_file: float = 0.003
    duplicate_across_files: float = 0.002
    malformed: float = 0.0006
    offset_timestamps: float = 0.08
    equal_timestamps: float = 0.05
    unknown_events: float = 0.01
    persons_per_bad_date: int = 5_000


@dataclass(frozen=True)
class PlantedChange:
    """A planted change of behaviour: from an entry date on, one persona advances differently.

    Persons of persona ``persona`` whose latent journey entry (their discover time) falls on or
    after ``effective`` 00:00 UTC advance over ``transition`` (one of :data:`TRANSITIONS`, e.g.
    ``"activate->evaluate"``) with probability ``advance`` instead of the persona's own. It is
    how a test plants one known change between two entry cohorts for the monthly review to find.
    """

    persona: str
    transition: str
    effective: date
    advance: float

    @property
    def effective_s(self) -> int:
        """``effective`` 00:00 UTC in epoch seconds."""
        day = self.effective
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())

    def to_json(self) -> dict[str, Any]:
        """The change as plain JSON values, the way the ground truth reports it."""
        return {
            "persona": self.persona,
            "transition": self.transition,
            "effective_entry_date": self.effective.isoformat(),
            "advance": self.advance,
        }


@dataclass(frozen=True)
class Scenario:
    """All parameters of the demo generator."""

    personas: tuple[Persona, ...]
    window_days: int = 30
    sigma: float = 0.8
    min_delay_seconds: int = 60
    max_delay_seconds: int = 4 * 86_400
    purchase_dwell_hours: float = 24.0
    migration: date = date(2026, 7, 15)
    mobile_share: float = 0.15
    second_device_share: float = 0.15
    product_user_id_share: float = 0.7
    lead_share_of_sign_ups: float = 0.35
    survey_response: SurveyMeans = SurveyMeans(csat=0.35, ces=0.4, nps=0.5)
    survey_sd: SurveyMeans = SurveyMeans(csat=0.9, ces=1.2, nps=1.8)
    ticket_rates: tuple[float, float, float, float, float] = (0.02, 0.08, 0.04, 0.03, 0.02)
    dirt: Dirt = field(default_factory=Dirt)
    changes: tuple[PlantedChange, ...] = ()
    """Planted changes, applied in order of ``effective`` (none by default)."""

    def __post_init__(self) -> None:
        total = sum(p.share for p in self.personas)
        if abs(total - 1.0) > 1e-9:
            msg = f"persona shares sum to {total}, not 1"
            raise ValueError(msg)
        for p in self.personas:
            probabilities = (*p.advance, p.skip_onboard, p.skip_evaluate, p.loop, p.sales_assisted)
            if not all(0.0 <= x <= 1.0 for x in probabilities):
                msg = f"persona {p.id}: a probability is outside [0, 1]"
                raise ValueError(msg)
            for profile in p.profiles:
                for role in profile.roles:
                    for size in profile.company_size:
                        if persona_of(role, size) != p.id:
                            msg = f"persona {p.id}: role {role!r} at size {size} is not {p.id}"
                            raise ValueError(msg)
        if 7 * self.max_delay_seconds + self.purchase_dwell_hours * 3600 >= (
            self.window_days * 86_400
        ):
            msg = "a full path with a loop must fit inside the journey window"
            raise ValueError(msg)
        self._check_changes()

    def _check_changes(self) -> None:
        ids = {p.id for p in self.personas}
        seen: set[tuple[str, str, date]] = set()
        for change in self.changes:
            if change.persona not in ids:
                msg = f"planted change: unknown persona {change.persona!r}"
                raise ValueError(msg)
            if change.transition not in TRANSITIONS:
                msg = f"planted change: {change.transition!r} is not one of {TRANSITIONS}"
                raise ValueError(msg)
            if not 0.0 <= change.advance <= 1.0:
                msg = f"planted change: advance {change.advance} is outside [0, 1]"
                raise ValueError(msg)
            key = (change.persona, change.transition, change.effective)
            if key in seen:
                msg = f"planted change: {key} is planted twice"
                raise ValueError(msg)
            seen.add(key)

    @property
    def ticket_stages(self) -> tuple[str, ...]:
        """The stages ``ticket_rates`` refer to (every stage after discover)."""
        return STAGES[1:]

    def to_json(self) -> dict[str, Any]:
        """The parameters as plain JSON values, keyed the way the ground truth reports them."""
        personas: dict[str, Any] = {}
        for p in self.personas:
            personas[p.id] = {
                "share": p.share,
                "profiles": [asdict(profile) for profile in p.profiles],
                "advance": dict(zip(TRANSITIONS, p.advance, strict=True)),
                "median_hours": dict(zip(TRANSITIONS, p.median_hours, strict=True)),
                "skip_probability": {"onboard": p.skip_onboard, "evaluate": p.skip_evaluate},
                "loop_probability": p.loop,
                "sales_assisted": p.sales_assisted,
                "survey_means": {
                    SURVEY_STAGE[k]: {"survey": k, "mean": v}
                    for k, v in asdict(p.survey_means).items()
                },
                "noise_events_mean": p.noise_events,
            }
        return {
            "personas": personas,
            "window_days": self.window_days,
            "delay": {
                "distribution": "lognormal",
                "sigma": self.sigma,
                "clip_seconds": [self.min_delay_seconds, self.max_delay_seconds],
            },
            "purchase_dwell_hours": self.purchase_dwell_hours,
            "migration_to_segment": self.migration.isoformat(),
            "mobile_share": self.mobile_share,
            "second_device_share": self.second_device_share,
            "product_user_id_share": self.product_user_id_share,
            "lead_share_of_sign_ups": self.lead_share_of_sign_ups,
            "survey_response_rate": asdict(self.survey_response),
            "survey_sd": asdict(self.survey_sd),
            "ticket_rates": dict(zip(self.ticket_stages, self.ticket_rates, strict=True)),
            "dirt": asdict(self.dirt),
            # only when planted, so the default ground truth stays as it was
            **({"changes": [c.to_json() for c in self.changes]} if self.changes else {}),
        }


DEFAULT_SCENARIO = Scenario(
    personas=(
        Persona(
            id="it_admin",
            share=0.25,
            profiles=(Profile(1.0, IT_ADMIN_ROLES, (20, 5000)),),
            advance=(0.55, 0.85, 0.60, 0.55, 0.45),
            median_hours=(24.0, 6.0, 36.0, 48.0, 72.0),
            skip_onboard=0.05,
            skip_evaluate=0.20,
            loop=0.15,
            sales_assisted=0.40,
            survey_means=SurveyMeans(csat=3.6, ces=4.8, nps=8.0),
            noise_events=10.0,
        ),
        Persona(
            id="developer",
            share=0.35,
            profiles=(
                Profile(
                    1.0,
                    (
                        "Software Engineer",
                        "Senior Software Engineer",
                        "Backend Developer",
                        "Frontend Developer",
                        "Data Engineer",
                        "DevOps Engineer",
                    ),
                    (5, 5000),
                ),
            ),
            advance=(0.75, 0.90, 0.75, 0.35, 0.30),
            median_hours=(12.0, 1.0, 12.0, 72.0, 48.0),
            skip_onboard=0.25,
            skip_evaluate=0.60,
            loop=0.10,
            sales_assisted=0.10,
            survey_means=SurveyMeans(csat=4.2, ces=5.5, nps=8.5),
            noise_events=14.0,
        ),
        Persona(
            id="team_lead",
            share=0.20,
            profiles=(Profile(1.0, TEAM_LEAD_ROLES, (50, 5000)),),
            advance=(0.45, 0.70, 0.55, 0.75, 0.55),
            median_hours=(48.0, 12.0, 48.0, 24.0, 96.0),
            skip_onboard=0.10,
            skip_evaluate=0.05,
            loop=0.30,
            sales_assisted=0.80,
            survey_means=SurveyMeans(csat=3.4, ces=4.5, nps=7.0),
            noise_events=7.0,
        ),
        Persona(
            id="unassigned",
            share=0.20,
            profiles=(
                Profile(
                    0.7,
                    (
                        "Student",
                        "Consultant",
                        "Marketing Manager",
                        "Marketing Specialist",
                        "Founder",
                        "Analyst",
                        "Product Manager",
                    ),
                    (1, 2000),
                ),
                Profile(0.3, TEAM_LEAD_ROLES, (2, 49)),
            ),
            advance=(0.35, 0.60, 0.40, 0.30, 0.20),
            median_hours=(36.0, 12.0, 48.0, 72.0, 96.0),
            skip_onboard=0.10,
            skip_evaluate=0.30,
            loop=0.20,
            sales_assisted=0.30,
            survey_means=SurveyMeans(csat=3.8, ces=5.0, nps=7.5),
            noise_events=8.0,
        ),
    )
)
"""The scenario ``journey demo`` generates."""
