"""Job control: the worker queue that runs `python -m engine` subprocesses one at a time
(`worker`), and the guard that estimates a job's time and memory before it starts (`guard`)."""
