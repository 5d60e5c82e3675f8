"""The mutable per-replicate arrays of a run (leading axis R), allocated once."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .network import Network

F64 = npt.NDArray[np.float64]


@dataclass
class State:
    """Stocks, orders, pipelines and mechanism counters of R replicates.

    Shapes use the DESIGN letters; L is the number of rows of the arrival ring
    (link e owns ``lead_steps[e] + extra + 2`` rows, see ``kernels.Plan``), Q the
    stockpile release channels. The ring is stored row-major by arrival slot
    ([L, R]): the rows due at a step are contiguous over replicates. The compiled
    step keeps it by chunks of replicates instead ([R / chunk, L, chunk]): the rows a
    chunk touches in consecutive steps are then neighbouring cache lines.
    """

    on_hand: F64  #: stock [t] [R, H]
    backlog: F64  #: ordered, not shipped [t] [R, E]
    in_transit: F64  #: shipped, not arrived [t] [R, E]
    pipe: F64  #: shipments by arrival row [t] [L, R] (compiled step: [R / chunk, L, chunk])
    backorder: F64  #: deferred market demand [t] [R, D]
    exp_use: F64  #: expected daily use [t/d] [R, H]
    fg_target: F64  #: finished-goods targets [t] [R, H]
    order_up_to: F64  #: [t] [R, H]
    ref_flow: F64  #: reference flow per step (export-control quotas) [t] [R, E]
    quota: F64  #: most a link may carry this step [t] [R, E]
    closed_for: F64  #: consecutive closed steps per link [R, E]
    short_run: F64  #: consecutive short steps per demand entry [R, D]
    adopt_at: F64  #: step substitution adoption starts (inf: not yet) [R, D]
    triggered: npt.NDArray[np.bool_]  #: release channels in force [R, Q]
    extra: dict[str, F64] = field(default_factory=dict)

    @classmethod
    def allocate(cls, net: Network, R: int, L: int, Q: int, ring_chunk: int | None = None) -> State:
        """Zeroed state for R replicates.

        ``ring_chunk``: store the arrival ring by chunks of this many replicates,
        [ceil(R / ring_chunk), L, ring_chunk] (the compiled step's layout), instead of [L, R].
        """
        s = net.sizes
        H, E, D = s["H"], s["E"], s["D"]
        return cls(
            on_hand=np.zeros((R, H)),
            backlog=np.zeros((R, E)),
            in_transit=np.zeros((R, E)),
            pipe=np.zeros((L, R)) if ring_chunk is None else _aligned_zeros((-(-R // ring_chunk), L, ring_chunk)),
            backorder=np.zeros((R, D)),
            exp_use=np.zeros((R, H)),
            fg_target=np.zeros((R, H)),
            order_up_to=np.zeros((R, H)),
            ref_flow=np.zeros((R, E)),
            quota=np.full((R, E), np.inf),
            closed_for=np.zeros((R, E)),
            short_run=np.zeros((R, D)),
            adopt_at=np.full((R, D), np.inf),
            triggered=np.zeros((R, Q), dtype=bool),
        )


def _aligned_zeros(shape: tuple[int, ...], align: int = 64) -> F64:
    """Zeros starting on a cache-line boundary: each [chunk] row of the compiled step's ring is then one
    cache line (numpy aligns its arrays to 16 bytes only), and the native step's vector loads never split."""
    n = int(np.prod(shape))
    raw = np.zeros(n + align // 8)
    off = (-raw.ctypes.data % align) // 8
    return raw[off:off + n].reshape(shape)
