"""The visible AI label's font: the shipped subset draws the Chinese label on a machine without CJK fonts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFont

from swap import fonts
from swap.errors import TemplateError
from swap.fonts import DEFAULT_LABEL, LABEL_FONT, LABEL_FONT_CHARS, LabelFontError, label_font_source
from swap.poster import draw_label


@pytest.fixture
def no_fontconfig(monkeypatch):
    """A machine where fontconfig finds nothing (a fresh container): system font lookup comes back empty."""
    monkeypatch.setattr(fonts, "_fc_list", lambda pattern: [])
    fonts.system_font.cache_clear()
    yield
    fonts.system_font.cache_clear()


def _glyph(font: ImageFont.FreeTypeFont, ch: str) -> np.ndarray:
    return np.asarray(font.getmask(ch), np.uint8).reshape(font.getmask(ch).size[::-1])


def test_shipped_font_covers_exactly_the_declared_characters():
    ttlib = pytest.importorskip("fontTools.ttLib")
    cmap = {chr(c) for c in ttlib.TTFont(str(LABEL_FONT)).getBestCmap()}
    assert cmap == set(LABEL_FONT_CHARS)
    assert LABEL_FONT.stat().st_size < 60_000
    assert (LABEL_FONT.parent / "OFL.txt").read_text().count("SIL OPEN FONT LICENSE Version 1.1") == 1


def test_without_system_fonts_the_shipped_font_draws_real_chinese_glyphs(no_fontconfig):
    assert label_font_source(DEFAULT_LABEL) == (str(LABEL_FONT), 0)
    font = ImageFont.truetype(str(LABEL_FONT), 40)
    tofu = _glyph(font, "\u9fa5")  # not in the subset: .notdef
    sheng, cheng = _glyph(font, "生"), _glyph(font, "成")
    for g in (sheng, cheng):
        assert g.shape != tofu.shape or not np.array_equal(g, tofu)
        assert (g > 128).sum() > 100  # strokes, not an empty advance
    assert not np.array_equal(sheng, cheng)


def test_without_system_fonts_the_label_still_shows_its_chinese_part(no_fontconfig):
    img = Image.new("RGB", (1080, 1920), (90, 90, 90))
    draw_label(img, DEFAULT_LABEL)
    rgb = np.asarray(img).astype(int)
    box = np.all(rgb < 60, axis=2) | np.all(rgb > 200, axis=2)  # the dark box and its white text
    ys, xs = np.nonzero(box)
    x0, y0, y1 = xs.min(), ys.min(), ys.max()
    size = max(12, round(0.026 * 1080))
    font = ImageFont.truetype(str(LABEL_FONT), size)
    pad = round(size * 0.45)
    # columns of "生成": after "AI", before " · "; compared with as wide a strip of the box's padding
    c0 = x0 + pad + int(font.getlength("AI")) + 1
    c1 = x0 + pad + int(font.getlength("AI生成")) - 1
    cjk = rgb[y0 + pad : y1 - pad, c0:c1].mean(axis=2)
    empty = rgb[y0 + pad : y1 - pad, x0 + 3 : x0 + pad - 1].mean(axis=2)
    assert empty.max() < 60  # the dark box, no text
    assert (cjk > 150).mean() > 0.12  # white strokes over ~a fifth of the glyphs' box
    assert cjk.std() > 40 * empty.std() + 20


def test_label_no_font_can_draw_is_refused_loudly(no_fontconfig):
    img = Image.new("RGB", (540, 960))
    with pytest.raises(LabelFontError) as err:
        draw_label(img, "AI生成 · 深度偽造")  # 偽 (traditional) is not in the subset
    assert isinstance(err.value, TemplateError) and err.value.code == "label_unprintable"
    assert "偽" in str(err.value)
    assert np.asarray(img).max() == 0  # nothing half-drawn


def test_system_cjk_font_is_preferred_when_installed():
    fonts.system_font.cache_clear()
    found = fonts.system_font(frozenset(DEFAULT_LABEL), "zh")
    if found is None:
        pytest.skip("no CJK font installed on this machine")
    assert label_font_source(DEFAULT_LABEL) == found
