"""The interval, test and survival helpers against textbook values and brute-force versions."""

import math
import statistics
from fractions import Fraction

import duckdb
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journey_mining.metrics.stats import (
    kaplan_meier,
    km_median,
    km_median_rollup,
    mean_interval,
    nps_interval,
    percentile,
    poisson_rate_interval,
    significant_change,
    t_quantile,
    two_proportion_p_value,
    wilson_interval,
    z_quantile,
)

Z = 1.959963984540054
DUCK = duckdb.connect()
FAST = settings(max_examples=40, deadline=None)
proportions = st.integers(0, 5_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


def _wilson(x, n):
    low, high = wilson_interval("x", "n")
    return pl.DataFrame({"x": x, "n": n}).select(low, high)


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, table II, method 3 (score, no CC)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (29, 29, 0.8830, 1.0),
        (5, 10, 0.2366, 0.7634),
    ],
)
def test_wilson_matches_newcombes_table(x, n, low, high):
    got = _wilson([x], [n]).row(0)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_is_null_without_trials_and_exact_at_the_ends():
    got = _wilson([0, 0, 7], [0, 7, 7]).rows()
    assert got[0] == (None, None)
    assert got[1][0] == 0.0
    assert got[2][1] == 1.0


@FAST
@given(st.lists(proportions.filter(lambda c: c[1] > 0), min_size=1, max_size=50))
def test_wilson_brackets_the_proportion_within_zero_and_one(cases):
    xs = [x for x, _ in cases]
    ns = [n for _, n in cases]
    got = _wilson(xs, ns).rows()
    mirrored = _wilson([n - x for x, n in cases], ns).rows()
    for (x, n), (low, high), (mirror_low, mirror_high) in zip(cases, got, mirrored, strict=True):
        assert 0.0 <= low <= x / n <= high <= 1.0
        assert low == pytest.approx(1 - mirror_high, abs=1e-12)
        assert high == pytest.approx(1 - mirror_low, abs=1e-12)


def _p_value(xa, na, xb, nb):
    frame = pl.DataFrame({"xa": xa, "na": na, "xb": xb, "nb": nb})
    return frame.select(two_proportion_p_value("xa", "na", "xb", "nb")).to_series().to_list()


def test_p_value_of_a_textbook_difference():
    # 60/100 vs 45/100: pooled 0.525, se = sqrt(0.525 * 0.475 * 0.02), z = 2.1240
    z = 0.15 / math.sqrt(0.525 * 0.475 * 0.02)
    assert _p_value([60], [100], [45], [100])[0] == pytest.approx(
        2 * (1 - statistics.NormalDist().cdf(z)), rel=1e-6
    )
    assert _p_value([60], [100], [45], [100])[0] == pytest.approx(0.0337, abs=1e-4)


def test_p_value_is_one_for_equal_proportions_and_null_without_trials():
    assert _p_value([0, 10, 3, 3], [10, 10, 0, 5], [0, 20, 1, 1], [30, 20, 5, 0]) == [
        1.0,
        1.0,
        None,
        None,
    ]


@FAST
@given(
    st.lists(
        st.tuples(
            st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
            st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
        ),
        min_size=1,
        max_size=50,
    )
)
def test_p_value_equals_the_normal_tail_of_the_pooled_z(cases):
    expected = []
    for (xa, na), (xb, nb) in cases:
        pooled = (xa + xb) / (na + nb)
        diff = abs(xa / na - xb / nb)
        z = diff / math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb)) if diff else 0.0
        expected.append(math.erfc(z / math.sqrt(2)))
    got = _p_value(*zip(*[(xa, na, xb, nb) for (xa, na), (xb, nb) in cases], strict=True))
    assert got == pytest.approx(expected, rel=2e-7, abs=1e-15)
    assert all(0.0 <= p <= 1.0 for p in got)


def test_significant_change_needs_p_below_alpha_and_enough_of_each_outcome():
    frame = pl.DataFrame(
        {
            "xa": [600, 60, 4, 600],
            "na": [1000, 100, 10, 1000],
            "xb": [450, 58, 9, 590],
            "nb": [1000, 100, 10, 1000],
        }
    )
    got = frame.select(significant_change("xa", "na", "xb", "nb")).to_series().to_list()
    # large clear change; no change; p < 0.05 but one side has fewer than 5 failures; small
    assert got == [True, False, False, False]


@pytest.mark.parametrize(
    ("df", "table", "tolerance"),
    [
        (1, 12.706, 1e-3),
        (2, 4.303, 1e-3),
        (3, 3.182, 5e-3),
        (4, 2.776, 2e-3),
        (5, 2.571, 1e-3),
        (10, 2.228, 1e-3),
        (20, 2.086, 1e-3),
        (30, 2.042, 1e-3),
        (120, 1.980, 1e-3),
    ],
)
def test_t_quantile_matches_the_printed_table(df, table, tolerance):
    got = pl.select(t_quantile(pl.lit(df))).item()
    assert got == pytest.approx(table, abs=tolerance)


def test_z_quantile_is_the_familiar_one_ninety_six():
    assert z_quantile(0.95) == pytest.approx(Z, abs=1e-12)


def test_mean_interval_is_the_student_t_interval():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    sd = statistics.stdev(values)
    frame = pl.DataFrame({"m": [3.0, 3.0], "sd": [sd, None], "n": [5, 1]})
    low, high = mean_interval("m", "sd", "n")
    rows = frame.select(low, high).rows()
    half = 2.776445 * sd / math.sqrt(5)
    assert rows[0] == pytest.approx((3 - half, 3 + half), abs=1e-3)
    assert rows[1] == (None, None)


def test_nps_interval_is_the_adjusted_wald_interval():
    # 10 promoters, 2 detractors, 8 passives: n' = 23, p' = 10.75/23, d' = 2.75/23
    pro, det = 10.75 / 23, 2.75 / 23
    half = Z * math.sqrt((pro + det - (pro - det) ** 2) / 23)
    low, high = nps_interval("p", "d", "n")
    got = pl.DataFrame({"p": [10, 0], "d": [2, 0], "n": [20, 0]}).select(low, high).rows()
    assert got[0] == pytest.approx((100 * (pro - det - half), 100 * (pro - det + half)))
    assert got[1] == (None, None)


@FAST
@given(st.lists(st.tuples(*[st.integers(0, 60)] * 3), min_size=1, max_size=50))
def test_nps_interval_stays_on_the_scale_and_is_ordered(cases):
    frame = pl.DataFrame(
        [(p, d, p + d + passive) for p, d, passive in cases], schema=["p", "d", "n"], orient="row"
    )
    low, high = nps_interval("p", "d", "n")
    for n, row in zip(frame["n"], frame.select(low, high).rows(), strict=True):
        if n == 0:
            assert row == (None, None)
        else:
            assert -100.0 <= row[0] <= row[1] <= 100.0


def test_poisson_interval_at_zero_events_is_z_squared_over_exposure():
    low, high = poisson_rate_interval("x", "t", per=100.0)
    got = pl.DataFrame({"x": [0, 3], "t": [50, 0]}).select(low, high).rows()
    assert got[0] == pytest.approx((0.0, 100 * Z * Z / 50))
    assert got[1] == (None, None)


@FAST
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(1, 500)), min_size=1, max_size=50))
def test_poisson_interval_brackets_the_rate_and_solves_the_score_equation(cases):
    low, high = poisson_rate_interval("x", "t")
    frame = pl.DataFrame(cases, schema=["x", "t"], orient="row")
    for (x, t), (lo, hi) in zip(cases, frame.select(low, high).rows(), strict=True):
        assert 0.0 <= lo <= x / t <= hi
        for bound in (lo, hi):
            lam = bound * t
            if lam > 0:
                assert abs(x - lam) == pytest.approx(Z * math.sqrt(lam), rel=1e-9, abs=1e-9)


@FAST
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30))
def test_percentile_follows_the_median_rule_and_duckdb(values):
    frame = pl.DataFrame({"v": values})
    median = frame.select(percentile("v", 0.5)).item()
    p90 = frame.select(percentile("v", 0.9)).item()
    assert median == pytest.approx(statistics.median(values), rel=1e-12, abs=1e-9)
    assert p90 == pytest.approx(float(np.percentile(values, 90)), rel=1e-12, abs=1e-9)
    [(duck_median, duck_p90)] = DUCK.execute(
        "select quantile_cont(v, 0.5), quantile_cont(v, 0.9) from unnest($1::double[]) t(v)",
        [values],
    ).fetchall()
    assert median == pytest.approx(duck_median, rel=1e-12, abs=1e-9)
    assert p90 == pytest.approx(duck_p90, rel=1e-12, abs=1e-9)


def brute_km(durations, events):
    """Survival after each distinct event time, and the median, in exact fractions."""
    survival = Fraction(1)
    curve = []
    for t in sorted({d for d, e in zip(durations, events, strict=True) if e}):
        at_risk = sum(1 for d in durations if d >= t)
        died = sum(1 for d, e in zip(durations, events, strict=True) if e and d == t)
        survival *= 1 - Fraction(died, at_risk)
        curve.append((t, survival))
    median = None
    for i, (t, s) in enumerate(curve):
        if s < Fraction(1, 2):
            median = float(t)
            break
        if s == Fraction(1, 2):
            median = (t + curve[i + 1][0]) / 2 if i + 1 < len(curve) else None
            break
    return curve, median


durations_and_events = st.lists(
    st.tuples(st.integers(0, 12), st.booleans()), min_size=1, max_size=25
)


@FAST
@given(st.lists(st.integers(0, 1_000), min_size=1, max_size=40))
def test_km_median_is_the_plain_median_without_censoring(durations):
    frame = pl.DataFrame({"duration": durations, "event": [True] * len(durations)})
    got = km_median(frame)
    assert got["km_n"].item() == len(durations)
    assert got["km_median"].item() == pytest.approx(statistics.median(durations))


@FAST
@given(durations_and_events)
def test_km_matches_a_brute_force_kaplan_meier(sample):
    durations = [float(d) for d, _ in sample]
    events = [e for _, e in sample]
    frame = pl.DataFrame({"duration": durations, "event": events})
    curve, median = brute_km(durations, events)

    got_curve = kaplan_meier(frame).filter(pl.col("events") > 0)
    assert got_curve["duration"].to_list() == [t for t, _ in curve]
    assert got_curve["survival"].to_list() == pytest.approx([float(s) for _, s in curve])
    got = km_median(frame)
    assert got["km_n"].item() == len(durations)
    if median is None:
        assert got["km_median"].item() is None
    else:
        assert got["km_median"].item() == pytest.approx(median)


@FAST
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 1), st.integers(0, 12), st.booleans()),
        min_size=1,
        max_size=40,
    )
)
def test_km_median_rollup_equals_km_median_of_each_group(sample):
    """Each observation counts in its (persona, month) group, its persona's roll-up and the
    total; every group's median equals km_median over that group's own observations."""
    observations = pl.DataFrame(
        [(p, m, float(d), e) for p, m, d, e in sample],
        schema=["persona", "month", "duration", "event"],
        orient="row",
    ).with_columns(
        own=pl.col("persona") * 2 + pl.col("month"),
        persona_total=100 + pl.col("persona"),
        total=pl.lit(1000),
    )
    got = km_median_rollup(observations, groups=["own", "persona_total", "total"])
    expected = pl.concat(
        km_median(observations.rename({level: "group_id"}), by=["group_id"]).with_columns(
            pl.col("group_id").cast(pl.Int64)
        )
        for level in ("own", "persona_total", "total")
    ).sort("group_id")
    assert got["group_id"].cast(pl.Int64).to_list() == expected["group_id"].to_list()
    assert got["km_n"].to_list() == expected["km_n"].to_list()
    assert got["km_median"].to_list() == pytest.approx(expected["km_median"].to_list())


@FAST
@given(st.lists(durations_and_events, min_size=1, max_size=4))
def test_km_median_of_many_groups_at_once_equals_each_alone_and_weights_equal_repeats(samples):
    rows = [
        (g, float(d), e, 1 + (i % 3))
        for g, sample in enumerate(samples)
        for i, (d, e) in enumerate(sample)
    ]
    weighted = pl.DataFrame(rows, schema=["g", "duration", "event", "w"], orient="row")
    repeated = weighted.select(pl.exclude("w").repeat_by(pl.col("w")).explode())
    together = km_median(weighted, by=["g"], weight="w")
    assert together["g"].to_list() == list(range(len(samples)))
    assert together.equals(km_median(repeated, by=["g"]))
    for g in range(len(samples)):
        alone = km_median(repeated.filter(pl.col("g") == g).drop("g"))
        assert together.filter(pl.col("g") == g).drop("g").equals(alone)


def test_km_median_is_null_when_half_are_never_reached_or_the_curve_ends_at_one_half():
    frame = pl.DataFrame(
        {
            "g": [1, 1, 1, 2, 2],
            "duration": [1.0, 5.0, 5.0, 1.0, 3.0],
            "event": [True, False, False, True, False],
        }
    )
    got = km_median(frame, by=["g"])
    assert got.rows() == [(1, 3, None), (2, 2, None)]


def test_helpers_take_numpy_arrays_and_series_as_whole_columns():
    from_arrays = pl.select(*wilson_interval(np.array([81, 15]), pl.Series([263, 148])))
    assert from_arrays.equals(_wilson([81, 15], [263, 148]))
