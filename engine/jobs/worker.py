"""Runs engine jobs for the dashboard in subprocesses: queue, progress, cancel, time limit.

Every job is `sys.executable -m engine run|micro ... --jsonl` in its own process group, so
the dashboard's process never imports jax, holds no GPU memory and survives a crash or an
out-of-memory kill of the measurement. A reader thread parses the JSON-lines events into
`Job` (progress, records, saved paths).

One measurement at a time per machine, because two timings side by side corrupt each other:
- within one process (one Streamlit server, all browser sessions), a FIFO queue served by one
  dispatcher thread; the pages share one `Worker` through `st.cache_resource`;
- across processes (a second server, a CLI run made through this module), an exclusive
  `fcntl.flock` on `<runs_dir>/.worker.lock` held while the subprocess runs.

Cancel and the per-job time limit kill the whole process group and write a record for each
run that did not finish (status "error" or "timeout", with a message) via `engine.runlog.store.append`.
A subprocess that dies on its own (non-zero exit, or killed by a signal such as the kernel's
out-of-memory SIGKILL) gets "error" records the same way; input the engine refused (exit code 2)
is reported without records, since nothing was measured. The next job starts a fresh process.

Public hosting: `Worker(limits=Limits.from_env(secrets=...))` refuses a submission when the
queue already holds `limits.max_queued_jobs` waiting jobs (`QueueFull`) and, before queueing a
run, applies `engine.jobs.guard.check` (`JobRefused`, whose `decision` holds the estimates). Both
are `SubmitRefused`, whose message is written for the person who pressed Run.

No jax and no streamlit here.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from engine.base.config import RunConfig
from engine.base.limits import Limits
from engine.jobs import guard
from engine.runlog import store
from engine.runlog.record import run_identity

REPO_ROOT = Path(__file__).resolve().parents[2]  # engine/jobs/worker.py -> the checkout
LOCK_NAME = ".worker.lock"
ACTIVE_STATES = ("queued", "waiting", "running")
FINAL_STATES = ("done", "failed", "cancelled", "timeout")
USAGE_EXIT_CODE = 2  # the CLI's "bad input" exit: nothing was measured
STARTUP_SLACK_S = 60.0  # python + jax import + device init before the first run's budget starts


class SubmitRefused(RuntimeError):
    """The worker would not queue a job; the message says why, for the person who asked."""


class QueueFull(SubmitRefused):
    """max_queued_jobs jobs are already waiting."""


class JobRefused(SubmitRefused):
    """engine.jobs.guard refused the job; `decision` holds the estimates and the limits broken."""

    def __init__(self, decision: guard.GuardDecision):
        self.decision = decision
        super().__init__(decision.message)


def _exit_words(returncode: int | None) -> str:
    """'exited with code 3', or 'exited with code -9 (killed by SIGKILL ...)' for a signal."""
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        why = "; the kernel's out-of-memory killer sends it too" if name == "SIGKILL" else ""
        return f"exited with code {returncode} (killed by {name}{why})"
    return f"exited with code {returncode}"


def _finished(job: Job) -> str:
    """'1 run' / '3 runs' (or measurements, for microbenchmarks) that the job finished."""
    n, word = len(job.records), "run" if job.kind == "run" else "measurement"
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def run_argv(config: RunConfig, out: Path, python: str = sys.executable) -> list[str]:
    """The `python -m engine run ... --jsonl` command line that measures `config`."""
    m, d, t, b = config.model, config.data, config.train, config.bench
    return [
        python, "-m", "engine", "run",
        "--model", m.kind, "--width", str(m.width), "--depth", str(m.depth), "--channels", str(m.channels),
        "--heads", str(m.heads), "--seq-len", str(m.seq_len), "--vocab", str(m.vocab),
        "--samples", str(d.samples), "--input-shape", "x".join(str(n) for n in d.input_shape),
        "--classes", str(d.n_classes), "--seed", str(d.seed),
        "--batch-size", str(t.batch_size), "--epochs", str(t.epochs), "--optimizer", t.optimizer,
        "--lr", repr(t.learning_rate), "--dtype", t.dtype, "--precision", t.matmul_precision, "--mode", t.mode,
        "--warmup", str(b.warmup), "--repeats", str(b.repeats), "--time-budget", repr(b.time_budget_s),
        "--devices", ",".join(b.devices), "--device-count", str(b.device_count), "--out", str(out), "--jsonl",
    ]


def micro_argv(devices: tuple[str, ...], out: Path, full: bool = False, python: str = sys.executable) -> list[str]:
    """The `python -m engine micro ... --jsonl` command line."""
    return [python, "-m", "engine", "micro", "--devices", ",".join(devices), "--out", str(out), "--jsonl"] + (
        ["--full"] if full else []
    )


def unfinished_record(config: RunConfig, device_spec: str, status: str, message: str, batch_id: str | None) -> dict:
    """A run record for a run that never finished: what was asked, where, and why it stopped."""
    record = run_identity(config, device_spec, batch_id, "local")
    record.update(device_kind="cpu" if record["platform"] == "cpu" else None, status=status, error=message)
    return record


@dataclass
class Job:
    """One unit of work for the worker and everything known about its progress.

    Times are `time.time()` seconds. `fraction` is in [0, 1]. `records` holds the finished
    run (or micro) records as the engine reported them; `written` the placeholder records
    this module wrote for runs that did not finish.
    """

    kind: str  # "run" | "micro"
    argv: list[str]
    label: str
    time_limit_s: float
    config: RunConfig | None = None
    devices: tuple[str, ...] = ()
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = "queued"
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    batch_id: str | None = None
    total: int = 0
    phase: str = ""
    device: str = ""
    epoch: int = 0
    of: int = 0
    records: list[dict] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)
    written: list[dict] = field(default_factory=list)
    message: str = ""
    message_suffix: str = ""  # what went wrong saving the job's status rows, added to its message
    returncode: int | None = None
    pid: int | None = None  # the engine subprocess (and its process group) while it runs
    decision: guard.GuardDecision | None = None  # the guard's estimates, when the worker has limits
    stderr_tail: str = ""
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def fraction(self) -> float:
        """Share of the job done: finished runs plus the current run's epochs."""
        if self.state in FINAL_STATES:
            return 1.0
        total = max(self.total, len(self.records), 1)
        inner = self.epoch / self.of if self.of and self.phase in ("warmup", "measure") else 0.0
        return min((len(self.records) + inner) / total, 1.0)

    def describe_progress(self) -> str:
        """One line for people: which phase on which device (compile vs measure)."""
        if self.state == "queued":
            return "waiting in the queue"
        if self.state == "waiting":
            return "waiting for a measurement started by another process on this machine"
        if self.state in FINAL_STATES:
            return self.message or self.state
        done = f"{len(self.records)}/{max(self.total, len(self.records))} runs done"
        if not self.phase:
            step = "saving results" if self.records else "starting the engine (python + jax)"
            return f"{step}; {done}"
        where = f" on {self.device}" if self.device else ""
        if self.phase in ("warmup", "measure"):
            what = "warm-up" if self.phase == "warmup" else "measuring"
            return f"{what} epoch {self.epoch}/{self.of}{where}; {done}"
        words = {"prepare": "preparing data", "transfer": "transferring data to the device", "compile": "compiling"}
        return f"{words.get(self.phase, self.phase)}{where}; {done}"

    def apply(self, event: dict):
        """Update the job from one engine event (see engine/cli.py for the event kinds)."""
        kind = event.get("event")
        if kind == "start":
            self.total, self.batch_id = int(event.get("total") or 0), event.get("batch_id")
        elif kind == "phase":
            self.phase, self.device, self.epoch, self.of = event.get("phase", ""), event.get("device", ""), 0, 0
        elif kind == "epoch":
            self.phase, self.device = event.get("phase", ""), event.get("device", "")
            self.epoch, self.of = int(event.get("epoch") or 0), int(event.get("of") or 0)
        elif kind == "record" and isinstance(event.get("record"), dict):
            self.records.append(event["record"])
            self.phase, self.epoch, self.of = "", 0, 0
        elif kind == "saved" and event.get("path"):
            self.saved.append(event["path"])


class Worker:
    """A FIFO of jobs run one at a time, each in a fresh `python -m engine` subprocess.

    runs_dir: where records (and the cross-process lock file) go. python: the interpreter
    for subprocesses. poll_s: how often the dispatcher checks for exit, cancel and timeout.
    limits: when given, submissions are checked (module doc); max_queued_jobs (or
    limits.max_queued_jobs) caps the jobs waiting behind the running one. None: no limits.
    """

    def __init__(self, runs_dir: str | os.PathLike, python: str = sys.executable, cwd: Path = REPO_ROOT,
                 poll_s: float = 0.1, kill_grace_s: float = 3.0, keep_finished: int = 50,
                 limits: Limits | None = None, max_queued_jobs: int | None = None):
        self.runs_dir = Path(runs_dir).resolve()
        self.python, self.cwd, self.poll_s, self.kill_grace_s = python, Path(cwd), poll_s, kill_grace_s
        self._queue: collections.deque[Job] = collections.deque()
        self._jobs: dict[str, Job] = {}
        self._current: Job | None = None
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._keep_finished = keep_finished
        self.limits = limits
        self.max_queued_jobs = max_queued_jobs if max_queued_jobs is not None else (
            limits.max_queued_jobs if limits is not None else None)

    # ---- submitting and asking -------------------------------------------------------------

    def submit_run(self, config: RunConfig, time_limit_s: float, label: str | None = None, fits=None,
                   device_memory_bytes: dict[str, int] | None = None) -> Job:
        """Queue a measurement of `config` on its devices; killed after `time_limit_s`.

        With limits: raises JobRefused when `engine.jobs.guard.check` refuses it (fits: this machine's
        performance-model fits, `guard.fits_for_host`), QueueFull when the queue is full.
        """
        label = label or (f"{config.model.kind} w={config.model.width} d={config.model.depth}, "
                          f"batch {config.train.batch_size}, {config.data.samples:,} samples on "
                          + ", ".join(config.bench.devices))
        decision = None
        if self.limits is not None:
            self._check_queue()
            decision = guard.check(config, self.limits, self._free_memory_bytes(), time_limit_s=float(time_limit_s),
                                   fits=fits, device_memory_bytes=device_memory_bytes)
            if not decision.allowed:
                raise JobRefused(decision)
        job = Job("run", run_argv(config, self.runs_dir, self.python), label, float(time_limit_s), config=config,
                  devices=config.bench.devices, total=len(config.bench.devices), decision=decision)
        return self.submit(job)

    def submit_micro(self, devices: tuple[str, ...], time_limit_s: float, full: bool = False) -> Job:
        """Queue the microbenchmarks (matmul, memory, host-to-device) on `devices`."""
        decision = None
        if self.limits is not None:
            self._check_queue()
            decision = guard.check_micro(devices, full, self.limits, self._free_memory_bytes(),
                                         time_limit_s=float(time_limit_s))
            if not decision.allowed:
                raise JobRefused(decision)
        job = Job("micro", micro_argv(devices, self.runs_dir, full, self.python),
                  "microbenchmarks on " + ", ".join(devices), float(time_limit_s), devices=devices,
                  decision=decision)
        return self.submit(job)

    def _free_memory_bytes(self) -> int | None:
        """Free memory now, plus what the running job holds: it is freed before a queued job starts."""
        free = guard.available_memory_bytes()
        current = self._current
        if free is not None and current is not None and current.pid is not None:
            free += guard.process_group_rss_bytes(current.pid)
        return free

    def _check_queue(self):
        with self._cond:
            waiting = len(self._queue)
            if self.max_queued_jobs is not None and waiting >= self.max_queued_jobs:
                raise QueueFull(f"The queue is full: {waiting} jobs are waiting behind the one running "
                                f"(CROSSOVER_MAX_QUEUED_JOBS={self.max_queued_jobs}). Try again when one has finished.")

    def submit(self, job: Job) -> Job:
        """Queue `job`; raises QueueFull when max_queued_jobs jobs are already waiting."""
        with self._cond:
            self._check_queue()
            self._jobs[job.id] = job
            self._queue.append(job)
            self._forget_old()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._dispatch, name="crossover-worker", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        """Every job this worker knows, oldest first."""
        with self._cond:
            return sorted(self._jobs.values(), key=lambda j: j.submitted_at)

    def queue(self) -> list[Job]:
        """The active jobs in the order they run: the current one first, then the waiting ones."""
        with self._cond:
            return ([self._current] if self._current and self._current.active else []) + list(self._queue)

    def position(self, job_id: str) -> int | None:
        """0 for the job being run, n for n jobs ahead of it, None if it is not active."""
        for i, job in enumerate(self.queue()):
            if job.id == job_id:
                return i
        return None

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job at once, or kill a running one; False if it already ended."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None or not job.active:
                return False
            job.cancel_requested.set()
            if job in self._queue:
                self._queue.remove(job)
                job.state, job.finished_at, job.message = "cancelled", time.time(), "cancelled before it started"
            self._cond.notify_all()
        return True

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job ends (or `timeout` seconds pass); returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        job = self._jobs[job_id]
        with self._cond:
            while job.active:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(timeout=0.2 if left is None else min(left, 0.2))
        return job

    def shutdown(self):
        """Cancel everything and stop the dispatcher (tests; the server just exits)."""
        with self._cond:
            self._stopping = True
            for job in list(self._queue) + ([self._current] if self._current else []):
                job.cancel_requested.set()
            self._cond.notify_all()
        for job in list(self._jobs.values()):
            if job.active:
                self.cancel(job.id)
        if self._thread:
            self._thread.join(timeout=10)

    # ---- the dispatcher --------------------------------------------------------------------

    def _forget_old(self):
        finished = [j for j in self._jobs.values() if not j.active]
        for job in sorted(finished, key=lambda j: j.submitted_at)[: max(len(finished) - self._keep_finished, 0)]:
            del self._jobs[job.id]

    def _dispatch(self):
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping and not self._queue:
                    return
                job = self._queue.popleft()
                self._current = job
            try:
                self._run(job)
            except Exception as exc:  # a bug here must not stop the queue
                self._finish(job, "failed", f"worker error: {type(exc).__name__}: {exc}")
            with self._cond:
                self._current = None
                self._cond.notify_all()

    def _finish(self, job: Job, state: str, message: str):
        with self._cond:
            job.state, job.message, job.finished_at = state, message, time.time()
            self._cond.notify_all()

    def _run(self, job: Job):
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        with self._machine_lock(job) as locked:
            if not locked:
                self._finish(job, "cancelled", "cancelled while waiting for the machine")
                return
            self._run_locked(job)

    @contextlib.contextmanager
    def _machine_lock(self, job: Job):
        """Hold the cross-process lock; yields False if the job was cancelled while waiting."""
        with open(self.runs_dir / LOCK_NAME, "a+") as handle:
            job.state = "waiting"
            while True:
                if job.cancel_requested.is_set():
                    yield False
                    return
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(self.poll_s)
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _environment(self) -> dict:
        env = dict(os.environ)
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # the GPU worker takes memory as it needs it
        env["PYTHONUNBUFFERED"] = "1"  # events must arrive as they happen
        return env

    def _run_locked(self, job: Job):
        with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as stderr:
            job.started_at = time.time()
            job.state = "running"
            proc = subprocess.Popen(
                job.argv, cwd=self.cwd, env=self._environment(), stdout=subprocess.PIPE, stderr=stderr,
                text=True, encoding="utf-8", errors="replace", bufsize=1,
                start_new_session=True,  # its own process group: a kill reaches its children too
            )
            job.pid = proc.pid
            reader = threading.Thread(target=self._read_events, args=(job, proc), daemon=True)
            reader.start()
            ended = self._supervise(job, proc)
            reader.join(timeout=5)
            stderr.seek(0)
            job.stderr_tail = stderr.read()[-4000:]
        job.returncode = proc.returncode
        self._conclude(job, ended)

    def _read_events(self, job: Job, proc: subprocess.Popen):
        for line in proc.stdout:
            line = line.strip()
            if not line.startswith("{"):
                continue  # a library printing to stdout; events are JSON objects
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self._cond:
                try:
                    job.apply(event)
                except (TypeError, ValueError, AttributeError):  # a malformed event must not stop the reading:
                    continue  # an undrained pipe would block the engine until its time limit

    def _supervise(self, job: Job, proc: subprocess.Popen) -> str:
        """Wait for exit; returns "exited", "cancelled" or "timeout" (after killing)."""
        deadline = job.started_at + job.time_limit_s
        while True:
            try:
                proc.wait(timeout=self.poll_s)
                return "exited"
            except subprocess.TimeoutExpired:
                pass
            if job.cancel_requested.is_set():
                self._kill(proc)
                return "cancelled"
            if time.time() > deadline:
                self._kill(proc)
                return "timeout"

    def _kill(self, proc: subprocess.Popen):
        """SIGTERM to the process group, SIGKILL if it is still there after the grace period."""
        for sig, wait_s in ((signal.SIGTERM, self.kill_grace_s), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue

    def _conclude(self, job: Job, ended: str):
        elapsed = time.time() - job.started_at
        last_line = job.stderr_tail.strip().splitlines()[-1] if job.stderr_tail.strip() else ""
        if ended == "cancelled":
            self._record_unfinished(job, "error", f"cancelled by the user after {elapsed:.1f} s")
            self._finish(job, "cancelled", f"cancelled after {elapsed:.1f} s; {_finished(job)} had finished"
                                           + job.message_suffix)
        elif ended == "timeout":
            self._record_unfinished(
                job, "timeout", f"job time limit of {job.time_limit_s:g} s reached; the worker was killed")
            self._finish(job, "timeout", f"stopped at the time limit of {job.time_limit_s:g} s; "
                                         f"{_finished(job)} had finished" + job.message_suffix)
        elif job.returncode == 0:
            failed = sum(r.get("status") != "ok" for r in job.records)
            note = f", {failed} not ok" if failed else ""
            self._finish(job, "done", f"finished in {elapsed:.1f} s: {_finished(job)} recorded{note}")
        elif job.returncode == USAGE_EXIT_CODE and "cannot write the record" in last_line:
            self._record_unfinished(job, "error", f"the results could not be saved: {last_line}")
            self._finish(job, "failed", f"the results could not be saved: {last_line}" + job.message_suffix)
        elif job.returncode == USAGE_EXIT_CODE:
            self._finish(job, "failed", f"the engine refused the input: {last_line}")
        else:
            why = f"the worker process {_exit_words(job.returncode)}" + (f": {last_line}" if last_line else "")
            self._record_unfinished(job, "error", why)
            self._finish(job, "failed", why + "; the next job starts a fresh process" + job.message_suffix)

    def _record_unfinished(self, job: Job, status: str, message: str):
        """Write a record (status + message) for each planned run that did not finish."""
        if job.kind != "run" or job.config is None:
            return  # microbenchmarks keep what finished; there is no run to record
        done = {r.get("device_spec") for r in job.records}
        records = [unfinished_record(job.config, spec, status, message, job.batch_id)
                   for spec in job.devices if spec not in done]
        if records:
            try:
                path = store.append(records, self.runs_dir)
            except OSError as exc:  # a full or read-only disk: say so in the job's message, do not die
                job.message_suffix = (f"; no status row could be written to {self.runs_dir} "
                                      f"({exc.strerror or type(exc).__name__})")
                return
            job.written.extend(records)
            job.saved.append(str(path))


class DevicesUnavailable(RuntimeError):
    """`python -m engine devices --json` failed; the message says how."""


def list_devices(python: str = sys.executable, timeout_s: float = 120.0) -> dict:
    """Host facts and JAX devices, asked of a subprocess (this process never imports jax).

    Returns `engine.measure.devices.describe()`'s dict: host, cpu_model, cpu_cores, jax_version,
    devices (spec, platform, device_kind, memory_bytes, ...).
    """
    env = dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE="false")
    try:
        done = subprocess.run([python, "-m", "engine", "devices", "--json"], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DevicesUnavailable(f"could not list devices: {type(exc).__name__}: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise DevicesUnavailable(f"listing devices failed with exit code {done.returncode}: {tail}")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise DevicesUnavailable("listing devices printed no JSON") from None
