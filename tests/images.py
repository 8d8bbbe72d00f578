"""Checks on the PNG files inpars draws (a real PNG, its size, the colours it shows)."""

from __future__ import annotations

import struct
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG header; fails unless the file is a PNG that decodes."""
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    with Image.open(path) as image:
        image.load()  # decodes every pixel: a truncated or corrupt file fails here
        assert image.size == (width, height)
    return width, height


def pixels_with_colour(
    path: Path, rgb: tuple[int, int, int], tolerance: int = 8
) -> list[tuple[int, int]]:
    """(x, y) of every pixel of colour ``rgb`` (within ``tolerance`` per channel)."""
    from PIL import Image

    with Image.open(path) as image:
        pixels = image.convert("RGB")
        width, height = pixels.size
        data = pixels.load()
        return [
            (x, y)
            for x in range(width)
            for y in range(height)
            if max(abs(c - w) for c, w in zip(data[x, y], rgb, strict=True)) <= tolerance
        ]


def columns_with_colour(path: Path, rgb: tuple[int, int, int], tolerance: int = 8) -> list[int]:
    """The x of every pixel column holding ``rgb`` (within ``tolerance`` per channel)."""
    return sorted({x for x, _ in pixels_with_colour(path, rgb, tolerance)})
