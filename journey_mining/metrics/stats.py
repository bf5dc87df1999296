"""The statistics behind every figure of the journey map, as Polars expressions and frames.

Each function works on whole columns, so one call covers every persona, entry month and stage
at once: the proportion and mean helpers take column names, expressions, Series or NumPy arrays
and return expressions (``pl.select(*wilson_interval(x, n))`` for arrays), the Kaplan-Meier
helpers take a frame with group columns. Nothing here needs
SciPy; the normal and Student t quantiles come from the standard library and a documented
expansion. Undefined figures (no trials, one observation, a median never reached) are null.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "kaplan_meier",
    "km_median",
    "km_median_rollup",
    "mean_interval",
    "nps_interval",
    "percentile",
    "poisson_rate_interval",
    "rate",
    "significant_change",
    "t_quantile",
    "two_proportion_p_value",
    "wilson_interval",
    "z_quantile",
]

IntoColumn = str | pl.Expr | float | pl.Series | npt.NDArray[Any]
_MEDIAN_TOLERANCE = 1e-9


def _col(value: IntoColumn) -> pl.Expr:
    if isinstance(value, pl.Expr):
        return value
    if isinstance(value, str):
        return pl.col(value)
    if isinstance(value, pl.Series | np.ndarray):
        return pl.lit(pl.Series(values=value))
    return pl.lit(value)


def rate(numerator: IntoColumn, denominator: IntoColumn) -> pl.Expr:
    """``numerator / denominator``, null where the denominator (a count) is 0."""
    below = _col(denominator)
    return pl.when(below > 0).then(_col(numerator) / below)


def z_quantile(confidence: float = 0.95) -> float:
    """The two-sided standard normal quantile for ``confidence`` (1.959964 for 0.95)."""
    return NormalDist().inv_cdf((1 + confidence) / 2)


def wilson_interval(
    successes: IntoColumn, trials: IntoColumn, *, confidence: float = 0.95
) -> tuple[pl.Expr, pl.Expr]:
    """Wilson score interval of a proportion ``successes / trials``.

    Parameters
    ----------
    successes, trials
        Columns (names or expressions) of counts; rows with ``trials == 0`` give nulls.
    confidence
        Two-sided confidence level.

    Returns
    -------
    tuple[pl.Expr, pl.Expr]
        The lower and upper bounds (named ``low`` and ``high``), within [0, 1] and around
        ``successes / trials``.

    Examples
    --------
    >>> low, high = wilson_interval("x", "n")
    >>> pl.DataFrame({"x": [5], "n": [10]}).select(low.round(4), high.round(4)).row(0)
    (0.2366, 0.7634)
    """
    z = z_quantile(confidence)
    x = _col(successes).cast(pl.Float64)
    n = _col(trials).cast(pl.Float64)
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)).sqrt()
    low = pl.when(n <= 0).then(None).when(x <= 0).then(0.0).otherwise(centre - half)
    high = pl.when(n <= 0).then(None).when(x >= n).then(1.0).otherwise(centre + half)
    low, high = low.clip(0.0, 1.0), high.clip(0.0, 1.0)
    return low.alias("low"), high.alias("high")


def _erfc(x: pl.Expr) -> pl.Expr:
    # Numerical Recipes' erfcc Chebyshev fit: relative error below 1.2e-7 for every x >= 0.
    t = 1 / (1 + 0.5 * x)
    poly = pl.lit(0.17087277)
    for c in (
        -0.82215223,
        1.48851587,
        -1.13520398,
        0.27886807,
        -0.18628806,
        0.09678418,
        0.37409196,
        1.00002368,
        -1.26551223,
    ):
        poly = c + t * poly
    return t * (-x * x + poly).exp()


def two_proportion_p_value(
    successes_a: IntoColumn,
    trials_a: IntoColumn,
    successes_b: IntoColumn,
    trials_b: IntoColumn,
) -> pl.Expr:
    """Two-sided p-value of the pooled two-proportion z-test (a vs b, e.g. two months).

    The z statistic uses the pooled proportion; equal proportions give 1.0 and a row where
    either side has no trials gives null. The normal tail is Numerical Recipes' ``erfcc``
    (relative error below 1.2e-7), which keeps the test vectorised without SciPy.

    Examples
    --------
    >>> frame = pl.DataFrame({"xa": [60], "na": [100], "xb": [45], "nb": [100]})
    >>> round(frame.select(two_proportion_p_value("xa", "na", "xb", "nb")).item(), 4)
    0.0337
    """
    xa = _col(successes_a).cast(pl.Float64)
    na = _col(trials_a).cast(pl.Float64)
    xb = _col(successes_b).cast(pl.Float64)
    nb = _col(trials_b).cast(pl.Float64)
    pooled = (xa + xb) / (na + nb)
    se = (pooled * (1 - pooled) * (1 / na + 1 / nb)).sqrt()
    diff = (xa / na - xb / nb).abs()
    z = diff / se
    return (
        pl.when((na <= 0) | (nb <= 0))
        .then(None)
        .when(diff == 0)
        .then(1.0)
        .otherwise(_erfc(z / math.sqrt(2)))
        .alias("p_value")
    )


def significant_change(
    successes_a: IntoColumn,
    trials_a: IntoColumn,
    successes_b: IntoColumn,
    trials_b: IntoColumn,
    *,
    alpha: float = 0.05,
    min_count: int = 5,
) -> pl.Expr:
    """Whether two proportions differ, as FUNNELS.md asks before a change is called one.

    True when the two-proportion test gives ``p < alpha`` and both samples are large enough
    for its normal approximation: at least ``min_count`` successes and ``min_count`` failures
    on each side. Rows with too little data are false, never null.
    """
    xa, na, xb, nb = (_col(c) for c in (successes_a, trials_a, successes_b, trials_b))
    large_enough = (
        (xa >= min_count) & (na - xa >= min_count) & (xb >= min_count) & (nb - xb >= min_count)
    )
    p_value = two_proportion_p_value(xa, na, xb, nb)
    return (large_enough & (p_value < alpha)).fill_null(value=False).alias("significant")


def t_quantile(df: IntoColumn, *, confidence: float = 0.95) -> pl.Expr:
    """Two-sided Student t quantile with ``df`` degrees of freedom (null where ``df < 1``).

    Exact for 1 and 2 degrees of freedom; from 3 on, the Cornish-Fisher expansion of
    Abramowitz & Stegun 26.7.5 (error 0.004 at 3, below 1e-5 from 10 for 95%).
    """
    prob = (1 + confidence) / 2
    z = z_quantile(confidence)
    v = _col(df).cast(pl.Float64)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    expansion = z + g1 / v + g2 / v**2 + g3 / v**3 + g4 / v**4
    one = math.tan(math.pi * (prob - 0.5))
    two = (2 * prob - 1) * math.sqrt(2 / (4 * prob * (1 - prob)))
    return (
        pl.when(v < 1)
        .then(None)
        .when(v < 2)
        .then(one)
        .when(v < 3)
        .then(two)
        .otherwise(expansion)
        .alias("t")
    )


def mean_interval(
    mean: IntoColumn, sd: IntoColumn, n: IntoColumn, *, confidence: float = 0.95
) -> tuple[pl.Expr, pl.Expr]:
    """Student t interval of a mean: ``mean ± t(n-1) * sd / sqrt(n)``; null for ``n < 2``."""
    m = _col(mean).cast(pl.Float64)
    count = _col(n).cast(pl.Float64)
    half = t_quantile(count - 1, confidence=confidence) * _col(sd).cast(pl.Float64) / count.sqrt()
    defined = count >= 2
    low = pl.when(defined).then(m - half).alias("low")
    return low, pl.when(defined).then(m + half).alias("high")


def nps_interval(
    promoters: IntoColumn, detractors: IntoColumn, n: IntoColumn, *, confidence: float = 0.95
) -> tuple[pl.Expr, pl.Expr]:
    """Adjusted Wald interval of a Net Promoter Score, on the -100..100 scale.

    Rocks (2016, The American Statistician 70:4) found this the best simple interval: add 3
    to n and 3/4 to each of promoters and detractors, then take the Wald interval of the
    difference of the two trinomial proportions around the adjusted score, clipped to
    [-100, 100]. Null when ``n == 0``.
    """
    z = z_quantile(confidence)
    count = _col(n).cast(pl.Float64)
    adjusted_n = count + 3
    pro = (_col(promoters).cast(pl.Float64) + 0.75) / adjusted_n
    det = (_col(detractors).cast(pl.Float64) + 0.75) / adjusted_n
    score = pro - det
    half = z * ((pro + det - score * score) / adjusted_n).sqrt()
    defined = count > 0
    low = pl.when(defined).then((100 * (score - half)).clip(-100.0, 100.0))
    high = pl.when(defined).then((100 * (score + half)).clip(-100.0, 100.0))
    return low.alias("low"), high.alias("high")


def poisson_rate_interval(
    events: IntoColumn, exposure: IntoColumn, *, per: float = 1.0, confidence: float = 0.95
) -> tuple[pl.Expr, pl.Expr]:
    """Score (Wilson-style) interval of a Poisson rate ``events / exposure``, times ``per``.

    The bounds solve ``|x - λ| = z·sqrt(λ)`` for the expected count λ:
    ``(x + z²/2 ± z·sqrt(x + z²/4)) / exposure``. Unlike the Wald interval it is never
    empty at ``x = 0``. Null when ``exposure == 0``.
    """
    z = z_quantile(confidence)
    x = _col(events).cast(pl.Float64)
    t = _col(exposure).cast(pl.Float64)
    centre = x + z * z / 2
    half = z * (x + z * z / 4).sqrt()
    defined = t > 0
    low = pl.when(defined).then(((centre - half) / t * per).clip(lower_bound=0.0))
    high = pl.when(defined).then((centre + half) / t * per)
    return low.alias("low"), high.alias("high")


def percentile(values: IntoColumn, q: float) -> pl.Expr:
    """The ``q`` quantile by linear interpolation, so the median of an even count is the mean
    of the middle two (FUNNELS.md); the same rule as DuckDB's ``quantile_cont``."""
    return _col(values).quantile(q, interpolation="linear")


def _groups(frame: pl.DataFrame, by: Sequence[str]) -> tuple[pl.DataFrame, list[str]]:
    if by:
        return frame, list(by)
    return frame.with_columns(_group=pl.lit(0)), ["_group"]


def kaplan_meier(
    frame: pl.DataFrame,
    *,
    by: Sequence[str] = (),
    duration: str = "duration",
    event: str = "event",
    weight: str | None = None,
) -> pl.DataFrame:
    """Kaplan-Meier survival curves of right-censored durations, one per group.

    Parameters
    ----------
    frame
        One row per observation (or per distinct observation, with ``weight`` its count).
    by
        Group columns; each group gets its own curve.
    duration
        The time observed: to the event, or to censoring.
    event
        True where the event happened at ``duration``, false where the observation was
        censored there. At equal times events come first, so the censored are still at risk.
    weight
        Optional column with the number of observations each row stands for.

    Returns
    -------
    pl.DataFrame
        ``by``, ``duration`` (each distinct time), ``at_risk``, ``events``, ``censored`` and
        ``survival`` (the estimate just after that time), sorted by group and time.
    """
    data, keys = _groups(frame, by)
    # One integer per group: grouping and sorting millions of rows on several string keys
    # costs several times what the curve itself does. A single integer key is used as it is.
    groups: pl.DataFrame | None = None
    if len(keys) == 1 and data.schema[keys[0]].is_integer():
        data = data.with_columns(_group_id=pl.col(keys[0]))
    else:
        groups = data.select(keys).unique().sort(keys).with_row_index("_group_id")
        data = data.join(groups, on=keys, how="left")
    w = pl.col(weight) if weight is not None else pl.lit(1, pl.Int64)
    flag = pl.col(event).cast(pl.Boolean)
    counts = data.group_by("_group_id", duration).agg(
        events=w.filter(flag).sum().cast(pl.Int64),
        censored=w.filter(~flag).sum().cast(pl.Int64),
    )
    curve = (
        counts
        # two stable one-key sorts: several times faster than one two-key sort here
        .sort(duration)
        .sort("_group_id", maintain_order=True)
        .with_columns(
            at_risk=(pl.col("events") + pl.col("censored")).cum_sum(reverse=True).over("_group_id")
        )
        .with_columns(
            survival=(1 - pl.col("events") / pl.col("at_risk")).cum_prod().over("_group_id"),
        )
    )
    if groups is None:
        curve = curve.with_columns(pl.col("_group_id").alias(keys[0]))
    else:
        curve = curve.join(groups, on="_group_id", how="left", maintain_order="left")
    curve = curve.select(*keys, duration, "at_risk", "events", "censored", "survival")
    return curve if by else curve.drop("_group")


def _median_at_half(event_times: pl.DataFrame, keys: list[str], duration: str) -> pl.DataFrame:
    """The median of each curve, from its event times (``keys``, ``duration``, ``survival``)
    sorted by group and time: :func:`km_median`'s rule."""
    return (
        event_times.with_columns(next_time=pl.col(duration).shift(-1).over(keys))
        .filter(pl.col("survival") <= 0.5 + _MEDIAN_TOLERANCE)
        .group_by(keys, maintain_order=True)
        .first()
        .select(
            *keys,
            km_median=pl.when((pl.col("survival") - 0.5).abs() <= _MEDIAN_TOLERANCE)
            .then((pl.col(duration) + pl.col("next_time")) / 2)
            .otherwise(pl.col(duration))
            .cast(pl.Float64),
        )
    )


def km_median(
    frame: pl.DataFrame,
    *,
    by: Sequence[str] = (),
    duration: str = "duration",
    event: str = "event",
    weight: str | None = None,
) -> pl.DataFrame:
    """Kaplan-Meier median of right-censored durations, per group.

    The median is the first time the survival estimate falls to 0.5 or below. Where the
    estimate sits at exactly 0.5 it is the midpoint to the next event time, so without
    censoring the result is the plain median (mean of the middle two for an even count). It
    is null when the estimate never reaches 0.5, or stays at exactly 0.5 after the last event.

    Parameters
    ----------
    frame, by, duration, event, weight
        As for :func:`kaplan_meier`.

    Returns
    -------
    pl.DataFrame
        ``by``, ``km_n`` (observations, censored included) and ``km_median``.
    """
    data, keys = _groups(frame, by)
    curve = kaplan_meier(data, by=keys, duration=duration, event=event, weight=weight)
    sizes = curve.group_by(keys).agg(km_n=(pl.col("events") + pl.col("censored")).sum())
    at_half = _median_at_half(curve.filter(pl.col("events") > 0), keys, duration)
    result = sizes.join(at_half, on=keys, how="left", maintain_order="left").sort(keys)
    return result if by else result.drop("_group")


def km_median_rollup(
    frame: pl.DataFrame,
    *,
    groups: Sequence[str],
    duration: str = "duration",
    event: str = "event",
) -> pl.DataFrame:
    """Kaplan-Meier medians of one set of observations under several groupings at once.

    Each column of ``groups`` gives every observation an integer group id, one column per
    grouping (a stage's persona x month, and its roll-ups to all months or all personas); ids
    are unique across the columns. Each median equals :func:`km_median` over the observations
    with that id, but the observations are sorted by time once for all groupings and then only
    stably by each id column, instead of counted and sorted once per grouping.

    Tied times need no counting: of d events among n at risk, taken one by one (n, n - 1, ...
    at risk), the factors (n - 1)/n x ... x (n - d)/(n - d + 1) multiply to 1 - d/n, the
    curve's factor at that time; the censored, after the events, multiply by 1. So the running
    product at a time's last row is the survival just after it.

    Returns
    -------
    pl.DataFrame
        ``group_id``, ``km_n`` (observations) and ``km_median``, for every id present, sorted.
    """
    ordered = frame.select(*groups, duration, event).sort(
        [duration, event], descending=[False, True]
    )
    group, time, happened = pl.col("group_id"), pl.col(duration), pl.col(event)
    at_risk = pl.len().over(group) - pl.int_range(pl.len()).over(group)
    first_of_time = ((time != time.shift(1)) | (group != group.shift(1))).fill_null(True)
    last_of_time = ((time != time.shift(-1)) | (group != group.shift(-1))).fill_null(True)
    medians = []
    for column in groups:
        rows = (
            ordered.select(
                group_id=pl.col(column).cast(pl.Int64), **{duration: time, event: happened}
            )
            .sort("group_id", maintain_order=True)
            .with_columns(
                survival=pl.when(happened)
                .then(1 - 1 / at_risk)
                .otherwise(1.0)
                .cum_prod()
                .over(group),
                # a time has events when its first row is one (events come first)
                has_events=pl.when(first_of_time).then(happened).forward_fill(),
                last_of_time=last_of_time,
            )
        )
        event_times = rows.filter(pl.col("last_of_time") & pl.col("has_events"))
        at_half = _median_at_half(
            event_times.select("group_id", duration, "survival"), ["group_id"], duration
        )
        sizes = rows.group_by("group_id").agg(km_n=pl.len().cast(pl.Int64))
        medians.append(sizes.join(at_half, on="group_id", how="left"))
    return pl.concat(medians).sort("group_id")
