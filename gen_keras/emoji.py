"""A real colour image set that installs offline: the glyphs of Debian's Noto Color Emoji font as PNGs.

`render_emoji(folder, size)` draws every single-code-point glyph of the font (about 1,400) at `size`×`size`
pixels (RGBA, transparent background) into one subfolder per Unicode block group (`EMOJI_GROUPS`), a
labelled folder that `--dataset folder:PATH` reads. From the shell:

    python -m gen_keras.emoji runs/emoji64 --size 64     # apt-get install fonts-noto-color-emoji
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from gen_keras.errors import DataError

NOTO_COLOR_EMOJI = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
# The font holds its glyphs as 136×128 colour bitmaps; FreeType scales them only from this size.
BITMAP_FONT_SIZE = 109
# Classes by Unicode block: (name, first code point, last code point); the rest is "other".
EMOJI_GROUPS = (
    ("faces", 0x1F600, 0x1F64F),  # Emoticons
    ("pictographs", 0x1F300, 0x1F5FF),  # Miscellaneous Symbols and Pictographs
    ("transport", 0x1F680, 0x1F6FF),  # Transport and Map Symbols
    ("supplemental", 0x1F900, 0x1FAFF),  # Supplemental Symbols and Pictographs, Extended-A
    ("symbols", 0x2000, 0x2BFF),  # arrows, miscellaneous symbols, dingbats
)
OTHER_GROUP = "other"


def emoji_group(code_point: int) -> str:
    """The class of a code point: the name of its `EMOJI_GROUPS` block, else "other"."""
    for name, first, last in EMOJI_GROUPS:
        if first <= code_point <= last:
            return name
    return OTHER_GROUP


def font_code_points(font_path: str | os.PathLike = NOTO_COLOR_EMOJI) -> list[int]:
    """The code points the font maps to a glyph, without ASCII, joiners, selectors and tags.

    Args:
        font_path: the font file.

    Returns:
        The sorted code points.
    """
    from matplotlib import ft2font

    left_out = {0x200D, 0x20E3, 0xFE0F}
    return [c for c in sorted(ft2font.FT2Font(str(font_path)).get_charmap())
            if c >= 0xA0 and c not in left_out and not 0xE0000 <= c <= 0xE007F]


def render_glyph(font, code_point: int, size: int) -> np.ndarray | None:
    """One glyph as a square RGBA image: drawn, cropped to its ink, centred on a square, resized.

    Args:
        font: a Pillow `FreeTypeFont` of the colour font at `BITMAP_FONT_SIZE`.
        code_point: the character.
        size: the square's side in pixels.

    Returns:
        uint8 (size, size, 4), or None when the glyph draws nothing.
    """
    from PIL import Image, ImageDraw

    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((8, 8), chr(code_point), font=font, embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        return None
    glyph = canvas.crop(box)
    side = max(glyph.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(glyph, ((side - glyph.size[0]) // 2, (side - glyph.size[1]) // 2))
    return np.asarray(square.resize((size, size), Image.Resampling.LANCZOS))


def render_emoji(folder: str | os.PathLike, size: int = 32, *, font_path: str | os.PathLike = NOTO_COLOR_EMOJI,
                 limit: int | None = None) -> dict[str, int]:
    """Renders the font's glyphs as `size`×`size` RGBA PNGs, one subfolder per group (`emoji_group`).

    Glyphs that draw nothing and exact duplicates of an earlier glyph are left out. Files are named
    `u<code point in hex>.png`, e.g. `faces/u1f600.png`.

    Args:
        folder: where to write (created; existing files of the same names are replaced).
        size: the images' side in pixels (e.g. 32 or 64).
        font_path: the colour font (Debian: `apt-get install fonts-noto-color-emoji`).
        limit: render only the first `limit` code points (None: all).

    Returns:
        {group: number of images written}.

    Raises:
        DataError: the font is missing or cannot be read as a colour font, or `size` < 4.
    """
    from PIL import ImageFont

    if size < 4:
        raise DataError(f"size must be at least 4 pixels, got {size}.")
    font_path = Path(font_path)
    if not font_path.is_file():
        raise DataError(f"the colour emoji font is not at {font_path}: install it with "
                        "`apt-get install fonts-noto-color-emoji`, or pass its path.")
    try:
        font = ImageFont.truetype(str(font_path), BITMAP_FONT_SIZE)
        code_points = font_code_points(font_path)
    except OSError as e:
        raise DataError(f"{font_path} could not be read as a colour bitmap font ({e}).") from e
    from PIL import Image

    folder = Path(folder)
    counts: dict[str, int] = {}
    seen: set[bytes] = set()
    for code_point in code_points[:limit]:
        image = render_glyph(font, code_point, size)
        if image is None or image[..., 3].max() == 0 or image.tobytes() in seen:
            continue
        seen.add(image.tobytes())
        group = emoji_group(code_point)
        (folder / group).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, "RGBA").save(folder / group / f"u{code_point:x}.png")
        counts[group] = counts.get(group, 0) + 1
    if not counts:
        raise DataError(f"{font_path} drew no glyph: it is not a colour emoji font.")
    return counts


def main(argv=None) -> None:
    """`python -m gen_keras.emoji FOLDER [--size N]`: renders the set and prints the count per class."""
    parser = argparse.ArgumentParser(description="Render the Noto Color Emoji glyphs as a labelled folder of "
                                                 "colour PNGs (one subfolder per Unicode block group).")
    parser.add_argument("folder", help="where to write the images")
    parser.add_argument("--size", type=int, default=32, help="the images' side in pixels (e.g. 32 or 64)")
    parser.add_argument("--font", default=str(NOTO_COLOR_EMOJI), help="the colour emoji font")
    args = parser.parse_args(argv)
    try:
        counts = render_emoji(args.folder, args.size, font_path=args.font)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"{sum(counts.values())} images of {args.size}x{args.size} in {args.folder}: "
          + ", ".join(f"{name} {n}" for name, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
