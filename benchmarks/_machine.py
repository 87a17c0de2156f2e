"""The machine a benchmark ran on, in one line (no TensorFlow import)."""

from __future__ import annotations

import os
import platform

from gen_keras.release import cpu_name


def machine() -> str:
    """`x86_64 <CPU>, <n> cores`."""
    return f"{platform.machine()} {cpu_name()}, {os.cpu_count()} cores"
