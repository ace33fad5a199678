"""Posters: template checks, size, overlay, visible AI label and the machine-readable XMP label."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from swap import fonts
from swap.errors import TemplateError
from swap.fonts import DEFAULT_LABEL
from swap.poster import (
    DIGITAL_SOURCE_TYPE,
    PosterTemplate,
    _draw_label,
    _label_box,
    draw_label,
    poster_rgb,
    prepare_poster_template,
    render_poster,
)
from swap.render import FaceRenderer, face_box

from .render_fixtures import asset_of, png_bytes


@pytest.fixture(scope="module")
def template(astronaut_rgb) -> PosterTemplate:
    # a 540x960 portrait poster: the astronaut padded onto a dark background
    canvas = np.full((960, 540, 3), 20, np.uint8)
    canvas[200:712, 14:526] = astronaut_rgb
    overlay = Image.new("RGBA", (540, 960), (0, 0, 0, 0))
    ImageDraw.Draw(overlay).rectangle((0, 0, 540, 120), fill=(200, 30, 30, 255))
    buf = io.BytesIO()
    overlay.save(buf, "PNG")
    return prepare_poster_template(png_bytes(canvas), buf.getvalue())


def test_poster_has_the_template_size_and_the_overlay(template):
    poster = render_poster(asset_of("astronaut"), template)
    assert (poster.width, poster.height) == (540, 960)
    for data in (poster.jpeg, poster.webp):
        rgb = poster_rgb(data)
        assert rgb.shape == (960, 540, 3)
        assert np.abs(rgb[10:110, 10:530].astype(int) - (200, 30, 30)).mean() < 8  # the overlay band


def test_poster_carries_a_visible_ai_label(template):
    asset = asset_of("astronaut")
    with_label = poster_rgb(render_poster(asset, template).jpeg).astype(int)
    without = poster_rgb(render_poster(asset, template, label=None).jpeg).astype(int)
    diff = np.abs(with_label - without).sum(axis=2) > 60
    ys, xs = np.nonzero(diff)
    assert diff.sum() > 500  # text and its box
    assert ys.min() > 960 * 0.85 and xs.min() > 540 * 0.3  # bottom right corner, nowhere else


def test_poster_carries_the_chinese_label_on_a_machine_without_cjk_fonts(template, monkeypatch):
    monkeypatch.setattr(fonts, "_fc_list", lambda pattern: [])  # fontconfig finds nothing
    fonts.system_font.cache_clear()
    try:
        asset = asset_of("astronaut")
        with_label = poster_rgb(render_poster(asset, template).jpeg).astype(int)
        without = poster_rgb(render_poster(asset, template, label=None).jpeg).astype(int)
    finally:
        fonts.system_font.cache_clear()
    changed = np.abs(with_label - without).sum(axis=2) > 60
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 500 and ys.min() > 960 * 0.85
    # the columns of "生成" (after "AI") hold white strokes drawn with the shipped subset
    size = max(12, round(0.026 * 540))
    font = ImageFont.truetype(str(fonts.LABEL_FONT), size)
    pad = round(size * 0.45)
    c0 = xs.min() + pad + int(font.getlength("AI")) + 1
    c1 = xs.min() + pad + int(font.getlength("AI生成")) - 1
    white = np.all(with_label[ys.min() : ys.max(), c0:c1] > 200, axis=2)
    assert white.sum() > 0.05 * white.size


def _reference_poster(asset, template, label):
    """The straightforward composition: full-frame swap, overlay pasted over everything, label drawn."""
    rgb = np.asarray(Image.open(io.BytesIO(template.image)).convert("RGB"))
    img = Image.fromarray(FaceRenderer(asset).render(rgb[None], [template.target])[0])
    if template.overlay_png is not None:
        ov = Image.open(io.BytesIO(template.overlay_png)).convert("RGBA")
        img.paste(ov, (0, 0), ov)
    if label:
        draw_label(img, label)
    return np.asarray(img)


def test_poster_rendered_in_its_face_region_equals_a_full_frame_composition(template):
    asset = asset_of("astronaut")
    for label in (DEFAULT_LABEL, None):
        poster = render_poster(asset, template, label=label)
        np.testing.assert_array_equal(np.asarray(poster.image), _reference_poster(asset, template, label))


def test_label_and_overlay_over_the_face_region_are_drawn_exactly_once(astronaut_rgb):
    # the face fills the frame down to the bottom edge: the label box overlaps the face region
    close_up = np.asarray(Image.fromarray(astronaut_rgb[60:185, 150:300]).resize((540, 450)))
    veil = Image.new("RGBA", (540, 450), (30, 60, 200, 70))  # a translucent tint over everything
    buf = io.BytesIO()
    veil.save(buf, "PNG")
    t = prepare_poster_template(png_bytes(close_up), buf.getvalue())
    x0, y0, x1, y1 = face_box(t.target.landmarks, t.width, t.height)
    lx0, ly0, lx1, ly1 = _label_box(DEFAULT_LABEL, "bottom-right", (t.width, t.height))
    assert lx0 < x1 and lx1 > x0 and ly0 < y1 and ly1 > y0  # the label reaches into the re-rendered region
    asset = asset_of("astronaut")
    poster = render_poster(asset, t)
    np.testing.assert_array_equal(np.asarray(poster.image), _reference_poster(asset, t, DEFAULT_LABEL))


def test_draw_label_on_a_crop_gives_the_pixels_of_the_whole_image():
    rng = np.random.default_rng(3)
    full = Image.fromarray(rng.integers(0, 255, (600, 400, 3), dtype=np.uint8))
    crop_box = (250, 540, 400, 600)
    crop = full.crop(crop_box)
    draw_label(full, DEFAULT_LABEL)
    _draw_label(crop, DEFAULT_LABEL, "bottom-right", (400, 600), crop_box[:2])
    np.testing.assert_array_equal(np.asarray(crop), np.asarray(full.crop(crop_box)))


def test_poster_files_carry_the_iptc_digital_source_type_in_xmp(template):
    poster = render_poster(asset_of("astronaut"), template)
    jpeg = Image.open(io.BytesIO(poster.jpeg))
    assert DIGITAL_SOURCE_TYPE.encode() in jpeg.info["xmp"]
    webp = Image.open(io.BytesIO(poster.webp))
    assert webp.format == "WEBP"
    assert DIGITAL_SOURCE_TYPE.encode() in webp.info["xmp"]


def test_template_round_trips_through_bytes(template):
    back = PosterTemplate.from_bytes(template.to_bytes())
    assert (back.width, back.height) == (template.width, template.height)
    assert back.image == template.image and back.overlay_png == template.overlay_png
    np.testing.assert_array_equal(back.target.landmarks, template.target.landmarks)
    np.testing.assert_allclose(back.target.light_map, template.target.light_map, atol=2e-3)
    a = render_poster(asset_of("astronaut"), template, label=None).jpeg
    b = render_poster(asset_of("astronaut"), back, label=None).jpeg
    # the light map is stored as float16: at most JPEG-rounding differences
    assert np.abs(poster_rgb(a).astype(int) - poster_rgb(b)).mean() < 0.2


def test_large_templates_are_scaled_to_fit_1080x1920(astronaut_rgb):
    big = np.asarray(Image.fromarray(astronaut_rgb).resize((1600, 1600)))
    t = prepare_poster_template(png_bytes(big))
    assert (t.width, t.height) == (1080, 1080)


def test_template_without_a_face_is_refused(shared_media):
    with pytest.raises(TemplateError) as err:
        prepare_poster_template((shared_media / "badinputs" / "noface_landscape.jpg").read_bytes())
    assert err.value.code == "no_face"


def test_template_with_two_main_faces_is_refused(shared_media):
    with pytest.raises(TemplateError) as err:
        prepare_poster_template((shared_media / "badinputs" / "two_faces_children.jpg").read_bytes())
    assert err.value.code == "multiple_faces"


def test_template_that_is_not_an_image_is_refused():
    with pytest.raises(TemplateError) as err:
        prepare_poster_template(b"definitely not an image")
    assert err.value.code == "not_an_image"


def test_overlay_of_another_shape_is_refused(astronaut_rgb):
    wide = Image.new("RGBA", (800, 200))
    buf = io.BytesIO()
    wide.save(buf, "PNG")
    with pytest.raises(TemplateError) as err:
        prepare_poster_template(png_bytes(astronaut_rgb), buf.getvalue())
    assert err.value.code == "bad_overlay"
