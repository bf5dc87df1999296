"""The ground truth of one chunk: each person's emitted stage path, and the contact rows.

The path is read off the emitted (censored) stage events, not the latent chain, so it is what
a correct pipeline must reconstruct: consecutive events of one stage collapse into one visit.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from journey_mining.demo.scenario import STAGES, Scenario
from journey_mining.demo.simulate import CLOSED_WON, SimulatedChunk

UTC_MS = pl.Datetime("ms", "UTC")
_STAGE_NAMES = dict(enumerate(STAGES))


def censor(chunk: SimulatedChunk, cutoff_s: int) -> SimulatedChunk:
    """Drop every activity at or after ``cutoff_s`` (the end of the last day)."""
    return SimulatedChunk(
        persons=chunk.persons,
        product=chunk.product.filter(pl.col("ts") < cutoff_s * 1000),
        activities=chunk.activities.filter(pl.col("ts") < cutoff_s),
        deals=chunk.deals.filter(pl.col("ts") < cutoff_s),
        surveys=chunk.surveys.filter(pl.col("ts") < cutoff_s),
    )


def stage_events(chunk: SimulatedChunk) -> pl.DataFrame:
    """Every emitted event that puts a person in a stage: ``p``, ``ts`` (ms), ``stage``."""
    return pl.concat(
        [
            chunk.product.filter(pl.col("stage") >= 0).select("p", "ts", "stage"),
            chunk.activities.filter(pl.col("stage") >= 0).select("p", pl.col("ts") * 1000, "stage"),
            chunk.deals.filter(pl.col("deal_stage") == CLOSED_WON).select(
                "p", pl.col("ts") * 1000, stage=pl.lit(5, pl.Int8)
            ),
        ]
    ).sort("p", "ts", "stage")


def person_truth(
    chunk: SimulatedChunk,
    people: pl.DataFrame,
    *,
    scenario: Scenario,
    end_s: int,
) -> pl.DataFrame:
    """One row per person: identities, persona, emitted stage path and when stages were reached.

    ``is_linked_to_contact`` is false for the few persons whose only activities are anonymous
    page views (their sign-up fell after the end): nothing on disk ties them to their contact.

    ``persons_on_disk`` is how many distinct persons the data can show for this one: 1 when
    every identifier is tied together (an identify), else the contact plus one anonymous
    visitor per device that never identified. Perfect stitching reproduces exactly this.

    ``end_s`` is the as-of instant (the last second of the last day); a window still open
    then marks the person as possibly still progressing.
    """
    events = stage_events(chunk)
    new_visit = (
        (pl.col("stage") != pl.col("stage").shift(1)) | (pl.col("p") != pl.col("p").shift(1))
    ).fill_null(value=True)
    paths = (
        events.filter(new_visit)
        .group_by("p", maintain_order=True)
        .agg(stage_path=pl.col("stage"), entered_ms=pl.col("ts").first())
    )
    firsts = events.group_by("p", "stage").agg(pl.col("ts").min())
    n = chunk.persons.height
    reached = np.full((n, len(STAGES)), -1, dtype=np.int64)
    reached[firsts["p"].to_numpy(), firsts["stage"].to_numpy()] = firsts["ts"].to_numpy()
    window_ms = scenario.window_days * 86_400 * 1000
    persona_names = {i: p.id for i, p in enumerate(scenario.personas)}

    devices = chunk.product.group_by("p").agg(
        has_user=pl.col("identified").any(),
        device1=(pl.col("device") == 1).any(),
        device2=(pl.col("device") == 2).any(),
    )
    base = chunk.persons.join(paths, on="p", how="left", maintain_order="left").join(
        devices, on="p", how="left", maintain_order="left"
    )
    furthest = pl.col("stage_path").list.max()
    skipped = pl.concat_list(
        [
            pl.when(pl.lit(pl.Series(reached[:, k] < 0)) & (furthest > k)).then(pl.lit(name))
            for k, name in enumerate(STAGES)
        ]
    ).list.drop_nulls()
    truth = pl.concat([base, people], how="horizontal").select(
        "contact_id",
        user_id=pl.when(pl.col("has_user")).then(pl.col("user_id")),
        anonymous_ids=pl.concat_list(
            pl.when(pl.col("device1")).then(pl.col("anon1")),
            pl.when(pl.col("device2")).then(pl.col("anon2")),
        ).list.drop_nulls(),
        email="email",
        persona=pl.col("persona").replace_strict(persona_names, return_dtype=pl.String),
        role="role",
        company_size="company_size",
        platform=pl.when(pl.col("has_user")).then(pl.col("platform")),
        has_product_user_id=pl.col("has_product_user_id") & pl.col("has_user").fill_null(False),
        sales_assisted=pl.col("sales") & pl.col("stage_path").list.contains(4),
        entered_at=pl.col("entered_ms").cast(UTC_MS),
        stage_path=pl.col("stage_path").list.eval(
            pl.element().replace_strict(_STAGE_NAMES, return_dtype=pl.String)
        ),
        furthest_stage=furthest.replace_strict(_STAGE_NAMES, return_dtype=pl.String),
        has_loop=pl.col("stage_path").list.len() > pl.col("stage_path").list.n_unique(),
        skipped_stages=skipped,
        window_open_at_end=(pl.col("entered_ms") + window_ms) > end_s * 1000,
        **{
            f"reached_{name}_at": pl.Series(reached[:, k])
            .set(pl.Series(reached[:, k] < 0), None)
            .cast(UTC_MS)
            for k, name in enumerate(STAGES)
        },
    )
    linked = pl.Series((base["has_user"].fill_null(value=False) | base["lead"]).to_numpy())
    return truth.with_columns(
        in_progress_at_end=pl.col("window_open_at_end") & (pl.col("furthest_stage") != "purchase"),
        is_linked_to_contact=linked,
        persons_on_disk=pl.when(pl.col("user_id").is_not_null())
        .then(1)
        .otherwise(1 + pl.col("anonymous_ids").list.len())
        .cast(pl.Int64),
    )


def contact_rows(persons: pl.DataFrame, people: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """The HubSpot contacts export rows of a chunk, in the contract's column order."""
    size = pl.col("company_size")
    lifecycle = (
        pl.when(pl.col("furthest_stage") == "purchase")
        .then(pl.lit("customer"))
        .when(pl.col("sales_assisted"))
        .then(pl.lit("opportunity"))
        .when(pl.col("furthest_stage") == "evaluate")
        .then(pl.lit("salesqualifiedlead"))
        .when(pl.col("furthest_stage") != "discover")
        .then(pl.lit("marketingqualifiedlead"))
        .otherwise(pl.lit("lead"))
    )
    frame = pl.concat(
        [
            persons.select(
                "first_name", "last_name", "company_base", "company_suffix", "created_at"
            ),
            people.select("contact_id", "crm_email"),
            truth.select(
                "user_id",
                "has_product_user_id",
                "role",
                "company_size",
                "furthest_stage",
                "sales_assisted",
            ),
        ],
        how="horizontal",
    )
    return frame.select(
        **{
            "Record ID": pl.col("contact_id"),
            "Email": pl.col("crm_email"),
            "First Name": pl.col("first_name"),
            "Last Name": pl.col("last_name"),
            "Company Name": pl.col("company_base") + pl.lit(" ") + pl.col("company_suffix"),
            "Job Title": pl.col("role"),
            "Number of Employees": size.cast(pl.String),
            "Segment": pl.when(size < 100)
            .then(pl.lit("SMB"))
            .when(size < 1000)
            .then(pl.lit("Mid-Market"))
            .otherwise(pl.lit("Enterprise")),
            "Lifecycle Stage": lifecycle,
            "Create Date": pl.from_epoch(pl.col("created_at"), time_unit="s").dt.strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "Product User ID": pl.when(pl.col("has_product_user_id")).then(pl.col("user_id")),
        }
    )
