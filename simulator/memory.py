"""What a run needs in memory, what this machine has, and the refusal when a run does not fit.

The estimate is an upper one (state, per-step tables, series, origin tags, with half as
much again for temporaries); :func:`simulator.engine.simulate` checks it before any
large allocation, and again once the events are drawn if their extra lead times lengthen
the arrival ring.
"""

from __future__ import annotations

import math
import os

from .exceptions import ResourceError
from .fused_args import MAX_BATCH
from .network import Network
from .noise import NOISE_BLOCK
from .tracing import traced_replicates


def estimate_memory(net: Network, R: int, extra_ring_rows: int = 0) -> int:
    """Bytes the run's state and metrics need (an upper estimate); ``extra_ring_rows``: the arrival ring's rows
    for the events' extra lead time, over all links."""
    s = net.sizes
    W = int(net.lead_steps.max()) + 2 if len(net.lead_steps) else 2
    G1 = len(net.regions) + 1
    K_tr = len(net.scenario.report.trace_stages)
    Rt = traced_replicates(net.scenario.report.trace_replicates, 0, R)
    per_rep = (
        s["H"] * 8 + s["E"] * (8 + W) + s["D"] * (8 + 2 * NOISE_BLOCK + MAX_BATCH) + s["F"] * (8 + MAX_BATCH)
        + s["M"] * (16 + 2 * math.ceil(30 / net.step_days)) + s["P"] * 8
        + s["E"] * 6 + s["D"] * 8  # the compiled step's per-replicate outputs
    )
    tags = (s["H"] + s["E"] + s["M"]) * K_tr * G1 * 3
    return int(8 * (R * (per_rep + extra_ring_rows) + Rt * tags) * 1.5)


def result_memory(net: Network, R: int) -> int:
    """Bytes the merged results of R replicates of a chunked run take in the process that merges them (an upper
    estimate): every per-replicate array of the Result, twice (the chunks' and the joined copy)."""
    s = net.sizes
    M, F, E, P, S = s["M"], s["F"], s["E"], s["P"], s["S"]
    windows = len(net.scenario.events)
    per_rep = M * (8 + windows) + 2 * F + 2 * E + 2 * S + 2 * P
    Rt = traced_replicates(net.scenario.report.trace_replicates, 0, R)
    dep = M * len(net.scenario.report.trace_stages) * (len(net.regions) + 1)
    return int(8 * (R * per_rep + Rt * dep) * 2)


def available_memory() -> int:
    """Physical memory available to this process [bytes] (best effort)."""
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def check_memory(need: int, R: int, limit: int) -> None:
    """Refuse a run of R replicates that needs ``need`` bytes where ``limit`` are allowed, saying how many
    replicates would fit.

    Raises
    ------
    ResourceError
        When ``need > limit``.
    """
    if need > limit:
        per = max(1, need // R)
        raise ResourceError(
            f"{R} replicates need about {need / 1e9:.2f} GB, more than the {limit / 1e9:.2f} GB available; "
            f"use -n {max(1, limit // per)} or fewer (about "
            f"{f'{per / 1e6:.2f} MB' if per >= 100_000 else f'{per / 1e3:.2f} kB'} per replicate)"
        )
