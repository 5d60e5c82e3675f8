"""The native backend's step: SIMD across replicates in C++ (``simulator/_native/lanes.cpp``), numba's
kernel (:mod:`simulator._numba_kernel`) where it cannot run.

``lanes.cpp`` advances eight consecutive replicates in the eight lanes of 512-bit vectors, with the
semantics of numba's ``_step_block`` (same operations in the same order, so the same results to the last
bit; ``tests/test_native.py`` compares whole results); the origin tags of traced replicates are updated
replicate by replicate after each batch's lane pass, from what it recorded. It is
compiled on first use with ``$CXX`` (else ``g++`` or ``c++``) into a cache directory keyed by the
source, the flags, the compiler's version and the CPU's flags, and loaded with ctypes (whose calls
release the GIL, so blocks of replicates run on Python threads as with numba).

:func:`step` runs every chunk of :data:`CHUNK` replicates natively, and all of them through numba's
kernel when an observer reads the per-step outputs of every replicate or the arguments are not the kind
the native step takes (``TRACED_ON_NUMBA`` puts the chunks holding traced replicates there, for
comparisons). The module has the API of :mod:`simulator._numba_step`, so ``simulator.kernels.compiled()``
returns it when ``REESIM_BACKEND=native``. Without a compiler, or when the build fails, the backend is
unavailable: :func:`load` returns the reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from ._numba_step import (  # noqa: F401 - the API of _numba_step
    BLOCKS,
    CHUNK,
    COMPACT,
    PARALLEL_FROM,
    PARTS_SHA256,
    PIPELINE_SHA256,
    RECOVERED,
    SHORT,
    TRIGGER_TIE,
    _step_block,
    blocks,
    one_blas_thread,
    threads_for,
)

SOURCE = Path(__file__).resolve().parent / "_native" / "lanes.cpp"
#: -ffp-contract=off: no fused multiply-adds (they round once where numba's code rounds twice)
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC", "-std=c++17")
LANES = 8  #: replicates in a vector (lanes.cpp's L); equal to CHUNK

i64, f64, u64, b8 = np.int64, np.float64, np.uint64, np.bool_

# --------------------------------------------------------------------------- the argument struct
# the fields of lanes.cpp's struct Args, in its order: (name, kind), kind "i" int64, "d" double,
# or a numpy dtype for a pointer to an array of it
_SIZES = ("R H E F D M Q W NC n_dst n_src n_out n_in n_chp n_ph n_ql n_cl n_prod NW NB2 ring_rows n_rel n_hc "  # noqa: SIM905
          "cap_rows P t0 nsteps ch_lo ch_hi blk nb use_lead_re off_check use_pat pat_any scrap").split()
_PTRS: list[tuple[str, Any]] = [
    *((n, f64) for n in ("on_hand", "backlog", "in_transit", "pipe", "backorder", "exp_use", "fg_target",
                         "order_up_to", "quota", "closed_for", "short_run", "adopt_at")),
    ("triggered", b8), ("new_trig", b8),
    *((n, u64) for n in ("src_perm", "src_starts", "src_ends", "src_uniq", "dst_perm", "dst_starts", "dst_ends",
                         "dst_uniq")),
    ("ring_off", i64), ("ring_len", i64), ("ship_mask", f64), ("out_hold", u64), ("out_coef", f64),
    ("out_ptr", u64), ("in_hold", u64), ("in_coef", f64), ("in_ptr", u64), ("dem_hold", u64), ("dem_market", u64),
    ("dem_bo", b8), ("dem_prod", u64), ("out_prod", u64), ("in_prod", u64), ("hold_dem", i64),
    *((n, u64) for n in ("link_src", "link_dst", "d_ident", "mkt_starts", "mkt_ends")),
    *((n, f64) for n in ("out_per_act", "wnorm", "base_seg", "static_shares", "lead1")),
    ("link_fac", i64),
    *((n, f64) for n in ("online_step", "cv", "sub_fraction", "sub_after", "sub_adopt", "sub_threshold")),
    ("has_sub", b8), ("ch_pile", u64), ("ch_recv", u64), ("ch_cover", f64), ("ch_max", f64),
    *((n, u64) for n in ("chp_perm", "chp_starts", "chp_ends", "chp_uniq", "pile_of_q", "pile_h", "pile_of_h")),
    ("pile_cost", f64), ("rec_hold", u64), ("ref_step", i64),
    ("consumed", f64),
    *((n, f64) for n in ("flows", "a_output", "a_act", "a_cap", "a_surplus", "a_shipped", "a_subst", "a_released",
                         "a_hcost", "tr_demand", "tr_served", "tr_int_d", "tr_int_s", "tr_maxsf", "tr_ring_d",
                         "tr_ring_s", "tr_roll_d", "tr_roll_s")),
    ("tr_short", i64), ("tr_recover", i64), ("tr_dip", i64),
    *((n, f64) for n in ("CAP", "GOT", "COLL", "demand_factor", "noise", "link_open")),
    ("lead_re", i64),
    *((n, f64) for n in ("added_capacity", "pol_release", "pol_sub", "reroute_steps", "G")),
    ("AR", u64), ("DR", u64), ("pat_shares", f64), ("quota_links", u64), ("closing_links", u64), ("win", f64),
    ("win_on", b8), ("cons_k", f64), ("base_w", f64),
]
#: after them (the end of struct Args): the tags' sizes and arrays
_TAG_SIZES = ("Rt", "C", "single_input")
_TAG_PTRS: list[tuple[str, Any]] = [(n, f64) for n in ("hold_tag", "pipe_tag", "dep", "dep_int", "c_keep", "c_onehot",
                                                       "c_none")]
_DTYPE = dict(_PTRS + _TAG_PTRS)
#: arrays the native step writes: they must be the engine's own (C-contiguous), never copies
_WRITES = {"on_hand", "backlog", "in_transit", "pipe", "backorder", "closed_for", "short_run", "adopt_at",
           "triggered", "new_trig", "consumed", "flows", "a_output", "a_act", "a_cap", "a_surplus", "a_shipped",
           "a_subst", "a_released", "a_hcost", "tr_demand", "tr_served", "tr_int_d", "tr_int_s", "tr_maxsf",
           "tr_ring_d", "tr_ring_s", "tr_roll_d", "tr_roll_s", "tr_short", "tr_recover", "tr_dip", "win", "cons_k",
           "hold_tag", "pipe_tag", "dep", "dep_int"}


class Args(ctypes.Structure):
    """lanes.cpp's ``struct Args``."""

    _fields_ = ([(n, ctypes.c_int64) for n in _SIZES] + [("step_days", ctypes.c_double), ("closed_below", ctypes.c_double)]
                + [(n, ctypes.c_void_p) for n, _ in _PTRS]
                + [(n, ctypes.c_int64) for n in _TAG_SIZES] + [(n, ctypes.c_void_p) for n, _ in _TAG_PTRS])


# --------------------------------------------------------------------------- build and load

_lock = threading.Lock()
_log = logging.getLogger("reesim")


def _announce() -> None:
    _log.info("building the SIMD step for this processor (once; about 2 s, cached afterwards)")


#: called (no arguments) just before the library is compiled, not when it comes from the cache: by default
#: an INFO record of the ``reesim`` logger, which the command line prints (simulator.cli)
on_build: Any = _announce
_lib: Any = None
_reason: str | None = None  #: why the backend is unavailable (None: not tried yet, or loaded)
BUILD_SECONDS: float | None = None  #: time of the last compile in this process (None: loaded from the cache)


def compiler() -> list[str] | None:
    """The C++ compiler's command: ``$CXX``, else ``g++`` or ``c++`` on the PATH; None without one."""
    cxx = os.environ.get("CXX", "").strip()
    if cxx:
        return shlex.split(cxx)
    for name in ("g++", "c++"):
        path = shutil.which(name)
        if path:
            return [path]
    return None


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cache_dirs() -> list[Path]:
    dirs = [SOURCE.parent / "__pycache__"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    dirs.append(Path(base) / "reesim" / "native")
    return dirs


def library_key(cxx: list[str], version: str) -> str:
    """Hash of what the compiled library depends on: source, flags, compiler and CPU."""
    h = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(FLAGS).encode(), " ".join(cxx).encode(), version.encode(),
                 _cpu_flags().encode(), platform.machine().encode()):
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _open(path: Path) -> Any:
    lib = ctypes.CDLL(str(path))
    lib.reesim_lanes_args_size.restype = ctypes.c_int64
    lib.reesim_lanes_lanes.restype = ctypes.c_int64
    lib.reesim_lanes_step.restype = ctypes.c_int
    lib.reesim_lanes_step.argtypes = [ctypes.c_void_p]
    if lib.reesim_lanes_args_size() != ctypes.sizeof(Args) or lib.reesim_lanes_lanes() != LANES:
        raise OSError(f"{path.name}: its struct Args or lane count does not match _native_step.Args")
    return lib


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _whole(path: Path) -> bool:
    """True when ``path`` is the library as it was written: its sha256 sits beside it (``.sha256``, written
    after the library was flushed to disk). A partly written library can crash the process that loads it
    (dlopen maps it; a truncated one raised SIGBUS), so nothing is loaded without this check."""
    try:
        return path.with_suffix(".sha256").read_text().strip() == _digest(path)
    except OSError:
        return False


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _clear_stale(d: Path) -> None:
    """Temporary files of builds that were killed (older than ten minutes)."""
    import time

    for f in d.glob(".lanes-*"):
        with contextlib.suppress(OSError):
            if time.time() - f.stat().st_mtime > 600:
                f.unlink()


def _build() -> tuple[Any, str | None]:
    global BUILD_SECONDS
    import time

    cxx = compiler()
    if cxx is None:
        return None, "no C++ compiler found (set CXX, or install g++)"
    try:
        version = subprocess.run([*cxx, "--version"], capture_output=True, text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"the C++ compiler {' '.join(cxx)!r} does not run: {exc}"
    try:
        key = library_key(cxx, version)
    except OSError as exc:
        return None, f"cannot read {SOURCE}: {exc}"
    name = f"lanes-{key}.so"
    for d in _cache_dirs():
        failed = d / f"lanes-{key}.failed"  # this compiler failed on this source before: do not try again
        if failed.exists():
            with contextlib.suppress(OSError):
                return None, failed.read_text().strip() + f" (remembered in {failed}; delete it to try again)"
        if (d / name).exists() and _whole(d / name):
            try:
                return _open(d / name), None
            except OSError:
                pass  # not loadable here: build anew
    last = "no writable cache directory"
    for d in _cache_dirs():
        try:
            d.mkdir(parents=True, exist_ok=True)
            _clear_stale(d)
            fd, tmp = tempfile.mkstemp(prefix=".lanes-", suffix=".so", dir=d)
            os.close(fd)
        except OSError as exc:
            last = f"{d}: {exc}"
            continue
        try:
            if on_build is not None:
                with contextlib.suppress(Exception):
                    on_build()
            t = time.perf_counter()
            proc = subprocess.run([*cxx, *FLAGS, "-o", tmp, str(SOURCE)], capture_output=True, text=True,
                                  timeout=600, check=False)
            if proc.returncode != 0:
                err = (proc.stderr or proc.stdout).strip().splitlines()
                why = f"{' '.join(cxx)} failed to compile {SOURCE.name}: " + (err[0] if err else "no output")
                with contextlib.suppress(OSError):  # every later process and run falls back at once
                    _write_synced(d / f"lanes-{key}.failed", why.encode())
                return None, why
            BUILD_SECONDS = time.perf_counter() - t
            with open(tmp, "rb") as fh:  # on disk before it gets its name: never a partial library
                data = fh.read()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o755)  # mkstemp's 0600: others sharing the install can load it too
            os.replace(tmp, d / name)  # atomic: processes building at once each leave a whole file
            sums = d / f"{name[:-3]}.sha256.tmp{os.getpid()}"
            _write_synced(sums, hashlib.sha256(data).hexdigest().encode())
            os.chmod(sums, 0o644)
            os.replace(sums, (d / name).with_suffix(".sha256"))
            return _open(d / name), None
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"building {SOURCE.name} failed: {exc}"
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return None, f"cannot write the compiled library: {last}"


def load() -> tuple[Any, str | None]:
    """The compiled library (built on first use) and None, or None and why the backend is unavailable."""
    global _lib, _reason
    with _lock:
        if _lib is None and _reason is None:
            try:
                _lib, _reason = _build()
            except Exception as exc:  # noqa: BLE001 - never a traceback: the backend is only unavailable
                _lib, _reason = None, f"building {SOURCE.name} failed: {exc!r}"
        return _lib, _reason


def available() -> bool:
    return load()[0] is not None


# --------------------------------------------------------------------------- arguments of a run

_N_S, _N_T, _N_N, _N_O, _N_A, _N_K = 14, 4, 62, 20, 21, 34  # lengths of the tuples (_numba_kernel._step_block)


def _run_fields(S: tuple, T: tuple, N: tuple, O: tuple, A: tuple) -> dict[str, Any]:
    """The struct's fields that stay the same through a run: sizes and the arrays of S, N, A (by name)."""
    (on_hand, backlog, in_transit, pipe, backorder, exp_use, fg_target, order_up_to, quota, closed_for,
     short_run, adopt_at, triggered, new_trig) = S
    (src_perm, src_starts, src_ends, src_uniq, dst_perm, dst_starts, dst_ends, dst_uniq,
     ring_off, ring_len, ship_mask, out_hold, out_coef, out_ptr, in_hold, in_coef, in_ptr,
     dem_hold, dem_market, dem_bo, dem_prod, out_prod, in_prod, hold_dem, link_src, link_dst, d_ident, mkt_starts,
     mkt_ends, out_per_act, wnorm, base_seg, static_shares, lead1, link_fac, online_step,
     cv, sub_fraction, sub_after, sub_adopt, sub_threshold, has_sub,
     ch_pile, ch_recv, ch_cover, ch_max, chp_perm, chp_starts, chp_ends, chp_uniq,
     pile_of_q, pile_h, pile_of_h, pile_cost,
     c_keep, c_onehot, c_none, single_input, rec_hold, step_days, closed_below, ref_step) = N
    consumed = O[16]
    hold_tag, pipe_tag, dep, dep_int = T
    (flows, a_output, a_act, a_cap, a_surplus, a_shipped, a_subst, a_released, a_hcost,
     tr_demand, tr_served, tr_int_d, tr_int_s, tr_maxsf, tr_ring_d, tr_ring_s, tr_roll_d, tr_roll_s,
     tr_short, tr_recover, tr_dip) = A
    loc = locals()
    arrays = {n: loc[n] for n, _ in _PTRS + _TAG_PTRS if n in loc}
    R, H = on_hand.shape
    E, D = backlog.shape[1], backorder.shape[1]
    F = out_ptr.shape[0] - 1
    M = mkt_starts.shape[0]
    sizes = dict(R=R, H=H, E=E, F=F, D=D, M=M, Q=ch_pile.shape[0], W=tr_ring_d.shape[0], NC=rec_hold.shape[0],
                 n_dst=dst_uniq.shape[0], n_src=src_uniq.shape[0], n_out=out_hold.shape[0], n_in=in_hold.shape[0],
                 n_chp=chp_uniq.shape[0], n_ph=pile_h.shape[0], ring_rows=pipe.shape[1],
                 n_rel=a_released.shape[1], n_hc=a_hcost.shape[1], P=flows.shape[1],
                 Rt=hold_tag.shape[0], C=hold_tag.shape[2], single_input=bool(single_input))
    Rt, C = hold_tag.shape[0], hold_tag.shape[2]
    shapes = {"pipe": (-(-R // LANES), pipe.shape[1], LANES), "tr_ring_d": (tr_ring_d.shape[0], R, M),
              "tr_ring_s": (tr_ring_d.shape[0], R, M), "consumed": (R, D), "ref_step": (R,)}
    for n in ("on_hand", "exp_use", "fg_target", "order_up_to"):
        shapes[n] = (R, H)
    for n in ("backlog", "in_transit", "quota", "closed_for", "a_shipped"):
        shapes[n] = (R, E)
    for n in ("backorder", "short_run", "adopt_at"):
        shapes[n] = (R, D)
    for n in ("tr_demand", "tr_served", "tr_int_d", "tr_int_s", "tr_maxsf", "tr_roll_d", "tr_roll_s", "tr_short",
              "tr_recover", "tr_dip", "a_subst"):
        shapes[n] = (R, M)
    for n in ("a_output", "a_act", "a_cap"):
        shapes[n] = (R, F)
    shapes["triggered"] = shapes["new_trig"] = (R, sizes["Q"])
    shapes.update(hold_tag=(Rt, H, C), pipe_tag=(Rt, E, C), dep=(Rt, M, C), dep_int=(Rt, M, C), c_keep=(F, C),
                  c_onehot=(F, C), c_none=(C,))
    # a market without demand entries would make the numba kernel read past its row (see mkt_ends)
    if M and not (np.asarray(mkt_ends) > np.asarray(mkt_starts)).all():
        raise _Unsupported("a market without demand entries")
    return {"sizes": sizes, "arrays": arrays, "shapes": shapes,
            "step_days": float(step_days), "closed_below": float(closed_below)}


class _Unsupported(Exception):
    """Arguments the native step does not take (the step then runs on numba's kernel)."""


def _pointer(name: str, a: Any, keep: list[Any], shape: tuple[int, ...] | None = None) -> int:
    dt = _DTYPE[name]
    if not isinstance(a, np.ndarray):
        raise _Unsupported(f"{name} is not an array")
    if shape is not None and a.shape != shape:
        raise _Unsupported(f"{name}: shape {a.shape}, expected {shape}")
    if a.dtype != dt or not a.flags.c_contiguous:
        if name in _WRITES:
            raise _Unsupported(f"{name}: {a.dtype}, contiguous {a.flags.c_contiguous}")
        a = np.ascontiguousarray(a, dtype=dt)
        keep.append(a)
    return a.ctypes.data if a.size else 0


class _RunCache:
    """The struct filled with one run's fields, while that run's arrays are alive (checked by weak references,
    so the cache never keeps a finished run's arrays)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[tuple[tuple[int, ...], list[Any], Args | None, str | None, list[Any]]] = []

    def get(self, S: tuple, T: tuple, N: tuple, O: tuple, A: tuple) -> tuple[Args | None, str | None]:
        objs = (*S, *T, *N, *O, *A)
        ids = tuple(map(id, objs))
        with self.lock:
            for key, refs, base, why, _keep in self.entries:
                if key == ids and all(r() is o for r, o in zip(refs, objs) if r is not None):
                    return base, why
        base, why, keep = None, None, []
        try:
            base = self._build(S, T, N, O, A, keep)
        except _Unsupported as exc:
            why = str(exc)
        refs = [weakref.ref(o) if isinstance(o, np.ndarray) else None for o in objs]
        with self.lock:
            self.entries = [e for e in self.entries if all(r is None or r() is not None for r in e[1])][-3:]
            self.entries.append((ids, refs, base, why, keep))
        return base, why

    @staticmethod
    def _build(S: tuple, T: tuple, N: tuple, O: tuple, A: tuple, keep: list[Any]) -> Args:
        if (len(S), len(T), len(N), len(O), len(A)) != (_N_S, _N_T, _N_N, _N_O, _N_A):
            raise _Unsupported("argument tuples of another length than _step_block's")
        run = _run_fields(S, T, N, O, A)
        base = Args()
        for n, v in run["sizes"].items():
            setattr(base, n, int(v))
        base.step_days, base.closed_below = run["step_days"], run["closed_below"]
        for n, a in run["arrays"].items():
            setattr(base, n, _pointer(n, a, keep, run["shapes"].get(n)))
        return base


_runs = _RunCache()


def _batch_args(base: Args, t0: int, nsteps: int, K: tuple, keep: list[Any]) -> Args:
    """A copy of the run's struct with the batch's controls and sizes."""
    if len(K) != _N_K:
        raise _Unsupported("controls tuple of another length than _step_block's")
    (CAP, GOT, COLL, demand_factor, noise, link_open, lead_re, use_lead_re, off_check, added_capacity,
     pol_release, pol_sub, reroute_steps, blockrow, G, AR, DR, use_pat, pat_w,
     pat_shares, pat_any, quota_links, closing_links, win, win_on, cons_k,
     base_w, rr_version, *_rr) = K
    R, E, F, D, M = base.R, base.E, base.F, base.D, base.M
    a = Args.from_buffer_copy(base)
    scrap = COLL.shape[2] > 0
    if scrap and GOT.shape[2] != base.NC:
        raise _Unsupported("scrap arriving for another number of recyclers")
    if CAP.shape[0] not in (1, nsteps) or added_capacity.shape[0] != CAP.shape[0]:
        raise _Unsupported("capacity rows")
    sizes = dict(n_ql=quota_links.shape[0], n_cl=closing_links.shape[0], n_prod=COLL.shape[2], NW=win_on.shape[0],
                 NB2=noise.shape[2], cap_rows=CAP.shape[0], t0=t0, nsteps=nsteps,
                 use_lead_re=bool(use_lead_re), off_check=bool(off_check), use_pat=bool(use_pat),
                 pat_any=bool(pat_any), scrap=scrap, NC=base.NC if scrap else 0)
    for n, v in sizes.items():
        setattr(a, n, int(v))
    shapes = {"CAP": (CAP.shape[0], R, F), "added_capacity": (CAP.shape[0], R, F), "demand_factor": (R, D),
              "noise": (R, D, noise.shape[2]), "link_open": (R, E), "pol_release": (R,), "pol_sub": (R,),
              "reroute_steps": (R, E), "G": (nsteps, D), "AR": (nsteps, E), "DR": (nsteps, E),
              "pat_shares": (E,), "base_w": (E,), "win": (win_on.shape[0], R, M, 2)}
    if use_lead_re:
        shapes["lead_re"] = (R, E)
    if scrap:
        shapes.update(GOT=(nsteps, R, base.NC), COLL=(nsteps, R, COLL.shape[2]), cons_k=(cons_k.shape[0], R, D))
        if cons_k.shape[0] < nsteps:
            raise _Unsupported("cons_k rows")
    loc = locals()
    for n in ("CAP", "GOT", "COLL", "demand_factor", "noise", "link_open", "lead_re", "added_capacity",
              "pol_release", "pol_sub", "reroute_steps", "G", "AR", "DR", "pat_shares", "quota_links",
              "closing_links", "win", "win_on", "cons_k", "base_w"):
        if n in ("GOT", "COLL", "cons_k") and not scrap or n == "lead_re" and not use_lead_re:
            setattr(a, n, 0)
            continue
        setattr(a, n, _pointer(n, loc[n], keep, shapes.get(n)))
    return a


# --------------------------------------------------------------------------- the step

#: run the chunks holding traced replicates on numba's kernel, as before lanes.cpp had the tag operations
#: (for comparisons: tests and timings)
TRACED_ON_NUMBA = False
#: why the last step ran wholly on numba's kernel (None: it ran natively where it could)
last_fallback: str | None = None


def step(t0, nsteps, S, T, N, O, A, K, pool=None, threads=1):
    """Advance every replicate by steps ``t0 .. t0+nsteps-1`` (as :func:`simulator._numba_step.step`).

    Chunks holding traced replicates (the first ``ceil(Rt / CHUNK)``) run through numba's kernel, the
    others natively; everything runs through numba's kernel when an observer reads the per-step outputs
    of every replicate, or when the arguments are not the kind the native step takes. Block ``b`` of
    ``nb`` (one per thread of ``pool``) runs numba's chunks b, b + nb, ... and then the native ones the
    same way; both release the GIL.
    """
    global last_fallback
    R = S[0].shape[0]
    nb = 1 if pool is None else blocks(R, threads)
    n_chunks = -(-R // CHUNK)
    hold_tag = T[0]
    # chunks with traced replicates on numba's kernel (none unless TRACED_ON_NUMBA)
    split = -(-hold_tag.shape[0] // CHUNK) if hold_tag.shape[2] > 0 and TRACED_ON_NUMBA else 0
    lib, why = load()
    keep: list[Any] = []
    base = None
    if O[0].shape[0] == R:
        why = "an observer reads every replicate's per-step outputs"
    elif lib is not None:
        base, why = _runs.get(S, T, N, O, A)
        if base is not None:
            try:
                base = _batch_args(base, t0, nsteps, K, keep)
            except _Unsupported as exc:
                base, why = None, str(exc)
    if base is None or split >= n_chunks:
        last_fallback = why
        split = n_chunks
    else:
        last_fallback = None

    def block(b: int) -> None:
        if split > 0:
            _step_block(b, nb, t0, nsteps, S, T, N, O, A, K, split)
        if split < n_chunks:
            a = Args.from_buffer_copy(base) if nb > 1 else base
            a.ch_lo, a.ch_hi, a.blk, a.nb = split, n_chunks, b, nb
            lib.reesim_lanes_step(ctypes.byref(a))

    if nb == 1:
        block(0)
        return
    futures = [pool.submit(block, b) for b in range(nb)]
    for f in futures:
        f.result()
