"""Domain errors of the engine: bad input gets a code for machines and a message for people."""

from __future__ import annotations

# Every `PhotoRejected.code` the engine raises: a fault of the photo itself, which no retry can change.
PHOTO_REFUSAL_CODES = frozenset(
    {
        "not_an_image",
        "image_too_small",
        "image_too_large",
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
)
# Soft warnings on an accepted photo (`FaceAnalysis.warnings`, and what the face asset adds from its
# texture: `glasses`, `side_lit`): the page turns each into a tip for a better photo.
PHOTO_WARNING_CODES = frozenset(
    {
        "face_small",
        "head_turned",
        "soft_focus",
        "hand_near_face",
        "expression_moderate",
        "glasses",
        "side_lit",
    }
)


class SwapError(Exception):
    """Base class of every error the engine raises on purpose."""


class PhotoRejected(SwapError):
    """The visitor's photo cannot give a good result; `message` tells the visitor what to do instead.

    `code` is stable and machine-readable (e.g. ``"no_face"``, ``"multiple_faces"``), so the platform
    can count failures by cause and translate the message.
    """

    def __init__(self, code: str, message: str) -> None:
        if code not in PHOTO_REFUSAL_CODES:
            raise ValueError(f"unknown photo refusal code {code!r}: add it to PHOTO_REFUSAL_CODES")
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


class TemplateError(SwapError):
    """A poster or film template is unusable (no face, corrupt file, too short); `code` + editor message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message
