"""Real, small H.264 MP4s derived from the prompt (PyAV, Pillow and NumPy are imported lazily).

What a clip looks like: a background tinted by a hash of the prompt, the prompt's first words drawn
with Pillow's default font, a bar sweeping left to right once per second in a colour from the same
hash, and a progress line along the bottom. With sound, an AAC mono track plays a tone whose pitch
comes from the hash. Sizes keep the aspect ratio: 16:9 -> 320x180, 9:16 -> 180x320, 1:1 -> 240x240,
21:9 -> 336x144.

A multi-shot clip (Kling 3.0 ``shots``) is cut into its shots: each shot has its own tint, its own
prompt as the caption, headed ``Shot i/n``, so the shots differ visibly; their lengths sum to the clip's.

Rendered files are cached on disk under a key of (prompt, duration, aspect, sound, fps, shots), so
thousands of jobs from a templated prompt cost one render each. Rendering is thread-safe (one lock
per key) and meant to run off the event loop.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

SIZES: dict[str, tuple[int, int]] = {
    "16:9": (320, 180),
    "9:16": (180, 320),
    "1:1": (240, 240),
    "21:9": (336, 144),  # Kling 4.0 on fal
}
DEFAULT_ASPECT = "16:9"
AUDIO_RATE = 22050
RENDER_VERSION = "1"

#: a multi-shot clip's shots: (prompt, seconds) each
Shots = tuple[tuple[str, float], ...]


def render_key(prompt: str, duration: float, aspect: str, sound: bool, fps: int, shots: Shots = ()) -> str:
    raw = f"{RENDER_VERSION}|{prompt}|{duration}|{aspect}|{int(sound)}|{fps}"
    if shots:
        raw += "|" + "|".join(f"{seconds}:{text}" for text, seconds in shots)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def _palette(prompt: str) -> tuple[tuple[int, int, int], tuple[int, int, int], float]:
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    bar = (64 + digest[0] % 192, 64 + digest[1] % 192, 64 + digest[2] % 192)
    background = (digest[3] % 64, digest[4] % 64, digest[5] % 64)
    tone = 220.0 + (digest[6] * 256 + digest[7]) % 440
    return bar, background, tone


def _wrap(words: list[str], max_chars: int, max_lines: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in words:
        word = word[:max_chars]
        candidate = f"{current} {word}".strip()
        if len(candidate) <= max_chars:
            current = candidate
            continue
        lines.append(current)
        current = word
        if len(lines) == max_lines:
            break
    if current and len(lines) < max_lines:
        lines.append(current)
    return lines


def _base_image(prompt: str, width: int, height: int, background: tuple[int, int, int]) -> Any:
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    words = prompt.split() or ["(empty prompt)"]
    lines = _wrap(words, max_chars=max(8, width // 7), max_lines=max(3, (height - 30) // 14))
    y = 8
    for line in lines:
        draw.text((8, y), line, fill=(235, 235, 235), font=font)
        y += 14
    return np.asarray(image, dtype=np.uint8).copy()


def _scenes(prompt: str, duration: float, shots: Shots, width: int, height: int, fps: int) -> list[Any]:
    """Per frame: (base image, bar colour). One scene for a plain clip; one per shot otherwise, each
    with its own tint and its caption ``Shot i/n: <prompt>``."""
    if not shots:
        bar, background, _tone = _palette(prompt)
        return [(_base_image(prompt, width, height, background), bar)] * max(1, round(duration * fps))
    scenes: list[Any] = []
    for index, (text, seconds) in enumerate(shots, start=1):
        bar, background, _tone = _palette(f"{index}|{text}")
        caption = f"Shot {index}/{len(shots)}: {text}"
        scenes += [(_base_image(caption, width, height, background), bar)] * max(1, round(seconds * fps))
    return scenes


def render_video(
    path: str | Path,
    prompt: str,
    duration: float,
    aspect: str,
    sound: bool,
    fps: int = 12,
    shots: Shots = (),
) -> None:
    """Write an MP4 to ``path`` (atomically: a temp file in the same directory, then a rename)."""
    import av
    import numpy as np

    width, height = SIZES.get(aspect, SIZES[DEFAULT_ASPECT])
    _bar, _background, tone = _palette(prompt)
    scenes = _scenes(prompt, duration, shots, width, height, fps)
    frames = len(scenes)
    bar_width = max(4, width // 16)

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".render-", suffix=".mp4", dir=target.parent)
    os.close(fd)
    try:
        container = av.open(tmp_name, mode="w", format="mp4", options={"movflags": "+faststart"})
        try:
            video = container.add_stream("libx264", rate=fps)
            video.width = width
            video.height = height
            video.pix_fmt = "yuv420p"
            video.options = {"preset": "ultrafast", "crf": "30"}
            audio = container.add_stream("aac", rate=AUDIO_RATE, layout="mono") if sound else None

            for i, (base, bar_colour) in enumerate(scenes):
                arr = base.copy()
                x = int((i % fps) / fps * (width + bar_width)) - bar_width
                arr[height - 40 : height - 12, max(0, x) : max(0, x + bar_width)] = bar_colour
                arr[height - 4 :, : max(1, int(width * (i + 1) / frames))] = bar_colour
                frame = av.VideoFrame.from_ndarray(arr, format="rgb24").reformat(format="yuv420p")
                frame.pts = i
                for packet in video.encode(frame):
                    container.mux(packet)
            for packet in video.encode(None):
                container.mux(packet)

            if audio is not None:
                total = int(duration * AUDIO_RATE)
                chunk = 1024
                t = np.arange(total, dtype=np.float64) / AUDIO_RATE
                samples = (0.2 * np.sin(2 * np.pi * tone * t)).astype(np.float32)
                for start in range(0, total, chunk):
                    block = samples[start : start + chunk]
                    if block.size < chunk:
                        block = np.pad(block, (0, chunk - block.size))
                    aframe = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="fltp", layout="mono")
                    aframe.sample_rate = AUDIO_RATE
                    aframe.pts = start
                    for packet in audio.encode(aframe):
                        container.mux(packet)
                for packet in audio.encode(None):
                    container.mux(packet)
        finally:
            container.close()
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


class VideoCache:
    """Renders each distinct clip once into ``cache_dir``; safe to call from many threads."""

    def __init__(self, cache_dir: str | Path, fps: int = 12) -> None:
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def path_for(self, prompt: str, duration: float, aspect: str, sound: bool, shots: Shots = ()) -> Path:
        return self.cache_dir / f"{render_key(prompt, duration, aspect, sound, self.fps, shots)}.mp4"

    def get(self, prompt: str, duration: float, aspect: str, sound: bool, shots: Shots = ()) -> Path:
        """Path of the rendered clip, rendering it first if needed (blocking: call off the event loop)."""
        path = self.path_for(prompt, duration, aspect, sound, shots)
        if path.exists():
            return path
        with self._guard:
            lock = self._locks.setdefault(path.name, threading.Lock())
        with lock:
            if not path.exists():
                render_video(path, prompt, duration, aspect, sound, self.fps, shots)
        return path
