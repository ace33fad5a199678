import pytest

from swap.errors import PHOTO_REFUSAL_CODES, PhotoRejected


def test_refusal_carries_its_code_and_the_visitors_message():
    error = PhotoRejected("no_face", "No face found: upload a photo that shows your face.")
    assert (error.code, str(error)) == ("no_face", "No face found: upload a photo that shows your face.")


def test_refusal_with_a_code_outside_the_published_set_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown photo refusal code 'sad_face'"):
        PhotoRejected("sad_face", "Cheer up.")
    assert "sad_face" not in PHOTO_REFUSAL_CODES
