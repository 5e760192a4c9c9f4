"""One minimal valid Kling 2.6 text-to-video body in each gateway's dialect ("a cat", 5 s, silent).

Tests that check one rule change one field of these (strictness) or build the 3.0 form on them
(models), so a body the emulator accepts is written once.
"""

from __future__ import annotations

KLING_T2V = {"model_name": "kling-v2-6", "prompt": "a cat", "duration": "5", "mode": "std", "sound": "off"}
APIXO = {
    "request_type": "async",
    "input": {"mode": "text-to-video", "prompt": "a cat", "duration": 5, "sound": False},
}
APIMART = {"model": "kling-v2-6", "prompt": "a cat", "duration": 5}
KIE = {
    "model": "kling-2.6/text-to-video",
    "input": {"prompt": "a cat", "sound": False, "aspect_ratio": "1:1", "duration": "5"},
}
RIVYA = {
    "model": "kling-2-6",
    "prompt": "a cat",
    "params": {"duration": "5", "sound": "false", "aspect_ratio": "1:1"},
}
