"""The reference oracle: one simulation step, exactly as ``docs/step-semantics.md``.

A second, independent implementation of the tick for ONE replicate, written with
plain Python loops over dicts, lists and floats, so that the vectorised kernels
can be tested against it (they must agree to 1e-9 on deterministic scenarios).

Independence: recipes, capacities, links, stock policies, demand, stockpile
release rules, recyclers, substitution rules, policies and every event effect
are read from the :class:`~simulator.scenario.models.Scenario` by id and name.
The :class:`~simulator.network.Network` is used only for the index order of
holdings, links, producers, demand entries, products, markets, stockpiles and
regions, and for the nominal flows ``nominal_use[H, D]`` (expected daily use
[t/d] of each holding at each demand entry's base rate) and ``nominal_link[E, D]``.

The code is split for size: :mod:`simulator.reference_events` (events and
policy switches), :mod:`simulator.reference_model` (the step),
:mod:`simulator.reference_tracing` (origin tags, recycling lifetimes).

Scope: deterministic scenarios (fixed event severities, no stochastic events,
no random facility outages), demand noise off (``z = 0``). Everything of the
step contract is implemented, including the "Diversification mechanics":
policies and ``policy`` events, stockpile trigger/release/refill/holding cost,
re-routing, recycling, substitution, origin tracing and procurement spend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .network import Network
from .reference_events import Calendar, EventFactors
from .reference_model import FIELDS, Model
from .reference_tracing import lifetime_steps
from .scenario.models import Scenario

__all__ = ["EventFactors", "ReferenceTrace", "event_factors", "lifetime_steps", "run_reference"]


@dataclass(frozen=True)
class ReferenceTrace:
    """Per-step trace of one replicate, every array recorded after the step.

    Axes: T steps, H holdings, E links, D demand entries, F producers, P products,
    M markets, S stockpiles, Q release channels, K traced stages, G regions.

    Attributes
    ----------
    on_hand : ndarray, shape (T, H)
        Stock of each holding after Order [t].
    backlog : ndarray, shape (T, E)
        Ordered but not yet shipped, per link, after Order (re-routing cancellations
        applied) [t].
    in_transit : ndarray, shape (T, E)
        Shipped but not yet arrived, per link [t].
    backorder : ndarray, shape (T, D)
        Unmet demand carried by backorder markets [t].
    demand : ndarray, shape (T, D)
        Demand arising that step, after substitution [t/step].
    served : ndarray, shape (T, D)
        Demand served from stock on the day it arose [t/step].
    activity : ndarray, shape (T, F)
        Activity of each producer [units/step].
    shipped : ndarray, shape (T, E)
        Quantity shipped on each link that step [t/step].
    surplus : ndarray, shape (T, P)
        Co-product surplus leaving the chain, by product [t/step].
    produced, used, consumed : ndarray, shape (T, P)
        Outputs yielded, inputs used, and market consumption (backorders served
        + served), by product [t/step].
    fill : ndarray, shape (T, M)
        Daily fill per market: sum served / sum demand (1 when demand is 0) [-].
    on_hand0 : ndarray, shape (H,)
        Initial stock, before step 0 [t] (extra: for mass balance).
    exp_use : ndarray, shape (T, H)
        Expected daily use in force at the step [t/d] (extra).
    capacity : ndarray, shape (T, F)
        Capacity of each producer at the step [units/step] (extra).
    released : ndarray, shape (T, S)
        Released by each stockpile (all its products) that step [t/step].
    triggered : ndarray of bool, shape (T, Q)
        Trigger state of each release channel in force at the step (raised at the
        end of phase 5 of the step before; row 0 all False). Channels are ordered
        by stockpile (scenario order), product (``holds`` order), receiver
        (``release.to`` order); receivers that do not use the product are skipped.
    collected : ndarray, shape (T, P)
        End-of-life scrap arriving at recyclers, by product [t/step].
    substituted : ndarray, shape (T, D)
        Demand saved by substitution [t/step].
    weights : ndarray, shape (T, E)
        Effective normalised ordering weight used at phase 6 (0 for rerouted
        links, links from stockpiles, links into holdings that do not order) [-].
    stocked : ndarray, shape (T, P)
        Initial stock that stockpiles set up at the step (``online``) received, by product [t]
        (mass entering the chain, like collected scrap).
    tags : ndarray, shape (T, H, K, G + 1)
        Origin composition of each holding after the step, per traced stage
        (``report.trace_stages`` order) over ``net.regions`` and a last column none [-].
    dependency : ndarray, shape (M, K, G + 1)
        Consumption-weighted origin shares of each market over the whole run
        (none = 1 for a market that consumed nothing) [-].
    holding_cost : ndarray, shape (S,)
        Stockpile holding cost over the run, sum over steps of end-of-step stock
        x ``holding_cost`` / 365 x ``step_days`` [USD].
    spend : ndarray, shape (E,)
        Procurement spend over the run, sum of ``shipped x price`` [USD].
    """

    on_hand: np.ndarray
    backlog: np.ndarray
    in_transit: np.ndarray
    backorder: np.ndarray
    demand: np.ndarray
    served: np.ndarray
    activity: np.ndarray
    shipped: np.ndarray
    surplus: np.ndarray
    produced: np.ndarray
    used: np.ndarray
    consumed: np.ndarray
    fill: np.ndarray
    on_hand0: np.ndarray
    exp_use: np.ndarray
    capacity: np.ndarray
    released: np.ndarray
    triggered: np.ndarray
    collected: np.ndarray
    substituted: np.ndarray
    weights: np.ndarray
    stocked: np.ndarray
    tags: np.ndarray
    dependency: np.ndarray
    holding_cost: np.ndarray
    spend: np.ndarray


def event_factors(scenario: Scenario, t: int) -> EventFactors:
    """Factors and policy switches set by the deterministic events of a scenario at step ``t``.

    Parameters
    ----------
    scenario : Scenario
        The validated scenario.
    t : int
        Step index [steps].

    Returns
    -------
    EventFactors
        Capacity factors and additions per producer id, open fraction and extra
        lead [d] per link (scenario order), demand factor per market id, and the
        policy switches in force.

    Raises
    ------
    NotImplementedError
        For stochastic events and non-fixed severities.
    """
    return Calendar(scenario).factors(t)


def run_reference(
    scenario: Scenario, net: Network, n_steps: int | None = None, noise: bool = True
) -> ReferenceTrace:
    """Run one deterministic replicate of the step contract with plain loops.

    Parameters
    ----------
    scenario : Scenario
        The validated scenario (the source of every rule and number).
    net : Network
        ``compile_network(scenario)``: used for index orders and nominal flows only.
    n_steps : int, optional
        Steps to run [steps] (default: the whole horizon, ``net.n_steps``).
    noise : bool
        If False, demand noise is ignored (``z = 0``); if True (default), a
        demand entry with ``noise_cv > 0`` raises.

    Returns
    -------
    ReferenceTrace
        Per-step arrays, quantities in t (stocks) and t/step (flows), and run totals.

    Raises
    ------
    NotImplementedError
        For stochastic events, non-fixed event severities, facility outages with
        ``rate_per_year > 0`` and demand noise (unless ``noise=False``).
    """
    model = Model(scenario, net, noise)
    T = net.n_steps if n_steps is None else int(n_steps)
    out = model.run(T)
    sizes = out["sizes"]
    arrays = {
        k: np.array(out["rows"][k], dtype=bool if k == "triggered" else float).reshape(T, sizes[w])
        for k, w in FIELDS.items()
    }
    K, G1 = len(scenario.report.trace_stages), len(net.regions) + 1
    return ReferenceTrace(
        on_hand0=np.array(out["on_hand0"], dtype=float),
        tags=np.array(out["tags"], dtype=float).reshape(T, sizes["H"], K, G1),
        dependency=np.array(out["dependency"], dtype=float).reshape(sizes["M"], K, G1),
        holding_cost=np.array(out["holding_cost"], dtype=float).reshape(sizes["S"]),
        spend=np.array(out["spend"], dtype=float).reshape(sizes["E"]),
        **arrays,
    )
