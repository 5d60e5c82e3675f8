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

    Raises
    ------
    UsageError
        For replications below 1, a negative seed or checks other than the three above.
    ResourceError, InvariantError
        As :func:`simulator.engine.simulate`.

    Examples
    --------
    >>> import simulator
    >>> sc = simulator.load_scenario("scenarios/tutorial.yaml")
    >>> res = simulator.run(sc, replications=10)
    >>> res.fill_rate.shape
    (10, 2)
    """
    import numbers

    from .engine import simulate
    from .exceptions import UsageError
    from .network import compile_network

    R = replications if replications is not None else scenario.replications
    s = seed if seed is not None else scenario.seed
    if isinstance(R, bool) or not isinstance(R, numbers.Integral) or R < 1:
        raise UsageError(f"replications={R!r}: give a whole number >= 1")
    if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0:
        raise UsageError(f"seed={s!r}: give a whole number >= 0")
    net = compile_network(scenario)
    return simulate(net, R, s, checks=checks, progress=progress)


__all__ += ["run"]
