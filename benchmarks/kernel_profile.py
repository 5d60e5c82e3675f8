"""Where the compiled step spends its time: a sampling profile of ``_step_block`` by section and by line.

numba's JIT code has no symbols that ``perf`` can see, so this compiles the step afresh
with line tables (``NUMBA_DEBUGINFO=1``, in a throw-away cache), keeps the object code
and the address the kernel was loaded at, samples one chunk with ``perf record``
(started after the compile and a warm-up, stopped when the chunk ends) and maps every
sample inside the kernel to its source line with ``addr2line``. Lines are grouped by
the section markers of ``simulator/_numba_kernel.py`` (``# ---- 2. arrive (+ tags), scrap``
...); an instruction without a line of its own counts for the line before it, as
``objdump -l`` shows them. numba inlines the helpers of ``_numba_parts.py`` at the level
of its IR and files their lines under the kernel's name, so the profiled build runs on a
copy of the package whose ``_numba_parts.py`` starts with :data:`PAD` blank lines: lines
past that are the helpers' (reported as ``_numba_parts.py:N``, the helper named).

Needs Linux ``perf`` (Debian: ``apt-get install linux-perf``; as a user other than root,
``/proc/sys/kernel/perf_event_paranoid`` at 1 or below), binutils and numba. The
debug build is compiled with the same optimisation as the real one; its chunk time is
printed beside the samples (read the shares, not the seconds, as the real kernel's).

Usage, from the repository root::

    python benchmarks/kernel_profile.py                       # 256 untraced replicates of the flagship
    python benchmarks/kernel_profile.py --r0 0 -n 144         # the chunk with the traced replicates
    python benchmarks/kernel_profile.py --scenario scenarios/tutorial.yaml --top 20 --json prof.json
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KERNEL = ROOT / "simulator" / "_numba_kernel.py"
PARTS = ROOT / "simulator" / "_numba_parts.py"
MARK = re.compile(r"#\s*-{8,}\s*(.+?)\s*$")
FREQ = 1999  #: samples per second
PAD = 100_000  #: blank lines put before _numba_parts.py in the profiled copy, so its lines differ from the kernel's


def _child(tmp: Path, scenario: str, r0: int, n: int, seed: int) -> None:
    """In the profiled process: compile and warm up, write the kernel's object code and address, wait for
    perf, run the chunk."""
    sys.path.insert(0, str(tmp / "pkg"))  # the copy with the helpers' file padded (see _sample)
    from simulator import _numba_kernel, load_scenario
    from simulator.chunks import simulate_chunk

    sc = load_scenario(scenario)
    simulate_chunk(sc, r0, 16, seed, threads=1)  # compiles the step (debug build) and warms the caches
    if not _numba_kernel.__file__.startswith(str(tmp)):
        raise SystemExit(f"kernel_profile: imported {_numba_kernel.__file__}, not the padded copy")
    ov = next(iter(_numba_kernel._step_block.overloads.values()))  # the one signature a run compiles
    lib = ov.library
    name = ov.fndesc.llvm_func_name
    (tmp / "kernel.o").write_bytes(lib._get_compiled_object())
    (tmp / "kernel.json").write_text(json.dumps({"name": name, "address": lib.get_pointer_to_function(name)}))
    (tmp / "ready").touch()
    parent = os.getppid()
    while not (tmp / "go").exists():
        if os.getppid() != parent:  # the profiler went away
            raise SystemExit(1)
        time.sleep(0.02)
    t = time.perf_counter()
    simulate_chunk(sc, r0, n, seed, threads=1)
    (tmp / "done").write_text(str(time.perf_counter() - t))


def _symbol(obj: Path, name: str) -> tuple[str, int, int]:
    """Section, offset and size of function ``name`` in an object file (``objdump -t``)."""
    for line in _run(["objdump", "-t", str(obj)], "objdump -t").splitlines():
        f = line.split()
        if len(f) >= 6 and f[-1] == name and "F" in f[1:3]:
            return f[-3], int(f[0], 16), int(f[-2], 16)
    raise SystemExit(f"kernel_profile: {name[:60]}... not in {obj}")


def _line_table(obj: Path, section: str, start: int, size: int) -> tuple[list[int], list[int]]:
    """Instruction offsets of the function and the source line each belongs to (0: unknown)."""
    dis = _run(["objdump", "-d", "-l", "--no-show-raw-insn", "-j", section, str(obj),
                f"--start-address={start}", f"--stop-address={start + size}"], "objdump -d")
    return parse_listing(dis, start)


def parse_listing(dis: str, start: int = 0) -> tuple[list[int], list[int]]:
    """Instruction offsets (from ``start``) and source lines of an ``objdump -d -l`` listing; an
    instruction under line 0 (no line of its own) keeps the line before it.
    """
    offs, lines, cur = [], [], 0
    for row in dis.splitlines():
        m = re.match(r"^\S*_numba_kernel\.py:(\d+)", row)
        if m:
            cur = int(m.group(1)) or cur  # line 0: no line of its own, keep the one before
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s", row)
        if m:
            offs.append(int(m.group(1), 16) - start)
            lines.append(cur)
    return offs, lines


def _labels() -> tuple[list[int], list[str], list[tuple[int, str]]]:
    """Section markers of the kernel (first lines, names) and the parts' helpers (``def`` lines, names)."""
    starts, names = [], []
    for i, row in enumerate(KERNEL.read_text().splitlines(), 1):
        m = MARK.search(row)
        if m:
            starts.append(i)
            names.append(m.group(1))
    helpers = [(i, m.group(1)) for i, row in enumerate(PARTS.read_text().splitlines(), 1)
               if (m := re.match(r"def (\w+)", row))]
    return starts, names, helpers


def locate(line: int, starts: list[int], names: list[str], helpers: list[tuple[int, str]],
           kernel_src: list[str], parts_src: list[str]) -> tuple[str, str, str]:
    """(section, file:line, source text) of a line of the profiled build's debug info: lines past
    :data:`PAD` are the inlined helpers' (their file was padded by that many lines), others the kernel's."""
    if line > PAD:
        ln = line - PAD
        h = [nm for i, nm in helpers if i <= ln]
        text = parts_src[ln - 1].strip() if ln <= len(parts_src) else ""
        return f"inlined {h[-1] if h else '?'}", f"_numba_parts.py:{ln}", text
    if line <= 0:
        return "no line", "?", ""
    k = bisect.bisect_right(starts, line) - 1
    text = kernel_src[line - 1].strip() if line <= len(kernel_src) else ""
    return (names[k] if k >= 0 else "replicate and step loops, set-up"), f"_numba_kernel.py:{line}", text


def _run(cmd: list[str], what: str) -> str:
    """A tool's standard output; its error, without a traceback, if it fails."""
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise SystemExit(f"kernel_profile: {what} failed (exit {p.returncode}): {p.stderr.strip()[-400:]}")
    return p.stdout


def _sample(tmp: Path, scenario: str, r0: int, n: int, seed: int) -> None:
    """Run the child on a copy of the package (helpers' file padded), perf attached for the timed chunk only."""
    pkg = tmp / "pkg"
    shutil.copytree(ROOT / "simulator", pkg / "simulator", ignore=shutil.ignore_patterns("__pycache__"))
    parts = pkg / "simulator" / PARTS.name
    parts.write_text("\n" * PAD + parts.read_text())  # numba files the inlined lines under the kernel's name
    env = {**os.environ, "NUMBA_DEBUGINFO": "1", "NUMBA_CACHE_DIR": str(tmp / "cache"),
           "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, __file__, "--child", str(tmp), "--scenario", scenario,
                              "--r0", str(r0), "-n", str(n), "--seed", str(seed)], env=env)
    perf = None
    try:
        print("compiling the step with line tables (about half a minute) ...", file=sys.stderr)
        while not (tmp / "ready").exists():
            if child.poll() is not None:
                raise SystemExit(f"kernel_profile: the profiled run failed (exit {child.returncode})")
            time.sleep(0.1)
        with (tmp / "perf.log").open("wb") as log:
            perf = subprocess.Popen(["perf", "record", "-q", "-F", str(FREQ), "-o", str(tmp / "perf.data"),
                                     "-p", str(child.pid)], stdout=subprocess.DEVNULL, stderr=log)
        time.sleep(1.0)  # perf attached, or refused (perf_event_paranoid, no permission)
        if perf.poll() is not None:
            why = (tmp / "perf.log").read_text(errors="replace").strip()[-400:]
            raise SystemExit(f"kernel_profile: perf record stopped at once (exit {perf.returncode}): {why}\n"
                             "(as a user other than root it needs /proc/sys/kernel/perf_event_paranoid <= 1)")
        (tmp / "go").touch()
        rc = child.wait()
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
        if rc != 0 or perf.returncode not in (0, -signal.SIGINT):
            why = (tmp / "perf.log").read_text(errors="replace").strip()[-400:]
            raise SystemExit(f"kernel_profile: run exit {rc}, perf exit {perf.returncode}: {why}")
    finally:
        for proc in (child, perf):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def profile(scenario: str, r0: int, n: int, seed: int, top: int) -> dict:
    for tool in ("perf", "objdump"):
        if shutil.which(tool) is None:
            raise SystemExit(f"kernel_profile: needs `{tool}` on PATH (Debian: apt-get install linux-perf binutils)")
    with tempfile.TemporaryDirectory(prefix="reesim-kprof-") as d:
        tmp = Path(d)
        _sample(tmp, scenario, r0, n, seed)
        chunk_s = float((tmp / "done").read_text())
        meta = json.loads((tmp / "kernel.json").read_text())
        section, start, size = _symbol(tmp / "kernel.o", meta["name"])
        ips = _run(["perf", "script", "-i", str(tmp / "perf.data"), "-F", "ip"], "perf script").split()
        offs, lines = _line_table(tmp / "kernel.o", section, start, size)
    total = len(ips)
    base = meta["address"]
    by_line: collections.Counter[int] = collections.Counter()
    for ip in ips:
        off = int(ip, 16) - base
        if 0 <= off < size:
            i = bisect.bisect_right(offs, off) - 1
            by_line[lines[i] if i >= 0 else 0] += 1
    inside = sum(by_line.values())
    starts, names, helpers = _labels()
    srcs = KERNEL.read_text().splitlines(), PARTS.read_text().splitlines()

    def where(line: int) -> tuple[str, str, str]:
        return locate(line, starts, names, helpers, *srcs)

    sections: collections.Counter[str] = collections.Counter()
    for line, c in by_line.items():
        sections[where(line)[0]] += c
    out = {
        "scenario": scenario, "r0": r0, "replicates": n, "chunk_s_debug_build": chunk_s,
        "samples": total, "samples_in_kernel": inside, "step_s": inside / FREQ,
        "sections": [{"section": s, "samples": c, "share": c / inside} for s, c in sections.most_common()],
        "lines": [dict(zip(("section", "where", "source"), where(ln)), samples=c, share=c / inside)
                  for ln, c in by_line.most_common(top)],
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "controls_2027_allied.yaml"))
    ap.add_argument("--r0", type=int, default=256, help="first replicate of the chunk (default 256: untraced)")
    ap.add_argument("-n", type=int, default=256, help="replicates in the chunk (default 256, a pool chunk)")
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--top", type=int, default=15, help="lines to list (default 15)")
    ap.add_argument("--json", metavar="FILE", help="also write the profile as JSON")
    ap.add_argument("--child", metavar="DIR", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child(Path(a.child), a.scenario, a.r0, a.n, a.seed)
        return 0
    if a.n < 1 or a.r0 < 0 or a.top < 0:
        ap.error("-n must be >= 1, --r0 and --top >= 0")
    if not Path(a.scenario).is_file():
        ap.error(f"no scenario file {a.scenario}")
    p = profile(a.scenario, a.r0, a.n, a.seed, a.top)
    print(f"{Path(a.scenario).name}, replicates {a.r0}..{a.r0 + a.n - 1}: chunk {p['chunk_s_debug_build']:.2f} s "
          f"(debug build), of which ≈ {p['samples_in_kernel'] / FREQ:.2f} s in the step "
          f"({p['samples_in_kernel']} of {p['samples']} samples at {FREQ}/s)")
    print(f"\n{'share':>6}  {'≈ s':>5}  section")
    for s in p["sections"]:
        print(f"{100 * s['share']:5.1f} %  {s['samples'] / FREQ:5.2f}  {s['section']}")
    print(f"\n{'share':>6}  {'line':<22} source")
    for ln in p["lines"]:
        print(f"{100 * ln['share']:5.1f} %  {ln['where']:<22} {ln['source'][:90]}")
    if a.json:
        Path(a.json).write_text(json.dumps(p, indent=2))
        print(f"\nwrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
