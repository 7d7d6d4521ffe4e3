"""Start `streamlit run <script>` for scripts and benchmarks that drive a real browser against the app.

`start(script, env, log)` picks a free port, starts the server in its own session and returns (process, base URL)
once `/_stcore/health` answers "ok"; `stop(process)` ends it. One place for what screenshots.py, page_load.py,
cold_start.py and slider_to_answer.py each did by hand.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CROSSOVER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(runs_dir: Path, **extra: str) -> dict:
    """The environment of a server on `runs_dir` (an empty folder: a fresh install), the shipped reference data,
    sessions beside the runs folder, JAX on the CPU."""
    return dict(os.environ, CROSSOVER_RUNS_DIR=str(runs_dir), CROSSOVER_SESSIONS_DIR=str(runs_dir.parent / "s"),
                JAX_PLATFORMS="cpu", PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1", **extra)


def start(script: str, env: dict, log: Path | None = None, timeout_s: float = 60.0,
          poll_s: float = 0.2) -> tuple[subprocess.Popen, str]:
    """`streamlit run script` (a path from the repository's root) with `env`; its output goes to `log` (else
    nowhere). Returns (process, URL) once the health check answers; exits naming the script after `timeout_s`."""
    port = free_port()
    out = log.open("w") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
                             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(poll_s)
    proc.kill()
    raise SystemExit(f"streamlit run {script} did not answer within {timeout_s:g} s")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=10)
