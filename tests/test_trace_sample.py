"""Origin tracing on the first ``report.trace_replicates`` replicates only.

Tags never feed back into flows, so tracing fewer replicates changes nothing but
the dependency arrays, and a traced replicate's shares do not depend on how many
others are traced or on the chunk it runs in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator import load_scenario
from simulator.chunks import run_chunked
from simulator.engine import estimate_memory, simulate, traced_replicates
from simulator.network import compile_network

pytestmark = pytest.mark.usefixtures("backend")

TUTORIAL = Path(__file__).resolve().parents[1] / "scenarios" / "tutorial.yaml"
PER_REP = ("demand_t", "served_t", "max_shortfall", "output_t", "shipped_t", "released_t", "substituted_t")


def _net(n: int | str):
    return compile_network(load_scenario(TUTORIAL, [f"report.trace_replicates={n}"]))


def test_traced_replicates_of_a_chunk():
    assert traced_replicates("all", 100, 7) == 7
    assert traced_replicates(256, 0, 1000) == 256
    assert traced_replicates(256, 250, 16) == 6
    assert traced_replicates(256, 256, 16) == 0
    assert traced_replicates(5, 0, 3) == 3


def test_sampled_tracing_changes_only_the_dependency_arrays():
    full = simulate(_net("all"), 6, seed=3)
    part = simulate(_net(2), 6, seed=3)
    assert full.traced_replicates == 6 and part.traced_replicates == 2
    assert part.dependency.shape == (2,) + full.dependency.shape[1:]
    np.testing.assert_array_equal(part.dependency, full.dependency[:2])
    for k in PER_REP:
        np.testing.assert_array_equal(getattr(part, k), getattr(full, k), err_msg=k)
    assert part.series["china_share_separation"].shape == full.series["china_share_separation"].shape


def test_chunks_past_the_traced_replicates_trace_nothing_and_merge_exactly():
    net = _net(20)
    whole = simulate(_net("all"), 40, seed=5)
    merged = run_chunked(net, 40, seed=5, chunk=16)
    assert merged.traced_replicates == 20
    np.testing.assert_allclose(merged.dependency, whole.dependency[:20], rtol=0, atol=1e-12)
    for k in PER_REP:
        np.testing.assert_array_equal(getattr(merged, k), getattr(whole, k), err_msg=k)
    # the merged mean of the origin series weighs each chunk by its traced replicates: 16 + 4
    mean20 = simulate(net, 20, seed=5).series["china_share_mine"][..., 3]
    assert np.isfinite(merged.series["china_share_mine"]).all()
    np.testing.assert_allclose(merged.series["china_share_mine"][..., 3], mean20, rtol=0, atol=1e-12)


def test_memory_estimate_counts_traced_replicates_only():
    a, b = estimate_memory(_net("all"), 10_000), estimate_memory(_net(256), 10_000)
    assert b < a
