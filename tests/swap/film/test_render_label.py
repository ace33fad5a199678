"""The AI label of videos: visible in every frame (LabelStamp) and machine-readable in the MP4."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from swap.film import io
from swap.film.render import AI_METADATA, DIGITAL_SOURCE_TYPE, LabelStamp

LABEL = "AI生成 · AI-generated"


@pytest.mark.parametrize("position", ["bottom-right", "top-left"])
def test_label_stamp_draws_bright_text_on_a_dark_box_in_its_corner_only(position: str) -> None:
    rgb = np.full((640, 360, 3), 128, np.uint8)
    yuv = io.rgb_to_yuv(rgb).copy()
    stamp = LabelStamp.make(LABEL, position, 360, 640)
    stamp.apply(yuv)
    out = io.yuv_to_rgb(yuv).astype(np.float32).mean(axis=2)
    region = out[stamp.y : stamp.y + stamp.alpha.shape[0], stamp.x : stamp.x + stamp.alpha.shape[1]]
    assert region[stamp.alpha > 0.9].mean() > 200  # the text
    assert region[(stamp.alpha > 0.5) & (stamp.alpha < 0.65)].mean() < 80  # the translucent box
    untouched = np.ones(out.shape, bool)
    untouched[stamp.y : stamp.y + stamp.alpha.shape[0], stamp.x : stamp.x + stamp.alpha.shape[1]] = False
    assert np.abs(out[untouched] - 128).max() <= 1
    assert (stamp.y < 320) == position.startswith("top") and (stamp.x < 180) == position.endswith("left")


def test_writer_puts_the_ai_metadata_into_the_mp4(tmp_path: Path) -> None:
    import av

    path = tmp_path / "labelled.mp4"
    settings = io.encode_settings(64, 64, 30.0, 1.0, 0)
    with io.FilmWriter(
        path, 64, 64, Fraction(30), settings, metadata={**AI_METADATA, "title": "活动"}
    ) as writer:
        for _ in range(10):
            writer.write(np.zeros((64, 64, 3), np.uint8))
    with av.open(str(path)) as container:
        metadata = dict(container.metadata)
    assert metadata["DigitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert json.loads(metadata["AIGC"])["Label"] == "1"
    assert metadata["title"] == "活动" and "AI" in metadata["comment"]
    assert io.atom_order(path).index("moov") < io.atom_order(path).index("mdat")  # still faststart
