"""Head pose: exact on synthetic geometry, documented signs on real photos."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from swap.imageio import decode_image
from swap.landmarks import N_LANDMARKS, FaceLandmarks, find_faces
from swap.pose import _REFERENCE, POSE_LANDMARKS, estimate_pose


def _rot(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Image-frame rotation for the documented angles (inverse of the module's decomposition)."""
    a, b, c = -math.radians(yaw), -math.radians(pitch), math.radians(roll)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


def _landmarks_at(yaw: float, pitch: float, roll: float) -> np.ndarray:
    pts = np.zeros((N_LANDMARKS, 3), np.float32)
    posed = (_rot(yaw, pitch, roll) @ _REFERENCE.T).T * 13.0 + np.array([400.0, 300.0, 20.0])
    pts[list(POSE_LANDMARKS)] = posed
    return pts


@pytest.mark.parametrize(
    "angles", [(0, 0, 0), (25, 0, 0), (-40, 0, 0), (0, 20, 0), (0, -15, 0), (0, 0, 30), (-18, 12, -9)]
)
def test_known_rotation_of_the_reference_face_is_recovered(angles):
    pose = estimate_pose(_landmarks_at(*angles))
    assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx(angles, abs=1e-3)  # float32 landmarks


def test_signs_follow_the_image_a_nose_to_the_right_of_the_image_is_positive_yaw():
    pts = _landmarks_at(20, 0, 0)
    eyes_mid_x = pts[[33, 263], 0].mean()
    assert pts[1, 0] > eyes_mid_x  # nose tip swings toward the image's right: subject turns to their left
    pts = _landmarks_at(0, 15, 0)
    assert pts[1, 1] < _landmarks_at(0, 0, 0)[1, 1]  # chin up: the nose tip rises in the image
    pts = _landmarks_at(0, 0, 20)
    assert pts[263, 1] > pts[33, 1]  # roll +: the subject's left eye (image right) is lower


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError):
        estimate_pose(np.zeros((10, 3), np.float32))


@pytest.fixture(scope="module")
def photo_faces(shared_media):
    def face(rel: str):
        rgb = decode_image((shared_media / rel).read_bytes())
        return rgb, find_faces(rgb)[0]

    return face


def test_frontal_portraits_read_small_angles(photo_faces):
    for rel in ("photos/obama_official_portrait.jpg", "photos/woman_neutral_frown.png"):
        pose = estimate_pose(photo_faces(rel)[1])
        assert max(abs(pose.yaw), abs(pose.pitch), abs(pose.roll)) < 5, (rel, pose)


def test_strict_profile_reads_about_fifty_degrees_of_yaw_to_the_subjects_right(photo_faces):
    # the woman faces the image's left = turns to her right; Face Mesh under-reads a strict profile
    pose = estimate_pose(photo_faces("badinputs/profile_left.jpeg")[1])
    assert -60 < pose.yaw < -45
    assert abs(pose.pitch) < 8 and abs(pose.roll) < 8


def test_mirrored_photo_flips_yaw_and_roll_but_not_pitch(photo_faces):
    rgb, face = photo_faces("photos/asian_woman_hand_on_chin.png")
    pose = estimate_pose(face)
    assert pose.yaw < -15 and pose.roll > 10  # turned to her right, head tilted to her left shoulder
    mirrored = estimate_pose(find_faces(np.ascontiguousarray(rgb[:, ::-1]))[0])
    assert mirrored.yaw == pytest.approx(-pose.yaw, abs=3)
    assert mirrored.roll == pytest.approx(-pose.roll, abs=3)
    assert mirrored.pitch == pytest.approx(pose.pitch, abs=3)


def test_clockwise_image_rotation_reads_as_positive_roll(photo_faces):
    rgb, face = photo_faces("photos/obama_official_portrait.jpg")
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), -30, 1.0)  # OpenCV: negative angle = clockwise
    turned = cv2.warpAffine(rgb, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    pose = estimate_pose(find_faces(turned)[0])
    assert pose.roll == pytest.approx(estimate_pose(face).roll + 30, abs=2)
    assert abs(pose.yaw) < 5


def test_landmarks_object_and_raw_array_give_the_same_pose(photo_faces):
    _, face = photo_faces("photos/obama_official_portrait.jpg")
    assert isinstance(face, FaceLandmarks)
    assert estimate_pose(face) == estimate_pose(face.points)
