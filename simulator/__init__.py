"""reesim: a simulator of rare-earth supply chains.

Data flows one way: YAML -> :class:`Scenario` -> :class:`Network` -> engine ->
:class:`Result` -> report / comparison.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .scenario import Scenario, load_scenario

__all__ = ["Scenario", "__version__", "load_scenario"]


def run(
    scenario: Scenario,
    replications: int | None = None,
    seed: int | None = None,
    checks: str = "error",
    progress=None,  # type: ignore[no-untyped-def]
):  # type: ignore[no-untyped-def]
    """Simulate a scenario and return its immutable :class:`~simulator.engine.Result`.

    Parameters
    ----------
    scenario : Scenario
        From :func:`load_scenario`.
    replications, seed : int, optional
        Override the scenario's ``replications`` and ``seed``.
    checks : {'error', 'warn', 'off'}
        Invariant checks (no negative stock, no NaN, mass balance).
    progress : callable, optional
        Called with (steps done, total steps).

    Examples
    --------
    >>> import simulator
    >>> sc = simulator.load_scenario("scenarios/tutorial.yaml")
    >>> res = simulator.run(sc, replications=10)
    >>> res.fill_rate.shape
    (10, 2)
    """
    from .engine import simulate
    from .network import compile_network

    net = compile_network(scenario)
    return simulate(
        net,
        replications if replications is not None else scenario.replications,
        seed if seed is not None else scenario.seed,
        checks=checks,
        progress=progress,
    )


__all__ += ["run"]
