"""Figures and reports: the only part of reesim that imports matplotlib (lazily, inside functions)."""
