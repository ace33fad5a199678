"""The generated demo looks like a film, not a test pattern: the face moves (blinks, speech, head
turns), the light changes, nothing is smeared at the borders, the music is music, the posters fill
their frame and keep the QR and label corners free."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from campaign import demo
from campaign.sharing import QR_MARGIN, QR_SHARE

SMALL = (270, 480)


def _landmarks(rgb: np.ndarray) -> Any:
    from swap.landmarks import find_faces

    faces = find_faces(np.ascontiguousarray(rgb))
    assert len(faces) == 1
    return faces[0].points


def _eye_opening(points: Any) -> float:
    upper, lower = list(demo._UPPER_LID), list(demo._LOWER_LID)
    return float(np.mean(points[lower, 1] - points[upper, 1]))


def test_the_actor_blinks() -> None:
    open_eyes = _eye_opening(_landmarks(demo.demo_frame(0.3, SMALL)))
    closed = _eye_opening(_landmarks(demo.demo_frame(demo.BLINKS_S[0] + demo.BLINK_S / 2, SMALL)))
    assert closed < 0.6 * open_eyes


def test_the_actor_speaks_with_jaw_movement_in_syllables() -> None:
    start, end = demo.SPEECH_S[0]
    openings = [demo.mouth_opening(start + i / 25) for i in range(int((end - start) * 25))]
    peaks = sum(
        1
        for a, b, c in zip(openings, openings[1:], openings[2:], strict=False)
        if b > a and b >= c and b > 0.3
    )
    assert 8 <= peaks <= 25  # ~4 syllables a second over a 3.4 s line
    assert demo.mouth_opening(0.5) == 0.0  # silent before the first line
    _, points = demo._portrait()
    t = max(np.arange(start, end, 0.02), key=demo.mouth_opening)
    moved = points[:, :2] + demo.face_offsets(points, float(t))
    assert moved[17, 1] - points[17, 1] > 3  # the lower lip drops by pixels, not a hair


def test_the_head_turns_a_little_both_ways() -> None:
    yaws = [demo.head_turn(t / 5)[0] for t in range(75)]
    assert min(yaws) < -0.5 and max(yaws) > 0.5
    _, points = demo._portrait()
    left = points[1, 0] + demo.face_offsets(points, float(np.argmin(yaws)) / 5)[1, 0]
    right = points[1, 0] + demo.face_offsets(points, float(np.argmax(yaws)) / 5)[1, 0]
    assert right - left > 4  # the nose tip travels across the face


def test_the_light_goes_from_indoor_to_dusk_to_night() -> None:
    indoor, dusk, night = (demo.demo_frame(t, SMALL).astype(np.float32) for t in (2.0, 7.5, 14.5))
    assert indoor.mean() > dusk.mean() > night.mean()
    red_blue = [frame[..., 0].mean() / frame[..., 2].mean() for frame in (indoor, dusk, night)]
    assert red_blue[2] < 1.0 < red_blue[0]  # warm inside, blue at night


def _smeared_share(edge: np.ndarray) -> float:
    """Share of the columns along an edge strip that repeat one value exactly (a replicated border),
    pure black or white (clipped shadows, highlights) aside."""
    still = edge.std(axis=0).max(axis=-1) < 0.05
    mid = (edge.mean(axis=(0, 2)) > 8) & (edge.mean(axis=(0, 2)) < 247)
    return float(np.mean(still & mid))


@pytest.mark.parametrize("t", [0.0, 7.0, 14.9])
def test_frames_have_no_smeared_borders(t: float) -> None:
    frame = demo.demo_frame(t, SMALL).astype(np.float32)
    for edge in (
        frame[:12],
        frame[-12:],
        frame[:, :12].transpose(1, 0, 2),
        frame[:, -12:].transpose(1, 0, 2),
    ):
        assert _smeared_share(edge) < 0.05


def test_music_has_beats_bass_and_highs_not_one_tone() -> None:
    from scipy.signal import find_peaks

    stereo = demo.music(8.0)
    assert stereo.shape == (2, 8 * demo.AUDIO_RATE) and np.abs(stereo).max() <= 1.0
    mono = stereo.mean(axis=0)
    spectrum = np.abs(np.fft.rfft(mono))
    freqs = np.fft.rfftfreq(len(mono), 1 / demo.AUDIO_RATE)

    def band(lo: float, hi: float) -> float:
        return float(spectrum[(freqs >= lo) & (freqs < hi)].sum())

    total = band(20, 20_000)
    assert (
        band(30, 150) > 0.05 * total and band(150, 2000) > 0.2 * total and band(4000, 16_000) > 0.005 * total
    )
    # Energy comes and goes with the notes: dozens of onsets, not a held chord.
    envelope = np.sqrt(np.convolve(mono**2, np.ones(441) / 441, mode="same"))[::441]
    peaks, _ = find_peaks(envelope, prominence=0.01)
    assert len(peaks) > 20
    # Many distinct pitches (the arpeggio over four chords), not a three-note chord.
    strong = freqs[find_peaks(spectrum, height=spectrum.max() * 0.05, distance=20)[0]]
    assert len(strong) > 12


def test_posters_fill_their_frame_and_keep_the_qr_and_label_corners_free() -> None:
    width, height = demo.POSTER_SIZE
    for index in range(5):
        poster = np.asarray(Image.open(io.BytesIO(demo.build_demo_poster(index))), np.float32)
        assert poster.shape == (height, width, 3)
        assert _smeared_share(poster[:12]) < 0.05  # no smeared top rows
        overlay = np.asarray(Image.open(io.BytesIO(demo.build_demo_overlay(index))))
        corner = round((QR_SHARE + QR_MARGIN) * width) + 10  # the QR code's square and a little air
        for x0 in (0, width - corner):  # QR code in one bottom corner, AI label in the other
            zone = overlay[height - corner : height - 30, x0 + 30 : x0 + corner - 30, 3]
            assert zone.max() == 0, index


def test_the_sample_photo_is_one_face_the_engine_accepts() -> None:
    from swap.analysis import analyze_photo

    analysis = analyze_photo(demo.sample_photo_jpeg())
    assert analysis is not None
