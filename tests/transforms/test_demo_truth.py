"""The dbt marts on the demo month agree with the generator's per-person ground truth.

The truth (``ground_truth_persons.parquet``) knows each person's identifiers, persona, the
stage path they were simulated through (with its planted loops and skips) and when each stage
was reached. Nothing here re-derives those from the marts' own logic: each figure is compared
person by person.
"""

import polars as pl
import pytest

pytestmark = pytest.mark.slow

STAGES = ("discover", "sign_up", "onboard", "activate", "evaluate", "purchase")


def _register_truth(con, persons: pl.DataFrame) -> None:
    identifiers = pl.concat(
        [
            persons.select(
                "contact_id", identifier_type=pl.lit("contact_id"), identifier="contact_id"
            ),
            persons.select("contact_id", identifier_type=pl.lit("user_id"), identifier="user_id"),
            persons.explode("anonymous_ids").select(
                "contact_id", identifier_type=pl.lit("anonymous_id"), identifier="anonymous_ids"
            ),
        ]
    ).drop_nulls("identifier")
    con.register("truth_identifiers", identifiers.to_arrow())
    con.register(
        "truth",
        persons.with_columns(true_path=pl.col("stage_path").list.join(" > "))
        .drop("anonymous_ids", "stage_path", "skipped_stages")
        .to_arrow(),
    )


@pytest.fixture(scope="module")
def marts(demo_pipeline):
    con = demo_pipeline.connect()
    _register_truth(con, demo_pipeline.persons)
    yield con
    con.close()


@pytest.fixture(scope="module")
def journeys_of_contacts(marts) -> pl.DataFrame:
    """Each true person's journey, found through the person key that holds their contact id."""
    return marts.sql(
        "select truth.*, ids.person_key, j.persona_id, j.stage_path, j.status, j.attempt_number "
        "from truth "
        "join intermediate.int_identities_stitched as ids "
        "  on ids.identifier_type = 'contact_id' and ids.identifier = truth.contact_id "
        "left join marts.fct_journeys as j on j.person_key = ids.person_key"
    ).pl()


def test_stitched_person_count_equals_the_persons_the_data_can_show(marts, demo_pipeline):
    [(persons,)] = marts.execute("select count(*) from marts.dim_persons").fetchall()
    assert demo_pipeline.truth["persons_on_disk"] == demo_pipeline.persons["persons_on_disk"].sum()
    assert persons == demo_pipeline.truth["persons_on_disk"]
    # only the persons whose sign-up fell after the data's end are split, never more
    assert demo_pipeline.truth["persons_on_disk"] - demo_pipeline.truth["persons"] < 0.02 * len(
        demo_pipeline.persons
    )


def test_no_person_key_merges_two_true_persons_and_each_is_split_only_where_truth_says(marts):
    keyed = marts.sql(
        "select ti.contact_id, ids.person_key from truth_identifiers as ti "
        "left join intermediate.int_identities_stitched as ids using (identifier_type, identifier)"
    ).pl()
    assert keyed["person_key"].null_count() == 0, "a true identifier never reached the marts"
    merged = keyed.group_by("person_key").agg(pl.col("contact_id").n_unique().alias("n"))
    assert merged.filter(pl.col("n") > 1).height == 0
    split = keyed.group_by("contact_id").agg(pl.col("person_key").n_unique().alias("keys"))
    con_truth = marts.sql("select contact_id, persons_on_disk from truth").pl()
    compared = split.join(con_truth, on="contact_id")
    assert compared.height == con_truth.height
    assert compared.filter(pl.col("keys") != pl.col("persons_on_disk")).height == 0


def test_persona_agrees_with_truth_for_every_person(marts):
    assigned = marts.sql(
        "select truth.contact_id, truth.persona, coalesce(p.persona_id, 'unassigned') as got "
        "from truth "
        "join intermediate.int_identities_stitched as ids "
        "  on ids.identifier_type = 'contact_id' and ids.identifier = truth.contact_id "
        "left join intermediate.int_persons_assigned_to_personas as p "
        "  on p.person_key = ids.person_key"
    ).pl()
    assert assigned.height == marts.sql("select count(*) from truth").fetchall()[0][0]
    wrong = assigned.filter(pl.col("persona") != pl.col("got"))
    assert wrong.height == 0, wrong.head(5)
    assert assigned["persona"].n_unique() >= 4  # three personas and unassigned all occur


def test_every_linked_persons_stage_path_is_the_simulated_one(journeys_of_contacts):
    linked = journeys_of_contacts.filter(pl.col("persons_on_disk") == 1)
    with_path = linked.filter(pl.col("true_path").is_not_null())
    assert with_path.height > 0.5 * linked.height
    assert with_path["attempt_number"].max() == 1
    wrong = with_path.filter(
        pl.col("stage_path").is_null() | (pl.col("stage_path") != pl.col("true_path"))
    )
    assert wrong.height == 0, wrong.select("true_path", "stage_path").head(5)
    assert linked.filter(
        pl.col("true_path").is_null() & pl.col("stage_path").is_not_null()
    ).is_empty()


def test_every_planted_loop_and_skip_appears_in_fct_journeys(journeys_of_contacts, demo_pipeline):
    truth = demo_pipeline.persons.select("contact_id", "has_loop", "skipped_stages")
    got = journeys_of_contacts.filter(pl.col("stage_path").is_not_null()).select(
        "contact_id", stages=pl.col("stage_path").str.split(" > ")
    )
    compared = got.join(truth, on="contact_id").with_columns(
        looped=pl.col("stages").list.len() > pl.col("stages").list.n_unique(),
        furthest=pl.col("stages")
        .list.eval(pl.element().replace_strict(STAGES, list(range(len(STAGES)))))
        .list.max(),
    )
    assert compared.filter(pl.col("has_loop")).height > 0
    assert compared.filter(pl.col("looped") != pl.col("has_loop")).is_empty()
    for k, stage in enumerate(STAGES):
        skipped_in_mart = ~pl.col("stages").list.contains(stage) & (pl.col("furthest") > k)
        planted = pl.col("skipped_stages").list.contains(stage)
        assert compared.filter(skipped_in_mart != planted).is_empty(), stage
    planted_skips = compared.filter(pl.col("skipped_stages").list.len() > 0).height
    assert planted_skips > 0


def test_statuses_follow_the_simulated_outcome_and_window(journeys_of_contacts):
    expected = (
        pl.when(pl.col("furthest_stage") == "purchase")
        .then(pl.lit("converted"))
        .when(pl.col("window_open_at_end"))
        .then(pl.lit("in_progress"))
        .otherwise(pl.lit("dropped"))
    )
    judged = journeys_of_contacts.filter(pl.col("status").is_not_null()).with_columns(
        expected=expected
    )
    assert set(judged["status"]) == {"converted", "dropped", "in_progress"}
    assert judged.filter(pl.col("expected") != pl.col("status")).is_empty()


def test_first_reached_times_equal_the_simulated_ones(marts):
    reached = marts.sql(
        "select truth.contact_id, se.stage_id, se.first_reached_at, "
        + ", ".join(f"truth.reached_{s}_at" for s in STAGES)
        + " from truth "
        "join intermediate.int_identities_stitched as ids "
        "  on ids.identifier_type = 'contact_id' and ids.identifier = truth.contact_id "
        "join marts.fct_stage_events as se on se.person_key = ids.person_key "
        "where truth.persons_on_disk = 1"
    ).pl()
    assert reached.height > 0
    expected = (
        pl.coalesce(
            *(pl.when(pl.col("stage_id") == s).then(pl.col(f"reached_{s}_at")) for s in STAGES)
        )
        .dt.replace_time_zone(None)
        .cast(pl.Datetime("us"))
    )
    wrong = reached.filter(pl.col("first_reached_at") != expected)
    assert wrong.is_empty(), wrong.head(5)
