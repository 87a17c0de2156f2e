"""The machine a benchmark ran on, in one line (no TensorFlow import)."""

from __future__ import annotations

import os
import platform


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` says."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine() -> str:
    """`x86_64 <CPU>, <n> cores`."""
    return f"{platform.machine()} {cpu_name()}, {os.cpu_count()} cores"
