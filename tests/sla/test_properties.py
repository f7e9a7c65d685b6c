"""Invariants of the window step on random slices."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from sla_support import NO_FIRING, UTC_US, make_contract, utc

from pipelines.sla.objectives import KEYS, objectives_frame
from pipelines.sla.windows import objective_windows

START = utc(2026, 3, 20)  # spans the Berlin DST change of 29 March
slice_rows = st.lists(
    st.tuples(st.integers(0, 14 * 288 - 1), st.integers(0, 50), st.integers(0, 50)),
    min_size=1,
    max_size=60,
    unique_by=lambda row: row[0],
)


@settings(max_examples=60, deadline=None)
@given(rows=slice_rows, window=st.sampled_from(["day", "week", "month"]))
def test_attainment_is_a_share_and_windows_partition_the_slices(rows, window) -> None:
    contract = make_contract([{"id": "avail", "sli": {"kind": "availability"}, "window": window}])
    slices = pl.DataFrame(
        {
            "contract_id": "acme",
            "objective_id": "avail",
            "slice_start": [START + timedelta(minutes=5 * index) for index, _, _ in rows],
            "good": [float(min(a, b)) for _, a, b in rows],
            "total": [float(max(a, b)) for _, a, b in rows],
            "excluded_minutes": 0.0,
            "corrected_minutes": 0.0,
            "missing_minutes": 0.0,
        },
        schema_overrides={"slice_start": UTC_US},
    )
    as_of = START + timedelta(days=14)
    objectives = objectives_frame([contract])
    measured_from = objectives.select(*KEYS, measured_from=pl.lit(START, UTC_US))
    windows = objective_windows(objectives, slices, NO_FIRING, as_of, measured_from)
    assert windows["total"].sum() == slices["total"].sum()
    assert windows["good"].sum() == slices["good"].sum()
    attainment = windows["attainment"].drop_nulls()
    assert ((attainment >= 0) & (attainment <= 1)).all()
    assert (windows.filter(pl.col("total") == 0)["status"] == "no_data").all()
    # Windows tile time: each starts where the previous ended.
    assert (windows["window_start"].shift(-1).head(-1) == windows["window_end"].head(-1)).all()
