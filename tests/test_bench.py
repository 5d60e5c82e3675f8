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
