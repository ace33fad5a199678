"""Zero-phase smoothing: removes landmark jitter, keeps head turns and blinks."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from swap.film.smoothing import jitter, similarity_fit, smooth_stretch


def _synthetic(n: int = 90, noise: float = 0.6, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A face-sized point cloud turning 30 degrees with a 3-frame blink; returns (noisy, clean, blink_idx)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 60, (478, 3))
    base[468] = (-30, 0, 0)
    base[473] = (30, 0, 0)
    blink = np.arange(400, 420)  # "eyelid" points
    clean = np.zeros((n, 478, 3))
    for t in range(n):
        shape = base.copy()
        if 40 <= t <= 42:
            shape[blink, 1] += 8.0  # a fast expression change
        yaw = 30 * (0.5 - 0.5 * np.cos(np.pi * t / n))
        rot = Rotation.from_euler("y", yaw, degrees=True).as_matrix()
        clean[t] = shape @ rot.T + (640 + 2 * t, 360, 0)
    noisy = clean + rng.normal(0, noise, clean.shape)
    return noisy, clean, blink


def test_similarity_fit_recovers_a_known_transform() -> None:
    rng = np.random.default_rng(3)
    src = rng.normal(0, 1, (50, 3))
    rot = Rotation.from_euler("xyz", (10, -20, 5), degrees=True).as_matrix()
    dst = (1.7 * src @ rot.T + (3, -2, 1))[None]
    s, r, t = similarity_fit(src, dst)
    assert np.isclose(s[0], 1.7) and np.allclose(r[0], rot) and np.allclose(t[0], (3, -2, 1))


def test_smoothing_reduces_jitter_and_error_to_the_truth() -> None:
    noisy, clean, _ = _synthetic()
    smooth = smooth_stretch(noisy)
    assert jitter(smooth) < 0.3 * jitter(noisy)
    err_raw = np.abs(noisy - clean)[:, :468, :2].mean()
    err_smooth = np.abs(smooth - clean)[:, :468, :2].mean()
    # the expression residual is smoothed only lightly (sigma 1.5 frames) on purpose: blinks must survive
    assert err_smooth < 0.8 * err_raw


def test_a_three_frame_blink_survives_smoothing() -> None:
    noisy, clean, blink = _synthetic(noise=0.2)
    smooth = smooth_stretch(noisy)

    # blink amplitude relative to the neighbouring frames, in the clean data it is 8 px
    def amp(p: np.ndarray) -> float:
        return float((p[41, blink, 1] - (p[36, blink, 1] + p[46, blink, 1]) / 2).mean())

    assert amp(smooth) > 0.6 * amp(clean)


def test_smoothing_has_no_lag_on_a_steady_turn() -> None:
    noisy, clean, blink = _synthetic(noise=0.0)
    smooth = smooth_stretch(noisy)
    mid = slice(10, 80)  # away from the stretch ends
    rigid = np.setdiff1d(np.arange(468), blink)
    err = np.abs(smooth[mid] - clean[mid])[:, rigid, :2]
    # the face drifts 2 px per frame: a causal filter's one-frame lag alone would be a 2 px error everywhere
    assert err.max() < 1.0 and err.mean() < 0.15


def test_short_stretches_pass_through() -> None:
    noisy, _, _ = _synthetic(n=2)
    assert np.allclose(smooth_stretch(noisy), noisy, atol=1e-3)


def test_a_fast_head_turn_is_followed_not_cut_short() -> None:
    """A 40-degree turn in 8 frames: the fixed Gaussian cuts the corner by pixels; the motion-adaptive
    pose follows the raw landmarks there, and still smooths the slow frames around it."""
    rng = np.random.default_rng(5)
    base = rng.normal(0, 60, (478, 3))
    base[468], base[473] = (-30, 0, 0), (30, 0, 0)
    n = 60
    yaw = 40 / (1 + np.exp(-(np.arange(n) - 30) / 1.5))  # a quick sigmoid turn around frame 30
    clean = np.stack(
        [base @ Rotation.from_euler("y", a, degrees=True).as_matrix().T + (640, 360, 0) for a in yaw]
    )
    noisy = clean + rng.normal(0, 0.4, clean.shape)
    turn = slice(24, 37)
    err = lambda p: float(np.abs(p[turn] - clean[turn])[:, :468, :2].mean())  # noqa: E731
    adaptive, fixed = smooth_stretch(noisy), smooth_stretch(noisy, adaptive=False)
    assert err(adaptive) < 0.6 * err(fixed)
    slow = slice(3, 15)
    assert jitter(adaptive[slow]) < 0.5 * jitter(noisy[slow])
