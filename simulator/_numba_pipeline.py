"""The numba compiler pipeline of the whole-step kernel: numba's nopython pipeline plus copy propagation.

The step inlines small helpers (``inline="always"``: segment sums, tag mixing, order
shares) at the level of numba's IR, which binds each array argument to a new
variable at every call site. In the default pipeline each such binding stays a
variable of its own, and numba's reference counting increments and decrements it
(atomic operations, through calls to ``NRT_incref``/``NRT_decref``) every time the
inlined code runs, inside the step's loops. Copy propagation replaces those
variables by the arrays they copy and dead-code removal drops the bindings, so the
reference counting goes with them.

numba runs exactly this simplification (``numba.core.ir_utils.simplify``) inside
its parfor passes, which is why the kernel used to be compiled with
``parallel=True``: the default pipeline's code was 80 % slower, but the parallel
one took about 50 s to compile. This pipeline gives faster code than either at a
short compile (measured on the flagship's chunk of 256 replicates: 5.4 s per chunk
with the parallel pipeline, 9.8 s with the default one, 4.2 s with this one; compile
53 s, 21 s, 26 s; results identical).

If numba's internals move (``ir_utils.simplify``, the pass manager, the rewrites
pass), the kernel falls back to the default pipeline: the same results, only slower
(:data:`COPY_PROPAGATION` is False where that is known at import). numba's cache of
the step does not see this file: ``_numba_kernel.PIPELINE_SHA256`` must change with it
(a test checks).
"""

from __future__ import annotations

import inspect
from typing import Any

COPY_PROPAGATION = False  #: True when the kernel is compiled with :class:`StepCompiler`
StepCompiler: Any = None  #: the compiler class, or None for numba's default pipeline

try:
    from numba.core import ir_utils
    from numba.core.compiler import CompilerBase, DefaultPassBuilder
    from numba.core.compiler_machinery import FunctionPass, register_pass
    from numba.core.typed_passes import NopythonRewrites

    if list(inspect.signature(ir_utils.simplify).parameters) != ["func_ir", "typemap", "calltypes", "metadata"]:
        raise ImportError("numba.core.ir_utils.simplify changed")

    @register_pass(mutates_CFG=True, analysis_only=False)
    class CopyPropagate(FunctionPass):  # type: ignore[misc]
        """Copy propagation, dead-code removal and CFG simplification on the typed IR."""

        _name = "reesim_copy_propagate"

        def __init__(self) -> None:
            FunctionPass.__init__(self)

        def run_pass(self, state: Any) -> bool:
            try:
                ir_utils.simplify(state.func_ir, state.typemap, state.calltypes, state.metadata)
            except Exception:  # noqa: BLE001 - a numba whose IR tools moved: compile without (each rewrite
                return False  # simplify makes is valid on its own, so a partial one is too)
            return True

    class _StepCompiler(CompilerBase):  # type: ignore[misc]
        """numba's nopython pipeline with :class:`CopyPropagate` after the rewrites (where the parfor
        passes would run)."""

        def define_pipelines(self) -> list[Any]:
            pm = DefaultPassBuilder.define_nopython_pipeline(self.state)
            try:
                pm.add_pass_after(CopyPropagate, NopythonRewrites)
            except (ValueError, KeyError):  # a numba without that pass: its default pipeline
                pm = DefaultPassBuilder.define_nopython_pipeline(self.state)
            pm.finalize()
            return [pm]

    StepCompiler = _StepCompiler
    COPY_PROPAGATION = True
except (ImportError, AttributeError):  # pragma: no cover - depends on the numba version
    pass
