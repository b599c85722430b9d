"""A tiny synthetic voice note: a WAV of a few tones (no real voice)."""

from __future__ import annotations

import io
import math
import struct
import wave


def voice_note(seconds: float = 0.5, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate)))
        out.writeframes(frames)
    return buffer.getvalue()
