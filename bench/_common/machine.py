"""What a benchmark report says about the machine and the code it ran on."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas() -> str:
    """numpy's BLAS library and version."""
    import numpy as np

    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{info.get('name')} {info.get('version')}"
    except Exception:  # pragma: no cover - old numpy
        return "unknown"


def versions() -> str:
    """Versions of the libraries on the measured path."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("openai", "httpx2", "httpcore2", "httpx", "pydantic", "numpy"):
        try:
            out.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


def git_state() -> str:
    """Commit and locally modified files (read-only git commands)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "mem7_core", "plugins"],
                               cwd=_ROOT, capture_output=True, text=True, check=True).stdout.split("\n")
        files = [line[3:] for line in dirty if line.strip()]
        return f"commit {head}" + (f", with local changes to {', '.join(files)}" if files else ", clean")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
