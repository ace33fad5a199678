"""Film I/O: streaming decode, capped H.264 encode with the film's audio, faststart, cover image."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from swap.errors import TemplateError
from swap.film import io
from tests.swap.film.conftest import make_clip


def _streams(path: Path) -> dict[str, tuple[str, str | None, float]]:
    with av.open(str(path)) as c:
        return {
            s.type: (s.codec_context.name, s.codec_context.profile, float(s.duration * s.time_base))
            for s in c.streams
        }


def test_reencode_keeps_frames_fps_and_aac_audio_in_sync(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mp4", frames=45, fps=30)
    out = tmp_path / "out.mp4"
    io.reencode(src, out)
    info = io.probe(out)
    assert (info.width, info.height, info.frames, info.fps) == (320, 240, 45, 30)
    streams = _streams(out)
    assert streams["video"][:2] == ("h264", "Main")
    assert streams["audio"][:2] == ("aac", "LC")
    assert abs(streams["audio"][2] - streams["video"][2]) <= 1 / 30


def test_aac_audio_is_copied_packet_for_packet(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mp4", frames=30)
    out = tmp_path / "out.mp4"
    io.reencode(src, out)

    def payloads(p: Path) -> list[bytes]:
        with av.open(str(p)) as c:
            return [bytes(k) for k in c.demux(c.streams.audio[0]) if k.size]

    assert payloads(out) == payloads(src)


def test_non_aac_audio_is_transcoded_to_aac_lc(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mp4", frames=30, audio="mp3")
    assert io.probe(src).audio_codec != "aac"
    out = tmp_path / "out.mp4"
    io.reencode(src, out)
    streams = _streams(out)
    assert streams["audio"][:2] == ("aac", "LC")
    assert abs(streams["audio"][2] - streams["video"][2]) <= 1 / 30


def test_film_without_audio_gives_video_only_output(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mp4", frames=20, audio=None)
    out = tmp_path / "out.mp4"
    io.reencode(src, out)
    assert set(_streams(out)) == {"video"}


def test_size_cap_holds_on_grainy_content(tmp_path: Path) -> None:
    # heavy film grain: CRF alone would spend several MB on these 2 s
    src = make_clip(tmp_path / "grain.mp4", width=640, height=360, frames=60, grain=30)
    target = 300_000
    out = tmp_path / "out.mp4"
    size = io.reencode(src, out, target_size_bytes=target)
    assert size <= target
    assert size > 0.5 * target  # the cap was what bounded it: the grain wants far more bits


def test_output_has_moov_before_mdat(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mp4", frames=20)
    out = tmp_path / "out.mp4"
    io.reencode(src, out)
    atoms = io.atom_order(out)
    assert atoms.index("moov") < atoms.index("mdat")


def test_levels_are_31_up_to_720p_and_40_for_1080p() -> None:
    assert io.h264_level(1280, 720, 30, 2500) == "3.1"
    assert io.h264_level(720, 1280, 30, 2500) == "3.1"
    assert io.h264_level(1920, 1080, 30, 2500) == "4.0"
    assert io.h264_level(1920, 1080, 60, 2500) == "4.2"


def test_encode_settings_solve_the_vbv_bound_for_the_budget() -> None:
    s = io.encode_settings(1280, 720, 30, 15.0, 128_000, 5_000_000)
    worst_case_bytes = (s.maxrate * 15.0 + s.bufsize + 128_000 * 15.0) / 8
    assert worst_case_bytes <= 5_000_000
    assert 2_000_000 < s.maxrate < 2_700_000
    assert (s.profile, s.level, s.preset) == ("main", "3.1", "veryfast")


def test_budget_too_small_for_the_audio_is_refused() -> None:
    with pytest.raises(ValueError, match="raise target_size_bytes"):
        io.encode_settings(1280, 720, 30, 15.0, 256_000, 400_000)


def test_decoded_yuv_and_rgb_agree(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mp4", frames=3)
    yuv = [f.data for f in io.iter_frames(src, "yuv420p")]
    rgb = [f.data for f in io.iter_frames(src, "rgb24")]
    assert yuv[0].shape == (360, 320) and rgb[0].shape == (240, 320, 3)
    diff = np.abs(io.yuv_to_rgb(yuv[1]).astype(int) - rgb[1].astype(int))
    assert diff.mean() < 1.5


def test_paste_rgb_region_leaves_pixels_outside_the_box_byte_identical() -> None:
    rng = np.random.default_rng(1)
    yuv = rng.integers(16, 235, (360, 320), dtype=np.uint8)
    before = yuv.copy()
    rgb = io.yuv_to_rgb(yuv)
    rgb[100:150, 61:120] = (200, 30, 30)
    io.paste_rgb_region(yuv, rgb, (61, 100, 120, 150))
    y = yuv[:240]
    mask = np.zeros((240, 320), bool)
    mask[100:150, 60:120] = True
    assert np.array_equal(y[~mask], before[:240][~mask])
    back = io.yuv_to_rgb(yuv)[110:140, 70:110].reshape(-1, 3).mean(axis=0)
    assert np.allclose(back, (200, 30, 30), atol=6)


def test_unreadable_file_is_a_corrupt_video(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    with pytest.raises(TemplateError) as err:
        io.probe(bad)
    assert err.value.code == "corrupt_video"


def test_cover_jpeg_is_a_downsized_jpeg() -> None:
    import io as pyio

    from PIL import Image

    jpeg = io.cover_jpeg(np.full((1080, 1920, 3), 128, np.uint8), max_side=1280)
    img = Image.open(pyio.BytesIO(jpeg))
    assert (img.format, img.size) == ("JPEG", (1280, 720))


def test_real_film_reencode_keeps_duration_and_audio(films_dir: Path, tmp_path: Path) -> None:
    src = films_dir / "man_suit_speech.mp4"  # 22.13 fps, video starts 33 ms after the audio
    out = tmp_path / "out.mp4"
    io.reencode(src, out)
    a, b = io.probe(src), io.probe(out)
    assert (b.frames, b.fps, b.width, b.height) == (a.frames, a.fps, a.width, a.height)
    streams = _streams(out)
    assert abs(streams["audio"][2] - streams["video"][2]) <= 1 / float(a.fps)


def test_trimmed_clip_has_audio_only_as_long_as_its_video(films_dir: Path, tmp_path: Path) -> None:
    out = io.trim(films_dir / "woman_indoor_720p.mp4", tmp_path / "t.mp4", 40, start=30)
    assert io.probe(out).frames == 40
    streams = _streams(out)
    assert abs(streams["audio"][2] - streams["video"][2]) <= 1 / 30


def test_phone_film_with_display_rotation_is_decoded_and_reencoded_upright(tmp_path: Path) -> None:
    from fractions import Fraction

    src = tmp_path / "rot.mp4"
    out = av.open(str(src), "w")
    vs = out.add_stream("libx264", rate=30, options={"preset": "ultrafast", "crf": "10"})
    vs.width, vs.height, vs.pix_fmt = 320, 240, "yuv420p"
    vs.set_display_rotation(-90)  # what a phone held upright writes: display turned 90 degrees clockwise
    img = np.zeros((240, 320, 3), np.uint8)
    img[:40, :80] = (255, 0, 0)  # a red block in the coded frame's top-left corner
    for i in range(6):
        f = av.VideoFrame.from_ndarray(img, "rgb24")
        f.pts, f.time_base = i, Fraction(1, 30)
        for p in vs.encode(f):
            out.mux(p)
    for p in vs.encode(None):
        out.mux(p)
    out.close()
    info = io.probe(src)
    assert (info.width, info.height) == (240, 320)
    rgb = next(io.iter_frames(src, "rgb24")).data
    yuv = next(io.iter_frames(src, "yuv420p")).data
    assert rgb.shape == (320, 240, 3) and yuv.shape == (480, 240)
    red = np.argwhere(rgb[..., 0] > 200)
    assert red[:, 0].max() < 82 and red[:, 1].min() > 158  # turned clockwise: now top-right
    assert np.abs(io.yuv_to_rgb(yuv).astype(int) - rgb.astype(int)).mean() < 1.0
    upright = tmp_path / "upright.mp4"
    io.reencode(src, upright)
    assert (io.probe(upright).width, io.probe(upright).height) == (240, 320)
    assert next(io.iter_frames(upright, "rgb24")).data[:40, 200:240, 0].mean() > 200
