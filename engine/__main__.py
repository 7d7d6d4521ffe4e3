"""Entry point: `python -m engine ...` (see engine/cli.py)."""

from engine.measure import allocator

allocator.tune()  # before JAX allocates anything: freed step buffers are reused, not faulted in again

from engine.cli import main  # noqa: E402

raise SystemExit(main())
