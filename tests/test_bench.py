"""`reesim bench` / benchmarks/core_loop.py: a run the engine refuses for memory is reported, not fatal."""

from __future__ import annotations

from simulator import bench
from simulator.exceptions import ResourceError


def test_a_refused_run_is_a_skipped_row_and_the_rest_still_runs(monkeypatch, capsys):
    real = bench.time_engine

    def refuse_big(net, R, repeats):
        if R >= 100:
            raise ResourceError(f"{R} replicates need about 24 GB, more than the 19 GB available; use -n 80 or fewer")
        return real(net, R, repeats)

    monkeypatch.setattr(bench, "time_engine", refuse_big)
    rows = bench.run("quick", only="tutorial")
    assert [r["R"] for r in rows] == [1, 100]
    assert rows[0]["throughput_nrd_s"] > 0 and "skipped" not in rows[0]
    assert rows[1]["skipped"].startswith("100 replicates need about 24 GB")
    assert "skipped: 100 replicates need" in capsys.readouterr().out


def _kernel_profile():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "kernel_profile.py"
    spec = importlib.util.spec_from_file_location("kernel_profile", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_kernel_profile_finds_the_steps_sections_and_tells_helpers_lines_apart():
    """benchmarks/kernel_profile.py groups lines by the kernel's section markers (they must stay findable) and
    tells the inlined helpers' lines (past PAD in its padded copy) from the kernel's, whatever they overlap."""
    kp = _kernel_profile()
    starts, names, helpers = kp._labels()
    assert starts == sorted(starts)
    for want in ("2. arrive", "3. produce", "ship", "5. demand", "6. re-route", "8. record"):
        assert any(n.startswith(want) for n in names), want
    assert {"_ss", "_mix", "_pw"} <= {h for _, h in helpers}
    ksrc, psrc = kp.KERNEL.read_text().splitlines(), kp.PARTS.read_text().splitlines()
    ss = next(i for i, h in helpers if h == "_ss")
    sec, where, text = kp.locate(kp.PAD + ss + 1, starts, names, helpers, ksrc, psrc)
    assert (sec, where, text) == ("inlined _ss", f"_numba_parts.py:{ss + 1}", psrc[ss].strip())
    loop = next(i for i, row in enumerate(ksrc, 1) if "for jr in range(" in row)  # before the first marker,
    assert loop < starts[0] and loop < len(psrc)  # at a line number the helpers' file also has
    assert kp.locate(loop, starts, names, helpers, ksrc, psrc)[:2] == ("replicate and step loops, set-up",
                                                                       f"_numba_kernel.py:{loop}")
    arrive = next(i for i, n in zip(starts, names, strict=True) if n.startswith("2. arrive"))
    assert kp.locate(arrive + 3, starts, names, helpers, ksrc, psrc)[0].startswith("2. arrive")


def test_kernel_profile_reads_objdump_line_tables():
    dis = ("0000000000000000 <f>:\n/x/_numba_kernel.py:141\n   a0:\tvmovsd (%rax),%xmm0\n"
           "   a4:\tvucomisd %xmm1,%xmm0\n/x/_numba_kernel.py:0\n   a8:\tjne b0\n"
           "/x/_numba_kernel.py:29\n   b0:\tadd $0x1,%rcx\n")
    offs, lines = _kernel_profile().parse_listing(dis, 0xA0)
    assert offs == [0, 4, 8, 16] and lines == [141, 141, 141, 29]


def test_only_matching_no_network_is_an_error(capsys):
    from simulator.bench import main

    assert main(["--only", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "--only 'bogus' matches no network" in err and "real:" in err
