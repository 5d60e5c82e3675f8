"""reesim: a simulator of rare-earth supply chains.

Data flows one way: YAML -> :class:`Scenario` -> :class:`Network` -> engine ->
:class:`Result` -> report / comparison.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .scenario import Scenario, load_scenario  # noqa: E402

__all__ = ["Scenario", "__version__", "load_scenario"]
