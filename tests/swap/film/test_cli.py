"""`python -m swap.film ingest|render`: exit codes, progress bar, outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from swap.film.__main__ import main
from swap.film.track import FilmTrack


def test_cli_render_writes_video_and_cover_with_a_progress_bar(
    shared_media: Path,
    speech_clip: Path,
    speech_track: FilmTrack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, cover = tmp_path / "out.mp4", tmp_path / "cover.jpg"
    photo = shared_media / "photos" / "obama_official_portrait.jpg"
    code = main(
        ["render", str(photo), str(speech_clip), "-o", str(out), "--cover", str(cover), "--size-mb", "1"]
    )
    assert code == 0
    assert out.stat().st_size <= 1_000_000 and cover.read_bytes()[:2] == b"\xff\xd8"
    err = capsys.readouterr().err
    assert "render [" in err and "90/90 frames" in err


def test_cli_refused_photo_exits_2_with_the_reason(
    shared_media: Path,
    speech_clip: Path,
    speech_track: FilmTrack,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    photo = shared_media / "badinputs" / "noface_landscape.jpg"
    assert main(["render", str(photo), str(speech_clip), "-o", str(tmp_path / "x.mp4")]) == 2
    assert "photo refused (no_face)" in capsys.readouterr().err


def test_cli_ingest_of_a_corrupt_film_exits_1_with_the_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    assert main(["ingest", str(bad)]) == 1
    assert "error (corrupt_video)" in capsys.readouterr().err
