"""Run a script in a fresh Python process: for jax settings that must come before
jax starts (simulated CPU devices), which would slow every other test in this one."""

import os
import subprocess
import sys


def run_python(script: str, *, expect: str, timeout: int = 300) -> str:
    """Run ``script`` (``python -c``, CPU backend); assert that it exits 0 and prints
    ``expect``; return its standard output."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert expect in proc.stdout, proc.stdout[-3000:]
    return proc.stdout
