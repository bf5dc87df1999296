"""Simulate one chunk of persons: CRM attributes, latent journeys and every emitted activity.

A journey is a chain over the designed path. Each person reaches stage k+1 from stage k with
the persona's probability (or a planted change's, by entry date; see
:class:`~journey_mining.demo.scenario.PlantedChange`), after a lognormal delay (clipped), so
the latent entry times are ``T0 <= T1 <= ... <= T5``. The stage a person is in lasts until
the next latent entry time (the visit), and every activity of a visit is placed strictly inside
it, at least 5% of the visit away from its ends: the events of one stage never interleave with
the next stage's.
All work is vectorised over the persons of a chunk; Python loops run over event kinds (and
planted changes) only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from journey_mining.demo.scenario import (
    STAGES,
    SURVEY_RANGE,
    SURVEY_STAGE,
    TRANSITIONS,
    Scenario,
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]

DAY: Final = 86_400


@dataclass(frozen=True)
class ProductEvent:
    """A product event kind: canonical name, call type, page name and stage (-1: none)."""

    name: str
    kind: str
    page: str | None
    stage: int


PRODUCT_EVENTS: Final = (
    ProductEvent("Page Viewed", "page", "Home", 0),
    ProductEvent("Page Viewed", "page", "Features", 0),
    ProductEvent("Page Viewed", "page", "Blog", 0),
    ProductEvent("Page Viewed", "page", "Pricing", 4),
    ProductEvent("Page Viewed", "page", "Docs", -1),
    ProductEvent("Signed Up", "track", None, 1),
    ProductEvent("identify", "identify", None, -1),
    ProductEvent("alias", "alias", None, -1),
    ProductEvent("Onboarding Completed", "track", None, 2),
    ProductEvent("Project Created", "track", None, 2),
    ProductEvent("Teammate Invited", "track", None, 3),
    ProductEvent("Report Shared", "track", None, 3),
    ProductEvent("Report Shared", "track", None, -1),
    ProductEvent("Subscription Started", "track", None, 5),
    ProductEvent("Dashboard Viewed", "track", None, -1),
    ProductEvent("Help Article Viewed", "track", None, -1),
    ProductEvent("Settings Updated", "track", None, -1),
    ProductEvent("test_event", "track", None, -1),
    ProductEvent("btn_clk_v2", "track", None, -1),
)
(
    HOME,
    FEATURES,
    BLOG,
    PRICING,
    DOCS,
    SIGNED_UP,
    IDENTIFY,
    ALIAS,
    ONBOARDING_COMPLETED,
    PROJECT_CREATED,
    TEAMMATE_INVITED,
    REPORT_SHARED,
    REPORT_SHARED_ALONE,
    SUBSCRIPTION_STARTED,
    DASHBOARD_VIEWED,
    HELP_ARTICLE_VIEWED,
    SETTINGS_UPDATED,
    TEST_EVENT,
    BTN_CLK_V2,
) = range(len(PRODUCT_EVENTS))
UNKNOWN_EVENTS: Final = (TEST_EVENT, BTN_CLK_V2)


@dataclass(frozen=True)
class CrmActivity:
    """A CRM activity kind: HubSpot's type, the export's channel and the stage (-1: none)."""

    hubspot_type: str
    canonical: str
    channel: str
    stage: int


CRM_ACTIVITIES: Final = (
    CrmActivity("Marketing Email Sent", "email_sent", "email", -1),
    CrmActivity("Marketing Email Opened", "email_opened", "email", -1),
    CrmActivity("Marketing Email Clicked", "email_clicked", "email", 0),
    CrmActivity("Sales Call", "call", "sales", 4),
    CrmActivity("Meeting", "meeting", "sales", 4),
    CrmActivity("Demo", "demo", "sales", 4),
    CrmActivity("Ticket Opened", "ticket_opened", "support", -1),
    CrmActivity("Ticket Closed", "ticket_closed", "support", -1),
)
EMAIL_SENT, EMAIL_OPENED, EMAIL_CLICKED, CALL, MEETING, DEMO, TICKET_OPENED, TICKET_CLOSED = range(
    len(CRM_ACTIVITIES)
)

DEAL_STAGES: Final = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "contractsent",
    "closedwon",
    "closedlost",
)
CLOSED_WON: Final = 4
CLOSED_LOST: Final = 5
SURVEYS: Final = ("csat", "ces", "nps")

_FIRST_NAMES: Final = (
    "Jane", "John", "Amara", "Luis", "Mei", "Noah", "Priya", "Omar", "Sofia", "Lukas",
    "Aiko", "Kwame", "Elena", "Mateo", "Freya", "Ravi", "Chloe", "Ivan", "Zara", "Tomas",
)  # fmt: skip
_LAST_NAMES: Final = (
    "Doe", "Smith", "Okafor", "Garcia", "Chen", "Muller", "Patel", "Haddad", "Rossi", "Novak",
    "Tanaka", "Mensah", "Petrova", "Silva", "Larsen", "Iyer", "Martin", "Volkov", "Khan", "Berg",
)  # fmt: skip
_COMPANIES: Final = (
    "Globex", "Initech", "Hooli", "Vandelay", "Umbrella", "Soylent", "Stark", "Wayne", "Acmecorp",
    "Cyberdyne", "Tyrell", "Wonka", "Gringotts", "Oscorp", "Pied Piper", "Dunder Mifflin",
    "Monsters", "Aperture", "Black Mesa", "Massive Dynamic",
)  # fmt: skip
_COMPANY_SUFFIXES: Final = ("Labs", "Systems", "Group", "Analytics", "Logistics")
_BLOG: Final = ("why-spreadsheets-fail", "team-dashboards", "sso-for-startups", "kpi-trees")
_DOCS: Final = ("connect-postgres", "api-keys", "sharing-reports", "sso-setup")
_TICKET_SUBJECTS: Final = (
    "Cannot connect data source",
    "SSO login fails",
    "Invite email not received",
    "Chart shows wrong totals",
    "Billing question",
)
_COMMENTS: Final = {
    "low": (
        "Setup took far too long",
        "Could not connect our database",
        "Too many steps, and the docs did not help",
        "Pricing is confusing",
    ),
    "mid": ("It works, mostly", "Okay, but slow to load", "Fine once it was set up"),
    "high": (
        "Great, the team loved the shared reports",
        "Easy to set up",
        "Exactly what we needed",
        "Support was quick and helpful",
    ),
}


@dataclass(frozen=True)
class SimulatedChunk:
    """Everything one chunk of persons emits, before censoring and landing formats.

    ``persons`` has one row per person (``p`` is the index within the chunk), the activity
    frames one row per activity. Product ``ts`` is epoch milliseconds, CRM ``ts`` epoch
    seconds; ``stage`` is the index in :data:`~journey_mining.demo.scenario.STAGES` or -1.
    """

    persons: pl.DataFrame
    product: pl.DataFrame
    activities: pl.DataFrame
    deals: pl.DataFrame
    surveys: pl.DataFrame


def _choice(rng: np.random.Generator, n: int, options: tuple[str, ...]) -> pl.Series:
    return pl.Series(options, dtype=pl.String).gather(rng.integers(0, len(options), n))


def _fmt(template: str, *columns: npt.ArrayLike | pl.Series) -> pl.Series:
    frame = pl.DataFrame({f"c{i}": c for i, c in enumerate(columns)})
    return frame.select(pl.format(template, *frame.columns)).to_series()


class _Emitter:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.product: list[pl.DataFrame] = []
        self.activities: list[pl.DataFrame] = []
        self.deals: list[pl.DataFrame] = []
        self.surveys: list[pl.DataFrame] = []

    def ms(self, seconds: I64) -> I64:
        return seconds * 1000 + self.rng.integers(0, 1000, len(seconds))

    def within(self, a: I64, b: I64, lo: float, hi: float) -> I64:
        frac = self.rng.uniform(lo, hi, len(a))
        return a + np.floor((b - a) * frac).astype(np.int64)

    def emit(
        self,
        p: I64,
        ts_ms: I64,
        code: int | I64,
        props: str | pl.Series,
        *,
        device: int | I64 = 1,
        identified: bool = True,
    ) -> None:
        n = len(p)
        frame = pl.DataFrame(
            {
                "p": p.astype(np.int32),
                "ts": ts_ms.astype(np.int64),
                "code": np.broadcast_to(np.asarray(code, dtype=np.uint8), n).copy(),
                "device": np.broadcast_to(np.asarray(device, dtype=np.int8), n).copy(),
                "identified": np.full(n, identified),
            }
        )
        value = props if isinstance(props, pl.Series) else pl.lit(props, dtype=pl.String)
        self.product.append(frame.with_columns(props=value))

    def activity(
        self, p: I64, ts: I64, code: int | I64, subject: str | pl.Series, visit: int
    ) -> None:
        n = len(p)
        frame = pl.DataFrame(
            {
                "p": p.astype(np.int32),
                "ts": ts.astype(np.int64),
                "code": np.broadcast_to(np.asarray(code, dtype=np.uint8), n).copy(),
                "visit": np.full(n, visit, dtype=np.int8),
            }
        )
        value = subject if isinstance(subject, pl.Series) else pl.lit(subject, dtype=pl.String)
        self.activities.append(frame.with_columns(subject=value))

    def deal(self, p: I64, ts: I64, stage: int, amount: I64) -> None:
        self.deals.append(
            pl.DataFrame(
                {
                    "p": p.astype(np.int32),
                    "ts": ts.astype(np.int64),
                    "deal_stage": np.full(len(p), stage, dtype=np.uint8),
                    "amount": amount.astype(np.int64),
                }
            )
        )

    def survey(
        self, p: I64, ts: I64, kind: int, score: I64, *, comment: pl.Series, channel: pl.Series
    ) -> None:
        self.surveys.append(
            pl.DataFrame(
                {
                    "p": p.astype(np.int32),
                    "ts": ts.astype(np.int64),
                    "survey": np.full(len(p), kind, dtype=np.uint8),
                    "score": score.astype(np.int8),
                }
            ).with_columns(comment=comment, channel=channel)
        )


def _lognormal_seconds(rng: np.random.Generator, median_hours: F64, scenario: Scenario) -> I64:
    z = rng.standard_normal(median_hours.shape)
    seconds = np.round(median_hours * 3600.0 * np.exp(scenario.sigma * z))
    clipped = np.clip(seconds, scenario.min_delay_seconds, scenario.max_delay_seconds)
    return clipped.astype(np.int64)


def _attributes(
    rng: np.random.Generator, persona: I64, scenario: Scenario
) -> tuple[pl.Series, I64]:
    n = len(persona)
    role = np.empty(n, dtype=object)
    size = np.zeros(n, dtype=np.int64)
    for k, spec in enumerate(scenario.personas):
        idx = np.flatnonzero(persona == k)
        weights = np.array([pr.weight for pr in spec.profiles])
        which = rng.choice(len(spec.profiles), size=len(idx), p=weights / weights.sum())
        for j, profile in enumerate(spec.profiles):
            sub = idx[which == j]
            roles = np.array(profile.roles, dtype=object)
            role[sub] = roles[rng.integers(0, len(roles), len(sub))]
            low, high = profile.company_size
            draw = np.exp(rng.uniform(np.log(low), np.log(high + 1), len(sub)))
            size[sub] = np.clip(np.floor(draw), low, high).astype(np.int64)
    return pl.Series("role", role.tolist(), dtype=pl.String), size


@dataclass(frozen=True)
class _Journeys:
    """The latent journeys of a chunk: outcomes per person and the stage entry times (s)."""

    persona: I64
    level: I64
    skip_onboard: Bool
    skip_evaluate: Bool
    loop: Bool
    sales: Bool
    signed_up: Bool
    mobile: Bool
    second_device: Bool
    lead: Bool
    t: tuple[I64, I64, I64, I64, I64, I64, I64]
    loop_t: tuple[I64, I64]

    @property
    def every(self) -> I64:
        return np.arange(len(self.level), dtype=np.int64)

    @property
    def activate_end(self) -> I64:
        return np.where(self.loop, self.loop_t[0], self.t[4])

    @property
    def last_end(self) -> I64:
        """The end of the visit of the furthest latent stage."""
        return np.choose(self.level, self.t[1:])

    def visits(self) -> tuple[tuple[Bool, I64, I64], ...]:
        """(emitted, start, end) of the first visit of sign_up, onboard, …, purchase."""
        t, level = self.t, self.level
        return (
            (level >= 1, t[1], t[2]),
            ((level >= 2) & ~self.skip_onboard, t[2], t[3]),
            (level >= 3, t[3], self.activate_end),
            ((level >= 4) & ~self.skip_evaluate, t[4], t[5]),
            (level >= 5, t[5], t[6]),
        )


def _advance(persona: I64, t0: I64, scenario: Scenario) -> F64:
    """Each person's advance probability per transition: the persona's, or a planted change's
    for those entering on or after its date (later changes override earlier ones)."""
    advance = np.asarray([p.advance for p in scenario.personas], dtype=np.float64)[persona]
    index = {p.id: k for k, p in enumerate(scenario.personas)}
    for change in sorted(scenario.changes, key=lambda c: c.effective):
        entered = (persona == index[change.persona]) & (t0 >= change.effective_s)
        advance[entered, TRANSITIONS.index(change.transition)] = change.advance
    return advance


def _journeys(
    rng: np.random.Generator, n: int, start_s: int, cutoff_s: int, scenario: Scenario
) -> _Journeys:
    personas = scenario.personas
    shares = np.array([p.share for p in personas])
    persona = rng.choice(len(personas), size=n, p=shares / shares.sum()).astype(np.int64)

    def chance(values: list[float], draws: F64) -> Bool:
        return draws < np.asarray(values, dtype=np.float64)[persona]

    # The draws come in a fixed order; the outcomes that depend on the entry time (planted
    # changes) are decided once t0 is drawn, so a scenario without changes draws exactly as
    # before and gives byte-identical files.
    advance_draws = rng.random((n, 5))
    medians = np.asarray([p.median_hours for p in personas], dtype=np.float64)[persona]
    delays = _lognormal_seconds(rng, medians, scenario)
    loop_delays = _lognormal_seconds(rng, np.repeat(medians[:, 2:3], 2, axis=1), scenario)
    skip_onboard_draws = rng.random(n)
    skip_evaluate_draws = rng.random(n)
    loop_draws = rng.random(n)
    sales_draws = rng.random(n)
    dwell = np.round(rng.uniform(1.0, scenario.purchase_dwell_hours, n) * 3600).astype(np.int64)
    t0 = start_s + np.floor(rng.random(n) * (cutoff_s - start_s)).astype(np.int64)

    advance = _advance(persona, t0, scenario)
    level = np.cumprod(advance_draws < advance, axis=1).sum(axis=1).astype(np.int64)
    skip_onboard = (level >= 3) & chance([p.skip_onboard for p in personas], skip_onboard_draws)
    skip_evaluate = (level >= 5) & chance([p.skip_evaluate for p in personas], skip_evaluate_draws)
    loop = (level >= 3) & ~skip_onboard & chance([p.loop for p in personas], loop_draws)
    sales = chance([p.sales_assisted for p in personas], sales_draws)

    t1 = t0 + delays[:, 0]
    t2 = t1 + delays[:, 1]
    t3 = t2 + delays[:, 2]
    tl1 = t3 + loop_delays[:, 0] * loop
    tl2 = tl1 + loop_delays[:, 1] * loop
    t4 = tl2 + delays[:, 3]
    t5 = t4 + delays[:, 4]
    signed_up = level >= 1
    return _Journeys(
        persona=persona,
        level=level,
        skip_onboard=skip_onboard,
        skip_evaluate=skip_evaluate,
        loop=loop,
        sales=sales,
        signed_up=signed_up,
        mobile=signed_up & (rng.random(n) < scenario.mobile_share),
        second_device=signed_up & (rng.random(n) < scenario.second_device_share),
        lead=~signed_up | (rng.random(n) < scenario.lead_share_of_sign_ups),
        t=(t0, t1, t2, t3, t4, t5, t5 + dwell),
        loop_t=(tl1, tl2),
    )


def simulate_chunk(
    rng: np.random.Generator,
    n: int,
    first_person: int,
    *,
    start_s: int,
    cutoff_s: int,
    scenario: Scenario,
) -> SimulatedChunk:
    """Draw ``n`` persons (global indices from ``first_person``) and all their activities.

    Entry times are uniform over ``[start_s, cutoff_s)``; nothing is censored yet.
    """
    j = _journeys(rng, n, start_s, cutoff_s, scenario)
    em = _Emitter(rng)
    _discover(em, j, start_s)
    _sign_up_and_onboard(em, j, scenario)
    _activate_evaluate_purchase(em, j)
    _noise(em, j, scenario)
    _surveys_and_tickets(em, j, scenario)
    persons = _persons(rng, j, first_person, cutoff_s, scenario)

    def stacked(parts: list[pl.DataFrame]) -> pl.DataFrame:
        return pl.concat(parts, how="vertical", rechunk=True)

    stage_of_product = np.array([e.stage for e in PRODUCT_EVENTS], dtype=np.int8)
    stage_of_activity = np.array([a.stage for a in CRM_ACTIVITIES], dtype=np.int8)
    product = stacked(em.product)
    product = product.with_columns(
        stage=pl.Series(stage_of_product[product["code"].to_numpy()], dtype=pl.Int8)
    )
    activities = stacked(em.activities)
    activities = activities.with_columns(
        stage=pl.Series(stage_of_activity[activities["code"].to_numpy()], dtype=pl.Int8)
    )
    return SimulatedChunk(
        persons=persons,
        product=product,
        activities=activities,
        deals=stacked(em.deals),
        surveys=stacked(em.surveys),
    )


def _persons(
    rng: np.random.Generator, j: _Journeys, first_person: int, cutoff_s: int, scenario: Scenario
) -> pl.DataFrame:
    n = len(j.level)
    t0, t1 = j.t[0], j.t[1]
    role, size = _attributes(rng, j.persona, scenario)
    platform = np.where(j.mobile, np.where(rng.random(n) < 0.6, "ios", "android"), "web")
    has_pid = j.signed_up & (rng.random(n) < scenario.product_user_id_share)
    first = rng.integers(0, len(_FIRST_NAMES), n)
    last = rng.integers(0, len(_LAST_NAMES), n)
    company = rng.integers(0, len(_COMPANIES), n)
    suffix = rng.integers(0, len(_COMPANY_SUFFIXES), n)
    created_offset = rng.integers(3600, 7 * DAY, n)
    signed_up_at = np.minimum(t1 + rng.integers(1, 30, n), cutoff_s - 1)
    return pl.DataFrame(
        {
            "p": j.every.astype(np.int32),
            "person": j.every + first_person,
            "persona": j.persona.astype(np.int8),
            "level": j.level.astype(np.int8),
            "signed_up": j.signed_up,
            "sales": j.sales,
            "mobile": j.mobile,
            "second_device": j.second_device,
            "lead": j.lead,
            "has_product_user_id": has_pid,
            "platform": platform,
            "created_at": np.where(j.lead, t0 - created_offset, signed_up_at),
            "first_name": pl.Series(_FIRST_NAMES).gather(first),
            "last_name": pl.Series(_LAST_NAMES).gather(last),
            "company_base": pl.Series(_COMPANIES).gather(company),
            "company_suffix": pl.Series(_COMPANY_SUFFIXES).gather(suffix),
            "role": role,
            "company_size": size,
        }
    )


def _discover(em: _Emitter, j: _Journeys, start_s: int) -> None:
    rng = em.rng
    t0, t1 = j.t[0], j.t[1]
    leads = j.every[j.lead]
    room = np.minimum(2 * DAY, t0[leads] - start_s)
    sent = t0[leads] - np.floor(room * rng.uniform(0.5, 1.0, len(leads))).astype(np.int64)
    opened = em.within(sent, t0[leads], 0.2, 0.8)
    for code, at in ((EMAIL_SENT, sent), (EMAIL_OPENED, opened), (EMAIL_CLICKED, t0[leads])):
        em.activity(leads, at, code, _choice(rng, len(leads), _EMAIL_SUBJECTS), 0)
    again = j.every[~j.signed_up & (rng.random(len(j.level)) < 0.3)]
    again_at = em.within(t0[again], t1[again], 0.1, 0.9)
    em.activity(again, again_at, EMAIL_CLICKED, _choice(rng, len(again), _EMAIL_SUBJECTS), 0)

    users = j.every[j.signed_up]
    views = rng.integers(1, 4, len(users))
    views = np.where(j.second_device[users], np.maximum(views, 2), views)
    first_at = np.where(j.lead[users], em.within(t0[users], t1[users], 0.05, 0.3), t0[users])
    slots = (
        (users, first_at, np.where(j.second_device[users], 2, 1)),
        (users[views >= 2], em.within(t0[users], t1[users], 0.35, 0.6)[views >= 2], 1),
        (users[views >= 3], em.within(t0[users], t1[users], 0.65, 0.95)[views >= 3], 1),
    )
    for who, at, device in slots:
        page = rng.choice([HOME, FEATURES, BLOG], size=len(who), p=[0.5, 0.3, 0.2])
        em.emit(who, em.ms(at), page, _page_props(rng, page), device=device, identified=False)


_EMAIL_SUBJECTS: Final = (
    "See what your team is missing",
    "5 dashboards every team lead needs",
    "Your free 30-day trial is waiting",
)
_PAGE_PATHS: Final = {
    HOME: "/",
    FEATURES: "/features",
    PRICING: "/pricing",
}


def _page_props(rng: np.random.Generator, page: npt.NDArray[np.int64]) -> pl.Series:
    slug_blog = _choice(rng, len(page), _BLOG)
    slug_docs = _choice(rng, len(page), _DOCS)
    frame = pl.DataFrame({"page": page, "blog": slug_blog, "docs": slug_docs})
    path = (
        pl.when(pl.col("page") == BLOG)
        .then(pl.lit("/blog/") + pl.col("blog"))
        .when(pl.col("page") == DOCS)
        .then(pl.lit("/docs/") + pl.col("docs"))
        .otherwise(pl.col("page").replace_strict(_PAGE_PATHS, default=None, return_dtype=pl.String))
    )
    return frame.select(
        pl.format('"path":"{}","url":"https://acme.example{}"', path, path)
    ).to_series()


def _sign_up_and_onboard(em: _Emitter, j: _Journeys, scenario: Scenario) -> None:
    rng = em.rng
    t1, t2, t3 = j.t[1], j.t[2], j.t[3]
    users = j.every[j.signed_up]
    signed = t1[users] * 1000 + rng.integers(0, 500, len(users))
    method = _choice(rng, len(users), ("email", "google", "microsoft"))
    em.emit(users, signed, SIGNED_UP, _fmt('"plan":"trial","method":"{}"', method))
    identify = signed + rng.integers(1, 400, len(users))
    em.emit(users, identify, IDENTIFY, "")
    two = users[j.second_device[users]]
    alias = identify[j.second_device[users]] + rng.integers(1, 400, len(two))
    em.emit(two, alias, ALIAS, "", device=2)

    onboard = j.every[(j.level >= 2) & ~j.skip_onboard]
    completed = em.ms(t2[onboard])
    steps = _fmt('"steps_completed":{}', rng.integers(3, 7, len(onboard)))
    em.emit(onboard, completed, ONBOARDING_COMPLETED, steps)
    project = onboard[rng.random(len(onboard)) < 0.85]
    tie = rng.random(len(project)) < scenario.dirt.equal_timestamps
    later = em.ms(em.within(t2[project], t3[project], 0.05, 0.45))
    tied_at = np.where(tie, completed[np.searchsorted(onboard, project)], later)
    em.emit(project, tied_at, PROJECT_CREATED, _project_props(rng, len(project)))


def _activate_evaluate_purchase(em: _Emitter, j: _Journeys) -> None:
    rng = em.rng
    t3, t4, t5, t6 = j.t[3], j.t[4], j.t[5], j.t[6]
    active = j.every[j.level >= 3]
    invite_first = rng.random(len(active)) < 0.5
    entry = em.ms(t3[active])
    other = em.ms(em.within(t3[active], j.activate_end[active], 0.05, 0.45))
    both = rng.random(len(active)) < 0.5
    invites = invite_first | both
    shares = ~invite_first | both
    roles = ('"invitee_role":"editor"', '"invitee_role":"viewer"')
    invite_at = np.where(invite_first, entry, other)[invites]
    em.emit(active[invites], invite_at, TEAMMATE_INVITED, _choice(rng, len(invite_at), roles))
    share_at = np.where(invite_first, other, entry)[shares]
    em.emit(active[shares], share_at, REPORT_SHARED, _report_props(rng, len(share_at), 1))

    loops = j.every[j.loop]
    tl1, tl2 = j.loop_t[0][loops], j.loop_t[1][loops]
    em.emit(loops, em.ms(tl1), PROJECT_CREATED, _project_props(rng, len(loops)))
    em.emit(loops, em.ms(tl2), REPORT_SHARED, _report_props(rng, len(loops), 1))

    evaluating = j.every[(j.level >= 4) & ~j.skip_evaluate]
    by_sales = evaluating[j.sales[evaluating]]
    self_serve = evaluating[~j.sales[evaluating]]
    touch = rng.choice([DEMO, MEETING, CALL], size=len(by_sales), p=[0.5, 0.3, 0.2])
    em.activity(by_sales, t4[by_sales], touch, _choice(rng, len(by_sales), _SALES_SUBJECTS), 4)
    pricing = _page_props(rng, np.full(len(self_serve), PRICING))
    em.emit(self_serve, em.ms(t4[self_serve]), PRICING, pricing)
    browse = evaluating[rng.random(len(evaluating)) < 0.4]
    browse_at = em.ms(em.within(t4[browse], t5[browse], 0.05, 0.45))
    em.emit(browse, browse_at, PRICING, _page_props(rng, np.full(len(browse), PRICING)))
    amount = rng.integers(24, 600, len(j.level)) * 100
    for stage, (lo, hi) in enumerate(((0.05, 0.1), (0.1, 0.2), (0.2, 0.3))):
        em.deal(by_sales, em.within(t4[by_sales], t5[by_sales], lo, hi), stage, amount[by_sales])
    lost = by_sales[(j.level[by_sales] == 4) & (rng.random(len(by_sales)) < 0.7)]
    em.deal(lost, em.within(t4[lost], t5[lost], 0.5, 0.95), CLOSED_LOST, amount[lost])

    buyers = j.every[j.level >= 5]
    assisted_mask = j.sales[buyers] & ~j.skip_evaluate[buyers]
    assisted = buyers[assisted_mask]
    em.deal(assisted, em.within(t4[assisted], t5[assisted], 0.3, 0.45), 3, amount[assisted])
    em.deal(assisted, t5[assisted], CLOSED_WON, amount[assisted])
    later = em.ms(em.within(t5[buyers], t6[buyers], 0.05, 0.2))
    subscribed = np.where(assisted_mask, later, em.ms(t5[buyers]))
    props = _fmt(
        '"plan":"{}","seats":{},"billing":"{}"',
        np.where(rng.random(len(buyers)) < 0.7, "team", "business"),
        rng.integers(3, 60, len(buyers)),
        np.where(rng.random(len(buyers)) < 0.6, "annual", "monthly"),
    )
    em.emit(buyers, subscribed, SUBSCRIPTION_STARTED, props)


def _noise(em: _Emitter, j: _Journeys, scenario: Scenario) -> None:
    rng = em.rng
    t1, last_end = j.t[1], j.last_end
    users = j.every[j.signed_up]
    noise_mean = np.asarray([p.noise_events for p in scenario.personas])[j.persona[users]]
    who = np.repeat(users, rng.poisson(noise_mean))
    at = em.ms(em.within(t1[who] + 60, last_end[who], 0.0, 1.0))
    kind = rng.choice(
        [DASHBOARD_VIEWED, HELP_ARTICLE_VIEWED, SETTINGS_UPDATED, DOCS, REPORT_SHARED_ALONE],
        size=len(who),
        p=[0.4, 0.15, 0.1, 0.2, 0.15],
    )
    for code in np.unique(kind):
        sel = kind == code
        em.emit(who[sel], at[sel], int(code), _noise_props(rng, int(code), int(sel.sum())))

    odd = users[rng.random(len(users)) < scenario.dirt.unknown_events]
    odd_at = em.ms(em.within(t1[odd] + 60, last_end[odd], 0.0, 1.0))
    test = rng.random(len(odd)) < 0.5
    em.emit(odd[test], odd_at[test], TEST_EVENT, '"debug":true')
    em.emit(odd[~test], odd_at[~test], BTN_CLK_V2, '"button":"upgrade_banner","variant":"b"')


_SALES_SUBJECTS: Final = ("Product demo", "Pricing call", "Security review", "Intro meeting")


def _project_props(rng: np.random.Generator, n: int) -> pl.Series:
    template = _choice(rng, n, ("blank", "marketing", "sales", "finance"))
    return _fmt('"project_id":"p-{}","template":"{}"', rng.integers(10**5, 10**6, n), template)


def _report_props(rng: np.random.Generator, n: int, minimum: int) -> pl.Series:
    recipients = rng.integers(minimum, 9, n) if minimum else np.zeros(n, dtype=np.int64)
    return _fmt('"recipients":{},"report_id":"r-{}"', recipients, rng.integers(10**5, 10**6, n))


def _noise_props(rng: np.random.Generator, code: int, n: int) -> pl.Series:
    if code == DASHBOARD_VIEWED:
        return _fmt('"dashboard_id":"d-{}"', rng.integers(1, 400, n))
    if code == HELP_ARTICLE_VIEWED:
        return _fmt('"article":"{}"', _choice(rng, n, _DOCS))
    if code == SETTINGS_UPDATED:
        return _fmt('"setting":"{}"', _choice(rng, n, ("timezone", "notifications", "sso")))
    if code == DOCS:
        return _page_props(rng, np.full(n, DOCS))
    return _report_props(rng, n, 0)


def _surveys_and_tickets(em: _Emitter, j: _Journeys, scenario: Scenario) -> None:
    rng = em.rng
    n = len(j.level)
    visits = j.visits()
    for k, rate in enumerate(scenario.ticket_rates):
        emitted, start, end = visits[k]
        who = j.every[emitted & (rng.random(n) < rate)]
        opened = em.within(start[who], end[who], 0.1, 0.4)
        closed = em.within(start[who], end[who], 0.45, 0.9)
        subject = _choice(rng, len(who), _TICKET_SUBJECTS)
        em.activity(who, opened, TICKET_OPENED, subject, k + 1)
        em.activity(who, closed, TICKET_CLOSED, subject, k + 1)

    for kind, name in enumerate(SURVEYS):
        emitted, start, end = visits[STAGES.index(SURVEY_STAGE[name]) - 1]
        rate = getattr(scenario.survey_response, name)
        who = j.every[emitted & (rng.random(n) < rate)]
        at = em.within(start[who], end[who], 0.5, 0.95)
        means = np.asarray([getattr(p.survey_means, name) for p in scenario.personas])
        sd = getattr(scenario.survey_sd, name)
        low, high = SURVEY_RANGE[name]
        drawn = np.round(rng.normal(means[j.persona[who]], sd))
        score = np.clip(drawn, low, high).astype(np.int64)
        band = np.where(
            score <= low + 0.4 * (high - low),
            0,
            np.where(score >= low + 0.75 * (high - low), 2, 1),
        )
        comment = pl.Series(values=[None] * len(who), dtype=pl.String)
        for b, key in enumerate(("low", "mid", "high")):
            sel = (band == b) & (rng.random(len(who)) < 0.6)
            texts = _choice(rng, int(sel.sum()), _COMMENTS[key])
            comment = comment.scatter(np.flatnonzero(sel), texts)
        channel = pl.Series(np.where(j.mobile[who], "app", "email"), dtype=pl.String)
        em.survey(who, at, kind, score, comment=comment, channel=channel)


__all__ = [
    "CRM_ACTIVITIES",
    "DEAL_STAGES",
    "PRODUCT_EVENTS",
    "STAGES",
    "SURVEYS",
    "SimulatedChunk",
    "simulate_chunk",
]
