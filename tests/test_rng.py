"""Random streams: normal deviates (Box–Muller, both deviates of a pair) and their independence of chunking."""

from __future__ import annotations

import math

import numpy as np

from simulator.rng import Streams, cos_sin_2pi


def test_normals_follow_the_standard_normal():
    """200 000 deviates (both halves of the Box–Muller pairs): the empirical CDF within the
    Kolmogorov–Smirnov 1 % bound of Phi (1.63 / sqrt(n) = 0.0036), and cos and sin halves
    uncorrelated."""
    z = Streams(7, 0, 6250).normals("demand:m:magnet", 32, block=3)
    x = np.sort(z.ravel())
    n = x.size
    phi = np.array([0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x[:: 97]])
    ecdf = (np.arange(n)[:: 97] + 1) / n
    assert np.max(np.abs(ecdf - phi)) < 1.63 / math.sqrt(n)
    assert abs(np.corrcoef(z[:, :16].ravel(), z[:, 16:].ravel())[0, 1]) < 4 / math.sqrt(z[:, :16].size)


def test_halves_are_rho_cos_and_rho_sin_of_theta():
    """The first half is rho cos(2 pi u2), the second rho sin(2 pi u2), both from cos_sin_2pi, and
    within 1e-15 of numpy's cos and sin (which round 2 pi u2 first)."""
    s = Streams(3, 0, 500)
    z = s.normals("c", 10, block=1)
    u = s.uniforms("c", 10, block=1)
    rho = np.sqrt(-2.0 * np.log1p(-u[:, :5]))
    cos, sin = cos_sin_2pi(u[:, 5:])
    np.testing.assert_array_equal(z[:, :5], rho * cos)
    np.testing.assert_array_equal(z[:, 5:], rho * sin)
    np.testing.assert_allclose(cos, np.cos(2.0 * np.pi * u[:, 5:]), rtol=0, atol=1e-15)
    np.testing.assert_allclose(sin, np.sin(2.0 * np.pi * u[:, 5:]), rtol=0, atol=1e-15)


def test_cos_sin_2pi_within_2_5_ulp_of_long_double():
    """cos and sin of 2 pi u against the x87 long double functions of the exact product 2 pi u, over a
    million uniforms and the quarter-turn edges (where the reduction switches k): within 2.5 units in
    the last place wherever |value| > 1e-3, and within 2e-16 everywhere (no sign flips at the edges)."""
    if np.finfo(np.longdouble).nmant < 60:  # pragma: no cover - platforms without 80-bit long double
        import pytest

        pytest.skip("no extended precision to compare with")
    eps = 2.0 ** -53
    edges = np.concatenate([k / 8 + np.arange(-40, 41) * eps for k in range(1, 8)] + [np.arange(0, 40) * eps,
                                                                                      1.0 - np.arange(1, 40) * eps])
    u = np.concatenate([np.random.default_rng(5).random(1_000_000), np.arange(4096) / 4096, edges])
    u = u[(u >= 0) & (u < 1)]
    cos, sin = cos_sin_2pi(u)
    x = np.longdouble(u) * (np.longdouble(2) * np.longdouble("3.14159265358979323846264338327950288"))
    for got, ref in ((cos, np.cos(x)), (sin, np.sin(x))):
        err = np.abs(np.longdouble(got) - ref)
        assert float(err.max()) <= 2e-16
        big = np.abs(ref) > 1e-3
        ulps = err[big] / np.spacing(np.abs(ref[big].astype(np.float64)))
        assert float(ulps.max()) <= 2.5
    assert cos[u == 0.0][0] == 1.0 and sin[u == 0.0][0] == 0.0
    assert cos[u == 0.5][0] == -1.0 and sin[u == 0.25][0] == 1.0


def test_compiled_transform_repeats_the_coefficients():
    """simulator/_numba_noise.py repeats rng's polynomial coefficients (numba's cache of it would keep old ones)."""
    import pytest

    pytest.importorskip("numba")
    from simulator import _numba_noise as nn
    from simulator import rng

    assert (nn.C1, nn.C2, nn.C3, nn.C4, nn.C5, nn.C6) == rng.COS_C
    assert (nn.S1, nn.S2, nn.S3, nn.S4, nn.S5, nn.S6) == rng.SIN_S
    assert nn.TWO_PI == rng.TWO_PI


def test_replicate_draws_do_not_depend_on_the_chunk():
    """Replicates 40..59 drawn alone equal those rows of a draw of 0..99 (Philox advance)."""
    whole = Streams(11, 0, 100).normals("demand:x:y", 32, block=2)
    part = Streams(11, 40, 20).normals("demand:x:y", 32, block=2)
    np.testing.assert_array_equal(part, whole[40:60])


def test_compiled_noise_gives_numpys_numbers():
    """The numba backend's generator and transform (simulator/_numba_noise.py) return numpy's deviates bit for bit:
    odd and even counts, a million uniforms, and the edges u = 0, 0.25, 0.5, 0.75 and just below 1."""
    import pytest

    pytest.importorskip("numba")
    from simulator import _numba_noise as nn

    for n in (1, 2, 7, 32, 33):
        for comp, block, R in (("demand:x:y", 0, 3000), ("demand:a:b", 5, 17)):
            fast = Streams(13, 250, R, nn).normals(comp, n, block)
            slow = Streams(13, 250, R).normals(comp, n, block)
            assert fast.shape == slow.shape == (R, n)
            np.testing.assert_array_equal(fast, slow)
            np.testing.assert_array_equal(np.signbit(fast), np.signbit(slow))

    class Edges(Streams):
        def uniforms(self, component: str, n: int, block: int = 0) -> np.ndarray:
            u = np.random.default_rng(1).random((self.R, n))
            u[:, :: 3] = np.array([0.0, 0.25, 0.5, 0.75, np.nextafter(1.0, 0.0)])[np.arange(self.R) % 5, None]
            return u

    np.testing.assert_array_equal(Edges(1, 0, 40, nn).normals("e", 64), Edges(1, 0, 40).normals("e", 64))
    np.testing.assert_array_equal(np.signbit(Edges(1, 0, 40, nn).normals("e", 64)),
                                  np.signbit(Edges(1, 0, 40).normals("e", 64)))


def test_compiled_philox_gives_numpys_uniforms():
    """The compiled Philox4x64-10 returns numpy's ``Generator(Philox).random()`` doubles bit for bit: first
    replicates 0 and far ones (a counter past 2**32), widths that are and are not multiples of 4, and the
    carry guard (a counter near 2**63 goes to numpy's generator)."""
    import pytest

    pytest.importorskip("numba")
    from simulator import _numba_noise as fast

    for r0, R, n in ((0, 1, 4), (0, 300, 32), (7, 33, 5), (2**31, 64, 64), (123_456_789, 9, 3)):
        a = Streams(99, r0, R, fast).uniforms("demand:jp:magnet", n, block=4)
        b = Streams(99, r0, R).uniforms("demand:jp:magnet", n, block=4)
        assert a.shape == b.shape == (R, n)
        np.testing.assert_array_equal(a, b)
    big = 2**63 // 8
    np.testing.assert_array_equal(Streams(5, big, 2, fast).uniforms("c", 32), Streams(5, big, 2).uniforms("c", 32))


def test_noise_drawn_ahead_on_the_step_threads_gives_the_same_run(monkeypatch):
    """With the compiled step on two threads the next noise block is drawn while the interval's records run
    (DemandNoise.prefetch): it is drawn ahead (a block is taken from a prefetch), and the run is the same as
    without drawing ahead, bit for bit."""
    import pytest

    pytest.importorskip("numba")
    from pathlib import Path

    from simulator import kernels as K
    from simulator import load_scenario, noise
    from simulator.engine import simulate
    from simulator.network import compile_network

    if K.compiled() is None:
        pytest.skip("the numpy backend draws one step at a time")
    net = compile_network(load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "tutorial.yaml"))
    taken = []
    real_draw = noise.DemandNoise.draw

    def spy(self, t, k=1):  # type: ignore[no-untyped-def]
        if self.pending is not None and self.pending[0] <= (t + k - 1) // noise.NOISE_BLOCK:
            taken.append(self.pending[0])
        return real_draw(self, t, k)

    monkeypatch.setattr(noise.DemandNoise, "draw", spy)
    ahead = simulate(net, 64, seed=9, threads=2)
    assert len(taken) > 10
    monkeypatch.setattr(noise.DemandNoise, "prefetch", lambda self, t: None)
    plain = simulate(net, 64, seed=9, threads=2)
    for f in ("demand_t", "served_t", "output_t", "shipped_t", "max_shortfall"):
        np.testing.assert_array_equal(getattr(ahead, f), getattr(plain, f), err_msg=f)
    assert ahead.series["fill"].tobytes() == plain.series["fill"].tobytes()
