"""Every photo refusal and every soft warning the engine can give has its own tip on the H5 page, in
Chinese and in English (the page shows `err_<code>` / `tip_<code>`; a missing refusal key falls back
to the generic "something went wrong", a missing warning key would show the key itself)."""

from __future__ import annotations

import re
from pathlib import Path

from swap.errors import PHOTO_REFUSAL_CODES, PHOTO_WARNING_CODES

APP_JS = Path(__file__).resolve().parents[2] / "static" / "campaign" / "app.js"
# shown with the server's own sentence (`detail`) today: no tip of its own yet
WITHOUT_TIP = {"image_too_large"}


def test_each_photo_refusal_code_has_a_chinese_and_an_english_tip():
    source = APP_JS.read_text(encoding="utf-8")
    for code in sorted(PHOTO_REFUSAL_CODES - WITHOUT_TIP):
        tips = re.findall(rf'^\s*err_{code}: "([^"]+)"', source, flags=re.MULTILINE)
        assert len(tips) == 2, f"err_{code}: {tips}"
        chinese, english = tips
        assert re.search(r"[\u4e00-\u9fff]", chinese) and english.isascii(), tips


def test_a_drawing_is_told_to_upload_a_photo_of_the_visitors_own_face():
    source = APP_JS.read_text(encoding="utf-8")
    assert (
        'err_not_a_photo: "This looks like a painting or drawing, not a photo. Please upload a photo of'
        in source
    )


def test_each_soft_warning_has_a_chinese_and_an_english_tip_in_the_pages_order():
    from swap.analysis import _LIMITS

    source = APP_JS.read_text(encoding="utf-8")
    analysis_warnings = {limit.code for limit in _LIMITS if limit.message is None}
    assert analysis_warnings <= PHOTO_WARNING_CODES, analysis_warnings - PHOTO_WARNING_CODES
    order = re.search(r"var TIP_ORDER = \[([^\]]*)\]", source)
    assert order is not None
    assert set(re.findall(r'"(\w+)"', order.group(1))) == PHOTO_WARNING_CODES
    for code in sorted(PHOTO_WARNING_CODES):
        tips = re.findall(rf'^\s*tip_{code}: "([^"]+)"', source, flags=re.MULTILINE)
        assert len(tips) == 2, f"tip_{code}: {tips}"
        chinese, english = tips
        assert re.search(r"[\u4e00-\u9fff]", chinese) and english.isascii(), tips
