"""What one machine lets a job use: the resource limits a public host needs. No jax, no streamlit.

Each limit comes from an environment variable, else from a mapping the caller passes (the
dashboard passes `st.secrets`, since this module never imports streamlit), else from a default
sized for a public 1-CPU, 1 GB host such as Streamlit Community Cloud:

  CROSSOVER_MAX_PARAMS          10,000,000   parameters of one network
  CROSSOVER_MAX_SAMPLES         65,536       examples in one dataset
  CROSSOVER_MAX_JOB_SECONDS     300          seconds one job may take (its time limit and its estimate)
  CROSSOVER_MAX_QUEUED_JOBS     5            jobs waiting behind the running one
  CROSSOVER_MAX_JOB_MEMORY      700,000,000  bytes of memory one job may need (besides the free memory)
  CROSSOVER_MAX_UPLOAD_BYTES    50,000,000   bytes of one imported run file
  CROSSOVER_MAX_IMPORT_ROWS     5,000        rows of one imported run file
  CROSSOVER_MAX_SESSION_ROWS    5,000        rows one browser session's uploads may hold in total
  CROSSOVER_MAX_LOG_ROWS        5,000        rows the dashboard reads from one data folder (newest files first)

The row caps bound the server's memory (benchmarks/server_memory.py: about 7 MB per 1,000 rows once every
page has been opened, on top of ~290 MB): with both at 5,000 a visitor who opens every page keeps the
server under 400 MB.

Values are positive numbers ("5000000", "5_000_000" and "5e6" all work); anything else
raises `LimitError` naming the variable, where it came from, and what is allowed. The
command-line engine applies the limits only when CROSSOVER_ENFORCE_LIMITS=1, so a
workstation user is not limited; the dashboard applies them always.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

ENFORCE_VARIABLE = "CROSSOVER_ENFORCE_LIMITS"
DEFAULT_MAX_UPLOAD_BYTES = 50_000_000  # also engine.runlog.store's default caps on an imported file
DEFAULT_MAX_IMPORT_ROWS = 5_000


class LimitError(ValueError):
    """A limit's configured value is not usable; the message names the variable."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for jobs (module doc). Counts are ints; seconds a float; bytes ints."""

    max_params: int = 10_000_000
    max_samples: int = 65_536
    max_job_seconds: float = 300.0
    max_queued_jobs: int = 5
    max_job_memory_bytes: int = 700_000_000
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_import_rows: int = DEFAULT_MAX_IMPORT_ROWS
    max_session_rows: int = 5_000
    max_log_rows: int = 5_000

    def __post_init__(self):
        for f in fields(self):
            variable, kind, low, high = SPEC[f.name]
            object.__setattr__(self, f.name, _parse(variable, getattr(self, f.name), kind, low, high, "value"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, secrets: Mapping | None = None) -> Limits:
        """Limits from `env` (default os.environ), then `secrets` (e.g. st.secrets), then the defaults."""
        env = os.environ if env is None else env
        values = {}
        for name, (variable, kind, low, high) in SPEC.items():
            if variable in env and str(env[variable]).strip() != "":
                values[name] = _parse(variable, env[variable], kind, low, high, "environment variable")
            elif secrets is not None and _has(secrets, variable):
                values[name] = _parse(variable, secrets[variable], kind, low, high, "secret")
        return cls(**values)

    def rows(self) -> list[tuple[str, str, str]]:
        """(variable, value, what it limits) for each limit: for a table in the docs or the app."""
        return [(SPEC[f.name][0], _format(getattr(self, f.name)), WHAT[f.name]) for f in fields(self)]


# field -> (variable, int | float, lowest allowed, highest allowed)
SPEC = {
    "max_params": ("CROSSOVER_MAX_PARAMS", int, 1, 10**13),
    "max_samples": ("CROSSOVER_MAX_SAMPLES", int, 1, 100_000_000),
    "max_job_seconds": ("CROSSOVER_MAX_JOB_SECONDS", float, 1.0, 7 * 24 * 3600.0),
    "max_queued_jobs": ("CROSSOVER_MAX_QUEUED_JOBS", int, 1, 10_000),
    "max_job_memory_bytes": ("CROSSOVER_MAX_JOB_MEMORY", int, 1, 2**50),
    "max_upload_bytes": ("CROSSOVER_MAX_UPLOAD_BYTES", int, 1, 2**40),
    "max_import_rows": ("CROSSOVER_MAX_IMPORT_ROWS", int, 1, 10**9),
    "max_session_rows": ("CROSSOVER_MAX_SESSION_ROWS", int, 1, 10**9),
    "max_log_rows": ("CROSSOVER_MAX_LOG_ROWS", int, 1, 10**10),
}
WHAT = {
    "max_params": "parameters of one network",
    "max_samples": "examples in one dataset",
    "max_job_seconds": "seconds one job may take (its time limit, and the estimate before it starts)",
    "max_queued_jobs": "jobs waiting behind the one running",
    "max_job_memory_bytes": "bytes of memory one job may need (the machine's free memory also applies)",
    "max_upload_bytes": "bytes of one imported run file",
    "max_import_rows": "rows of one imported run file",
    "max_session_rows": "rows one browser session's uploads may hold in total",
    "max_log_rows": "rows the dashboard reads from one data folder (the newest files first)",
}


def _has(secrets: Mapping, key: str) -> bool:
    try:  # st.secrets raises (FileNotFoundError) when no secrets file exists at all
        return key in secrets
    except Exception:
        return False


def _format(value) -> str:
    return f"{value:,g}" if isinstance(value, float) else f"{value:,}"


def _parse(variable: str, raw: object, kind: type, low, high, where: str):
    """`raw` (text from the environment, or a number from TOML secrets) as a `kind` in [low, high]."""
    allowed = f"{'an integer' if kind is int else 'a number'} in [{_format(kind(low))}, {_format(kind(high))}]"
    shown = repr(raw) if len(repr(raw)) <= 40 else repr(raw)[:37] + "..."
    problem = LimitError(f"{variable}={shown} ({where}) is not allowed: expected {allowed}")
    number: int | float
    if isinstance(raw, bool):
        raise problem
    if isinstance(raw, str):
        text = raw.strip().replace("_", "")
        if len(text) > 40:
            raise problem
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise problem from None
    elif isinstance(raw, (int, float)):
        number = raw
    else:
        raise problem
    if isinstance(number, float) and not math.isfinite(number):
        raise problem
    if not low <= number <= high:
        raise problem
    if kind is int:
        if isinstance(number, float):
            if number != math.floor(number):
                raise problem
            number = int(number)
        return number
    return float(number)


def enforce_requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether CROSSOVER_ENFORCE_LIMITS asks the command-line engine to apply the limits."""
    env = os.environ if env is None else env
    raw = str(env.get(ENFORCE_VARIABLE, "")).strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("", "0", "false", "no", "off"):
        return False
    raise LimitError(f"{ENFORCE_VARIABLE}={raw!r} is not allowed: expected 1 (apply the limits) or 0")
