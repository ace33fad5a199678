"""Analysing the visitor's photo: good photos are accepted, every bad-input class gets its own code."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from swap import thresholds as th
from swap.analysis import analyze_photo, analyze_rgb, find_main_face, measure_face
from swap.errors import PhotoRejected
from swap.face import FaceAnalysis
from swap.imageio import decode_image, encode_jpeg

from .hand_composite import hand_cutout, paste_hand

CONTRACT_CODES = {
    "not_an_image",
    "image_too_small",
    "no_face",
    "multiple_faces",
    "face_too_small",
    "face_cut_off",
    "not_facing_camera",
    "too_dark",
    "overexposed",
    "too_blurry",
    "screen_photo",
    "not_a_photo",
    "face_covered",
    "expression_strong",
}

GOOD_PHOTOS = [
    "asian_woman_hand_on_chin.png",
    "business_woman.png",
    "einstein_bw_historic.jpg",
    "man_curly_hair_glasses.jpg",
    "obama_official_portrait.jpg",
    "older_man_glasses_low_light.jpg",
    "teen_girl_black_fairface.jpg",
    "woman_neutral_frown.png",
]

BAD_INPUTS = {
    "noface_landscape.jpg": {"no_face"},
    "noface_cat.jpg": {"no_face"},
    "noface_dark_tiny.png": {"no_face"},
    "two_faces_children.jpg": {"multiple_faces"},
    "two_faces_couple.jpg": {"multiple_faces"},
    "group_selfie_many.jpg": {"multiple_faces"},
    "tiny_image_128px.png": {"image_too_small", "face_too_small"},
    "profile_left.jpeg": {"not_facing_camera"},
    "upside_down.jpg": {"no_face"},
    "partial_face_cut_off.jpg": {"face_cut_off"},
    "video_noface_hand.mp4": {"not_an_image"},
    "photo_of_laptop_screen.jpg": {"screen_photo"},
}

Outcome = FaceAnalysis | PhotoRejected


def _run(fn: Callable[[], FaceAnalysis]) -> Outcome:
    try:
        return fn()
    except PhotoRejected as exc:
        return exc


@pytest.fixture(scope="session")
def analysed(shared_media: Path) -> Callable[[str], Outcome]:
    """Analyse each shared file once per test session (Face Mesh is the slow part)."""
    cache: dict[str, Outcome] = {}

    def get(rel: str) -> Outcome:
        if rel not in cache:
            data = (shared_media / rel).read_bytes()
            cache[rel] = _run(lambda: analyze_photo(data))
        return cache[rel]

    return get


@pytest.fixture(scope="session")
def upright(shared_media: Path) -> Callable[[str], np.ndarray]:
    cache: dict[str, np.ndarray] = {}

    def get(name: str) -> np.ndarray:
        if name not in cache:
            cache[name] = decode_image((shared_media / "photos" / name).read_bytes())
        return cache[name]

    return get


def _code(outcome: Outcome) -> str:
    assert isinstance(outcome, PhotoRejected), f"expected a refusal, got an accepted photo {outcome!r:.200}"
    assert outcome.code in CONTRACT_CODES
    # user-facing: a full sentence that says what is wrong and what to do
    assert outcome.message[0].isupper() and outcome.message.endswith(".") and ":" in outcome.message
    return outcome.code


def _accepted(outcome: Outcome) -> FaceAnalysis:
    assert isinstance(outcome, FaceAnalysis), f"refused: {outcome.code}: {outcome.message}"
    return outcome


# ---- real photos ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_each_bad_input_class_gets_its_specific_code(analysed, name):
    assert _code(analysed(f"badinputs/{name}")) in BAD_INPUTS[name]


@pytest.mark.parametrize("name", GOOD_PHOTOS)
def test_good_photo_is_accepted_with_one_face_and_its_pixels(analysed, name):
    result = _accepted(analysed(f"photos/{name}"))
    h, w = result.rgb.shape[:2]
    assert result.landmarks.points.shape == (478, 3)
    assert result.landmarks.image_size == (w, h)
    assert max(h, w) <= th.MAX_ANALYSIS_SIDE
    assert result.landmarks.face_width >= th.MIN_FACE_WIDTH_PX
    assert abs(result.pose.yaw) <= th.MAX_ABS_YAW_DEG


def test_skimage_astronaut_is_accepted_as_a_small_face(astronaut_rgb):
    result = analyze_rgb(astronaut_rgb)
    assert result.warnings == ("face_small",)


def _photographed(rgb: np.ndarray, *, raster: bool) -> np.ndarray:
    """`rgb` as a phone photo of a monitor shows it (`raster`) or as a plain 3x upscale: each image
    pixel drawn as 3x3 device pixels (R, G, B sub-pixel stripes, a dark line between pixel rows),
    blurred by the lens and resampled by the camera at 0.8 (moire)."""
    up = cv2.resize(rgb, None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST).astype(np.float32)
    if raster:
        x = np.arange(up.shape[1])[None, :]
        rows = np.where(np.arange(up.shape[0])[:, None] % 3 == 2, 0.8, 1.0)
        for c in range(3):
            up[..., c] *= 1.6 * (0.55 + 0.45 * (x % 3 == c)) * rows
    shot = cv2.resize(cv2.GaussianBlur(up, (0, 0), 0.7), None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    return np.clip(shot, 0, 255).astype(np.uint8)


def test_photo_of_a_screen_is_refused_and_the_same_face_unscreened_is_not(astronaut_rgb):
    with pytest.raises(PhotoRejected) as refusal:
        analyze_rgb(_photographed(astronaut_rgb, raster=True))
    assert refusal.value.code == "screen_photo" and "screen" in refusal.value.message
    plain = _photographed(astronaut_rgb, raster=False)
    assert measure_face(plain, find_main_face(plain), with_hands=False).screen_pattern < th.MAX_SCREEN_PATTERN
    analyze_rgb(plain)


def test_wide_open_mouth_is_refused_as_a_strong_expression(analysed):
    assert _code(analysed("photos/woman_shouting_yellow_wall.jpg")) == "expression_strong"


def test_low_key_portrait_with_a_lit_face_is_accepted(analysed, shared_media):
    # the whole frame is very dark (mean luma ~46), the face itself is lit: the photo is usable
    rgb = decode_image((shared_media / "photos/older_man_glasses_low_light.jpg").read_bytes())
    assert rgb.mean() < 60
    result = _accepted(analysed("photos/older_man_glasses_low_light.jpg"))
    assert result.warnings == ()


def test_hand_touching_the_chin_is_only_a_warning(analysed):
    # the finger touches the outline's rim (0.5 % of the mesh), which the texture builder trims anyway
    result = _accepted(analysed("photos/asian_woman_hand_on_chin.png"))
    assert "hand_near_face" in result.warnings
    m = measure_face(result.rgb, result.landmarks)
    assert 0 < m.hand_cover < th.MAX_HAND_COVER


def test_profile_is_refused_although_face_mesh_finds_a_face(analysed, shared_media):
    rgb = decode_image((shared_media / "badinputs/profile_left.jpeg").read_bytes())
    assert find_main_face(rgb) is not None
    assert "turned away" in analysed("badinputs/profile_left.jpeg").message


def test_second_person_is_refused_with_a_clear_message(analysed):
    refusal = analysed("badinputs/two_faces_couple.jpg")
    assert refusal.message == "More than one face found: upload a photo of just you."


# ---- synthetic variants of good photos ------------------------------------------------------------


def test_second_smaller_face_in_the_background_is_refused(upright):
    # obama's head pasted at 70 % of the main face's width into business_woman's white background
    img = upright("business_woman.png").copy()
    donor = upright("obama_official_portrait.jpg")
    x0, y0, x1, y1 = find_main_face(donor).bbox
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * 0.9
    head = donor[int(cy - half) : int(cy + half), int(cx - half) : int(cx + half)]
    scale = 0.7 * find_main_face(img).face_width / (x1 - x0)
    head = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    img[40 : 40 + head.shape[0], 40 : 40 + head.shape[1]] = head
    assert _refused(img) == "multiple_faces"


def _refused(rgb: np.ndarray) -> str:
    return _code(_run(lambda: analyze_rgb(np.ascontiguousarray(rgb))))


@pytest.mark.parametrize("name", ["obama_official_portrait.jpg", "teen_girl_black_fairface.jpg"])
def test_darkened_photo_is_too_dark(upright, name):
    assert _refused((upright(name) * 0.25).astype(np.uint8)) == "too_dark"


@pytest.mark.parametrize("name", ["obama_official_portrait.jpg", "woman_neutral_frown.png"])
def test_brightened_photo_is_overexposed(upright, name):
    assert _refused(np.clip(upright(name) * 1.6, 0, 255).astype(np.uint8)) == "overexposed"


@pytest.mark.parametrize("name", ["obama_official_portrait.jpg", "older_man_glasses_low_light.jpg"])
def test_blurred_photo_is_too_blurry(upright, name):
    rgb = upright(name)
    iod = find_main_face(rgb).interocular
    assert _refused(cv2.GaussianBlur(rgb, (0, 0), 0.05 * iod)) == "too_blurry"


def test_slightly_soft_photo_is_accepted_with_a_warning(upright):
    rgb = upright("woman_neutral_frown.png")
    iod = find_main_face(rgb).interocular
    result = analyze_rgb(cv2.GaussianBlur(rgb, (0, 0), 0.02 * iod))
    assert "soft_focus" in result.warnings


@pytest.mark.parametrize(
    ("name", "colour"),
    [
        ("obama_official_portrait.jpg", (150, 200, 220)),  # light-blue surgical mask
        ("woman_neutral_frown.png", (235, 235, 235)),  # white mask
        ("teen_girl_black_fairface.jpg", (40, 40, 40)),  # black cloth mask on dark skin
    ],
)
def test_object_over_nose_and_mouth_is_refused_as_covered(upright, name, colour):
    rgb = upright(name).copy()
    p = find_main_face(rgb).points
    x0, x1 = int(p[[61, 291], 0].min()), int(p[[61, 291], 0].max())
    y0, y1 = int(p[1, 1]), int(p[17, 1])
    rgb[y0:y1, x0:x1] = colour  # a patch from the nose tip to below the lower lip
    assert _refused(rgb) == "face_covered"


def _jpeg_with_orientation(pixels: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def test_sideways_phone_photo_with_exif_orientation_is_accepted_with_the_same_landmarks(upright):
    rgb = upright("woman_neutral_frown.png")
    straight = analyze_photo(encode_jpeg(rgb, 95))
    # stored rotated 90 degrees counter-clockwise with the tag "rotate 90 clockwise to view" (6)
    turned = analyze_photo(_jpeg_with_orientation(np.rot90(rgb, 1), 6))
    assert turned.rgb.shape == straight.rgb.shape
    err = np.linalg.norm(turned.landmarks.points[:, :2] - straight.landmarks.points[:, :2], axis=1).mean()
    assert err / straight.landmarks.interocular < 0.02
    assert abs(turned.pose.roll - straight.pose.roll) < 2


def test_heic_photo_is_accepted(upright):
    import pillow_heif

    rgb = upright("man_curly_hair_glasses.jpg")
    small = np.ascontiguousarray(rgb[::2, ::2])  # 360 px: keeps the x265 encode fast
    heif = pillow_heif.from_bytes(mode="RGB", size=(small.shape[1], small.shape[0]), data=small.tobytes())
    buf = io.BytesIO()
    heif.save(buf, quality=90)
    result = analyze_photo(buf.getvalue())
    assert result.rgb.shape == small.shape
    assert abs(result.pose.yaw) < 15


def test_random_bytes_are_not_an_image():
    noise = np.random.default_rng(7).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    assert _code(_run(lambda: analyze_photo(noise))) == "not_an_image"


@pytest.mark.parametrize(
    "name", ["woman_neutral_frown.png", "obama_official_portrait.jpg", "business_woman.png"]
)
def test_photo_turned_upside_down_is_refused_with_a_hint_to_turn_it(upright, name):
    # Face Mesh lays an upright mesh over some upside-down faces; the detectors' vote catches it
    refusal = _run(lambda: analyze_rgb(np.ascontiguousarray(upright(name)[::-1, ::-1])))
    assert _code(refusal) in {"not_facing_camera", "no_face"}
    if refusal.code == "not_facing_camera":
        assert "upside down" in refusal.message


def test_photo_held_sideways_is_refused_with_a_hint_to_turn_it(upright):
    # no EXIF tag to fix it: Face Mesh still finds the face, the roll reading (~90) refuses it
    rgb = upright("woman_neutral_frown.png")
    for quarter_turn in (1, -1):
        refusal = _run(lambda k=quarter_turn: analyze_rgb(np.ascontiguousarray(np.rot90(rgb, k))))
        assert _code(refusal) == "not_facing_camera"
        assert "sideways" in refusal.message


# ---- a real hand pasted onto a face (tests/swap/hand_composite.py) ------------------------------


def _woman_with_hand(shared_media: Path, landmark: int, dy: float, scale: float, angle: float):
    """woman_neutral_frown with the shared hand `scale` face widths wide, `dy` face widths below `landmark`."""
    photo = decode_image((shared_media / "photos" / "woman_neutral_frown.png").read_bytes())
    face = find_main_face(photo)
    fw = face.face_width
    x, y = face.points[landmark, :2]
    return paste_hand(photo, hand_cutout(shared_media), (x, y + dy * fw), scale * fw, angle)


def test_hand_on_a_cheek_is_accepted_and_its_pixels_are_handed_to_the_asset(shared_media):
    # her right cheek, fingers up, clear of the eye, nose and mouth
    img, covered = _woman_with_hand(shared_media, 187, 0.1, 0.35, 180.0)
    result = analyze_rgb(img)
    assert "hand_near_face" in result.warnings
    assert result.occluders is not None and result.occluders.shape == img.shape[:2]
    # the detected region holds most of the pasted hand's pixels
    assert (result.occluders & covered).sum() > 0.6 * covered.sum()
    m = measure_face(img, find_main_face(img))
    assert 0.04 < m.hand_cover < th.MAX_HAND_COVER and not m.hand_on_features


def test_hand_over_the_mouth_is_refused_with_what_to_do(shared_media):
    img, _ = _woman_with_hand(shared_media, 13, 0.0, 0.6, 20.0)
    with pytest.raises(PhotoRejected) as refused:
        analyze_rgb(img)
    assert refused.value.code == "face_covered"
    assert "eyes, nose or mouth" in str(refused.value)
