"""The font of the visible AI label: the machine's CJK font when it has one, else a subset shipped here.

The label "AI生成 · AI-generated" is legally required on every poster and film, so it must never
depend on what happens to be installed: a fresh laptop or a slim container often has no CJK font
at all. The package therefore ships `LABEL_FONT` (swap/data/label-sans-sc.otf, ~30 KB): Noto Sans
CJK SC Regular subset to `LABEL_FONT_CHARS` (printable ASCII, the default label and a few common
Chinese label words) and renamed, under the SIL Open Font License 1.1 (swap/data/OFL.txt).

Lookup order for a label (`label_font`): a system font for Chinese (fontconfig `:lang=zh`, Sans
Regular preferred) that has every character; else the shipped subset if it has every character;
else any system font that has them (e.g. a Thai label). If none has them, `LabelFontError`: a
label that silently lost characters (tofu boxes) would not be the label the campaign configured.

Regenerate the subset (needs fontTools, in the test extra, and fonts-noto-cjk):

    python -m swap.fonts [--source /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc]
"""

from __future__ import annotations

import argparse
import subprocess
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from swap.errors import TemplateError

DATA = Path(__file__).resolve().parent / "data"
LABEL_FONT = DATA / "label-sans-sc.otf"
LABEL_FONT_FAMILY = "Protagonist Label Sans SC"
SOURCE_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SOURCE_FAMILY = "Noto Sans CJK SC"

# What the shipped subset covers. Keep it small: every CJK glyph costs ~0.3-1 KB.
DEFAULT_LABEL = "AI生成 · AI-generated"
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F))
_CJK_LABEL_WORDS = (
    "生成内容合成人工智能深度由制作视频图片海报本"  # 由AI生成 / 人工智能生成内容 / 深度合成 ...
)
_PUNCTUATION = "·•　、，。：；！？（）「」【】—…"
LABEL_FONT_CHARS = frozenset(DEFAULT_LABEL + _PRINTABLE_ASCII + _CJK_LABEL_WORDS + _PUNCTUATION)


class LabelFontError(TemplateError):
    """No available font can draw every character of a label (code ``label_unprintable``).

    A `TemplateError`: the label is part of a campaign's template configuration, and the editor who
    set it is the one who can fix it.
    """

    def __init__(self, message: str) -> None:
        super().__init__("label_unprintable", message)


def _fc_list(pattern: str) -> list[tuple[str, int, str]]:
    """(file, face index, family) of the fonts fontconfig matches; [] without fontconfig."""
    try:
        out = subprocess.run(
            ["fc-list", "-f", "%{file}\t%{index}\t%{family[0]}\t%{style[0]}\n", pattern],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0].strip():
            index = int(parts[1]) if parts[1].isdigit() else 0
            found.append((parts[0].strip(), index, f"{parts[2]} {parts[3]}"))
    return found


def _rank(font: tuple[str, int, str]) -> tuple[int, int, int, int, str, int]:
    """Prefer a plain Sans Regular face, Simplified Chinese first (the label's Chinese is zh-Hans)."""
    path, index, name = font
    return (
        0 if "Sans" in name else 1,
        0 if "Mono" not in name else 1,
        0 if "Regular" in name else 1,
        0 if " SC" in name else 1,
        path,
        index,
    )


@lru_cache(maxsize=32)
def system_font(chars: frozenset[str], lang: str | None = "zh") -> tuple[str, int] | None:
    """(path, face index) of an installed font with every character in `chars`; None if there is none.

    `lang="zh"` asks for a font made for Chinese (it also has Latin); `lang=None` for any font.
    """
    codepoints = " ".join(f"{ord(c):x}" for c in sorted(chars) if not c.isspace())
    pattern = (f":lang={lang}" if lang else "") + (f":charset={codepoints}" if codepoints else "")
    fonts = _fc_list(pattern or ":")
    if not fonts:
        return None
    path, index, _ = min(fonts, key=_rank)
    return path, index


def missing_from_shipped_font(text: str) -> str:
    """The characters of `text` that the shipped subset cannot draw ('' = it can draw all of them)."""
    return "".join(sorted({c for c in text if c not in LABEL_FONT_CHARS and not c.isspace()}))


def label_font_source(text: str) -> tuple[str, int]:
    """(path, face index) of the font to draw `text` with; LabelFontError if no font has all of it."""
    chars = frozenset(text)
    found = system_font(chars, "zh")
    if found is not None:
        return found
    if not missing_from_shipped_font(text):
        return str(LABEL_FONT), 0
    found = system_font(chars, None)
    if found is not None:
        return found
    raise LabelFontError(
        f"No font can draw the label {text!r}: the shipped label font lacks "
        f"{missing_from_shipped_font(text)!r} and no installed font has them. Install a font with "
        "these characters (e.g. fonts-noto-cjk) or add them to LABEL_FONT_CHARS and run "
        "`python -m swap.fonts`."
    )


@lru_cache(maxsize=16)
def _truetype(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


def label_font(text: str, size: int) -> ImageFont.FreeTypeFont:
    """A font of `size` px that draws every character of `text` (see the module docstring for the order)."""
    path, index = label_font_source(text)
    return _truetype(path, index, size)


# ---- generator -----------------------------------------------------------------------------------------


def build_label_font(source: Path = SOURCE_FONT, out: Path = LABEL_FONT) -> int:
    """Subset Noto Sans CJK SC Regular to `LABEL_FONT_CHARS`, rename it, write `out`; returns its size.

    Deterministic (no new timestamps), hinting and unused layout features dropped; the copyright,
    licence and trademark name records are kept (OFL condition 2), the family is renamed because a
    subset is a Modified Version (and "Noto" is a trademark).
    """
    from fontTools import subset
    from fontTools.ttLib import TTCollection, TTFont

    if source.suffix.lower() in (".ttc", ".otc"):
        fonts = TTCollection(str(source)).fonts
        matches = [f for f in fonts if f["name"].getDebugName(1) == SOURCE_FAMILY]
        if not matches:
            raise SystemExit(f"{source} has no {SOURCE_FAMILY!r} face")
        font = matches[0]
    else:
        font = TTFont(str(source))
    options = subset.Options()
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.layout_features = ["kern", "palt", "locl"]
    options.hinting = False
    options.desubroutinize = True
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(ord(c) for c in LABEL_FONT_CHARS))
    subsetter.subset(font)
    names = font["name"]
    version = names.getDebugName(5) or ""
    for record in list(names.names):
        if record.nameID in (1, 3, 4, 6, 16, 17, 21, 22):
            names.removeNames(nameID=record.nameID)
    postscript = LABEL_FONT_FAMILY.replace(" ", "") + "-Regular"
    names.setName(LABEL_FONT_FAMILY, 1, 3, 1, 0x409)
    names.setName("Regular", 2, 3, 1, 0x409)
    names.setName(f"{postscript};subset of {SOURCE_FAMILY} {version}", 3, 3, 1, 0x409)
    names.setName(f"{LABEL_FONT_FAMILY} Regular", 4, 3, 1, 0x409)
    names.setName(postscript, 6, 3, 1, 0x409)
    if "CFF " in font:
        cff = font["CFF "].cff
        cff.fontNames = [postscript]
        top = cff.topDictIndex[0]
        top.FullName = f"{LABEL_FONT_FAMILY} Regular"
        top.FamilyName = LABEL_FONT_FAMILY
        if hasattr(top, "CIDFontName"):
            top.CIDFontName = postscript
    font.recalcTimestamp = False  # keep the source's dates: the same input gives the same bytes
    out.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(out))
    return out.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description="Build swap/data/label-sans-sc.otf (the shipped label font).")
    ap.add_argument("--source", type=Path, default=SOURCE_FONT, help="Noto Sans CJK (.ttc or SC .otf)")
    ap.add_argument("--out", type=Path, default=LABEL_FONT)
    args = ap.parse_args()
    size = build_label_font(args.source, args.out)
    print(f"wrote {args.out} ({size} bytes, {len(LABEL_FONT_CHARS)} characters)")


if __name__ == "__main__":
    main()
