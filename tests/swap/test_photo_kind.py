"""Drawings are refused as `not_a_photo`; photos, however smooth or compressed, are not.

No painting or cartoon sample exists in the shared media, so the drawings are made here: a flat-filled
cartoon face drawn with OpenCV (Face Mesh finds it), and "cartoonified" real photos (edge-preserving
blur, k-means colours, dark outlines), the classic cartoon filter.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from swap import thresholds as th
from swap.analysis import analyze_rgb, find_main_face, measure_face
from swap.errors import PhotoRejected
from swap.imageio import decode_image
from swap.photo_kind import flat_patch_share

# photos that really are visitors and must never read as drawings (the beauty-filtered and very
# smooth ones, a black-and-white scan, low light, a blurry low-resolution one)
SMOOTH_PHOTOS = [
    "asian_woman_hand_on_chin.png",
    "east_asian_woman_beauty_filtered.jpg",
    "east_asian_woman_smiling_blurry_lowres.png",
    "einstein_bw_historic.jpg",
    "older_man_glasses_low_light.jpg",
    "east_asian_woman_phone_selfie.jpeg",
]


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def _cartoon_face(size: int = 512, skin: tuple[int, int, int] = (238, 196, 170)) -> np.ndarray:
    """A vector-style cartoon head: flat fills with dark outlines, one flat shadow under the nose."""
    s = size / 512
    img = np.full((size, size, 3), (120, 170, 220), np.uint8)
    hair, ink = (60, 40, 30), (30, 25, 25)

    def p(x: float, y: float) -> tuple[int, int]:
        return int(x * s), int(y * s)

    def n(v: float) -> int:
        return max(1, int(v * s))

    cv2.ellipse(img, p(256, 560), (n(230), n(120)), 0, 180, 360, (70, 90, 150), -1, cv2.LINE_AA)
    cv2.rectangle(img, p(216, 360), p(296, 450), skin, -1)
    cv2.ellipse(img, p(256, 230), (n(150), n(170)), 0, 0, 360, hair, -1, cv2.LINE_AA)
    cv2.ellipse(img, p(256, 250), (n(118), n(150)), 0, 0, 360, skin, -1, cv2.LINE_AA)
    shadow = tuple(int(c * 0.85) for c in skin)
    cv2.ellipse(img, p(256, 250), (n(118), n(150)), 0, 60, 120, shadow, -1, cv2.LINE_AA)
    cv2.ellipse(img, p(256, 250), (n(118), n(150)), 0, 0, 360, ink, n(3), cv2.LINE_AA)
    cv2.ellipse(img, p(256, 150), (n(125), n(60)), 0, 180, 360, hair, -1, cv2.LINE_AA)
    cv2.ellipse(img, p(256, 150), (n(125), n(45)), 0, 0, 180, hair, -1, cv2.LINE_AA)
    for ex in (206, 306):
        cv2.ellipse(img, p(ex, 235), (n(30), n(17)), 0, 0, 360, (250, 250, 250), -1, cv2.LINE_AA)
        cv2.circle(img, p(ex, 235), n(13), (90, 60, 40), -1, cv2.LINE_AA)
        cv2.circle(img, p(ex, 235), n(6), (10, 10, 10), -1, cv2.LINE_AA)
        cv2.circle(img, p(ex + 4, 230), n(3), (255, 255, 255), -1, cv2.LINE_AA)
        cv2.ellipse(img, p(ex, 235), (n(30), n(17)), 0, 0, 360, ink, n(2), cv2.LINE_AA)
        cv2.ellipse(img, p(ex, 205), (n(32), n(8)), 0, 180, 360, hair, n(6), cv2.LINE_AA)
    nose = np.array([p(256, 250), p(246, 300), p(262, 302)], np.int32)
    cv2.polylines(img, [nose], False, ink, n(2), cv2.LINE_AA)
    cv2.ellipse(img, p(256, 340), (n(34), n(12)), 0, 0, 360, (200, 90, 90), -1, cv2.LINE_AA)
    cv2.line(img, p(222, 340), p(290, 340), (120, 40, 40), n(2), cv2.LINE_AA)
    cv2.ellipse(img, p(256, 340), (n(34), n(12)), 0, 0, 360, ink, n(2), cv2.LINE_AA)
    return img


def _cartoonified(rgb: np.ndarray, colours: int) -> np.ndarray:
    """The classic cartoon filter: edge-preserving blur, k-means colours, dark outlines."""
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    smooth = cv2.edgePreservingFilter(bgr, flags=1, sigma_s=60, sigma_r=0.4)
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    _, label, centre = cv2.kmeans(
        smooth.reshape(-1, 3).astype(np.float32), colours, None, criteria, 2, cv2.KMEANS_PP_CENTERS
    )
    flat = centre.astype(np.uint8)[label.ravel()].reshape(bgr.shape)
    grey = cv2.medianBlur(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 7)
    block = max(3, (max(bgr.shape[:2]) // 150) | 1)
    edges = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, 5)
    flat[edges == 0] = (20, 20, 20)
    return np.ascontiguousarray(flat[..., ::-1])


def _flat_patches(rgb: np.ndarray) -> float:
    return measure_face(rgb, find_main_face(rgb), with_hands=False).flat_patches


# ---- the cue's arithmetic --------------------------------------------------------------------------


def test_flat_fills_count_and_noisy_shading_does_not():
    mask = np.ones((200, 200), bool)
    fills = np.full((200, 200), 180, np.uint8)
    fills[:, 100:] = 120  # two fills, one edge: all but a band of the window's width around it
    assert 0.9 < flat_patch_share(fills, mask, 200.0) < 1.0
    rng = np.random.default_rng(0)
    shading = np.linspace(120, 180, 200)[None, :] + rng.normal(0, 1.0, (200, 200))
    assert flat_patch_share(np.clip(shading, 0, 255).astype(np.uint8), mask, 200.0) == 0.0
    # clipped white (a blown-out forehead, a sketch's paper) is one value in photos too
    assert flat_patch_share(np.full((200, 200), 255, np.uint8), mask, 200.0) == 0.0


# ---- known answers without the shared media --------------------------------------------------------


@pytest.mark.parametrize("size", [384, 1024])
def test_drawn_cartoon_face_is_refused_as_not_a_photo(size):
    cartoon = _cartoon_face(size)
    with pytest.raises(PhotoRejected) as refusal:
        analyze_rgb(cartoon)
    assert refusal.value.code == "not_a_photo"
    assert refusal.value.message == (
        "This looks like a painting or a drawing, not a photo: upload a photo of your own face."
    )
    # a web image re-saved as JPEG (the H5 page sends JPEG 0.85) keeps its fills
    with pytest.raises(PhotoRejected, match="drawing"):
        analyze_rgb(_jpeg(cartoon, 80))


def test_cartoonified_astronaut_is_refused_and_the_photo_even_recompressed_is_not(astronaut_rgb):
    with pytest.raises(PhotoRejected) as refusal:
        analyze_rgb(_cartoonified(astronaut_rgb, 8))
    assert refusal.value.code == "not_a_photo"
    for rgb in (astronaut_rgb, _jpeg(astronaut_rgb, 40)):
        assert _flat_patches(rgb) < th.MAX_FLAT_PATCH_SHARE / 3
        analyze_rgb(rgb)


# ---- the shared photos -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo(shared_media: Path):
    def get(name: str) -> np.ndarray:
        return decode_image((shared_media / "photos" / name).read_bytes())

    return get


@pytest.mark.parametrize("name", SMOOTH_PHOTOS)
def test_smooth_and_compressed_photos_are_far_from_the_drawing_limit(photo, name):
    rgb = photo(name)
    half = cv2.resize(rgb, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    for variant in (rgb, _jpeg(rgb, 40), _jpeg(rgb, 70), _jpeg(half, 50)):
        if min(variant.shape[:2]) < 256:
            continue
        assert _flat_patches(variant) < th.MAX_FLAT_PATCH_SHARE / 3


def test_beauty_filtered_audience_photo_turned_upright_is_a_photo(shared_media):
    rgb = decode_image((shared_media / "badinputs/upside_down.jpg").read_bytes())
    upright = np.ascontiguousarray(rgb[::-1, ::-1])
    assert _flat_patches(upright) < th.MAX_FLAT_PATCH_SHARE / 3
    analyze_rgb(upright)


@pytest.mark.parametrize("name", ["obama_official_portrait.jpg", "einstein_bw_historic.jpg"])
def test_cartoon_filtered_shared_photo_is_refused_as_not_a_photo(photo, name):
    with pytest.raises(PhotoRejected) as refusal:
        analyze_rgb(_jpeg(_cartoonified(photo(name), 8), 85))
    assert refusal.value.code == "not_a_photo"
