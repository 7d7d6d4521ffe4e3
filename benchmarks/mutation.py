"""Mutation testing of the modules the answer rests on: does the suite catch small, realistic bugs?

    python benchmarks/mutation.py [--modules verdict,perfmodel,...] [--out results.md] [--limit N]

For each target module, every site of these mutations is planted ONE AT A TIME in a copy of the
checkout (the working tree is never touched), and the module's own tests run against it:
- comparisons flipped or loosened (< <=, > >=, == !=, < >);
- arithmetic swapped (+ -, * /, ** *) and a sum's right-hand term dropped (a + b -> a);
- numeric constants moved (an integer k -> k + 1, a float x -> 2x; 0 -> 1);
- boolean logic inverted (and <-> or; `not x` -> x);
- max <-> min.
Strings, docstrings and f-strings are left alone (they are words, not logic). A mutant is killed
when the tests fail (or time out); it survives when they pass. Prints per module killed / total
and every survivor with its line, and writes them as Markdown with --out. Results and the judged
survivors: docs/PERFORMANCE.md ("Mutation testing").
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Module (path in the checkout) -> the tests that speak for it.
TARGETS = {
    "verdict": ("engine/answer/verdict.py", ["tests/test_verdict.py", "tests/test_verdict_numbers.py",
                                             "tests/test_answer_rule.py", "tests/test_explain.py"]),
    "perfmodel": ("engine/analysis/perfmodel.py", ["tests/test_perfmodel.py", "tests/test_perfmodel_numbers.py",
                                                   "tests/test_answer_rule.py", "tests/test_verdict.py"]),
    "traffic": ("engine/analysis/traffic.py", ["tests/test_perfmodel_numbers.py", "tests/test_perfmodel.py",
                                               "tests/test_answer_rule.py"]),
    "memory": ("engine/analysis/memory.py", ["tests/test_memory.py", "tests/test_answer_rule.py"]),
    "cost": ("engine/analysis/cost.py", ["tests/test_cost_numbers.py", "tests/test_cost.py",
                                         "tests/test_cost_tables.py", "tests/test_answer_rule.py"]),
    "prices": ("engine/analysis/prices.py", ["tests/test_answer_rule.py"]),
    "counts": ("engine/base/counts.py", ["tests/test_counts_by_hand.py", "tests/test_counts.py"]),
    # Issue 19: the statistics under every chart.
    "run_interval": ("engine/analysis/run_interval.py", ["tests/test_run_interval.py", "tests/test_speedup_at_scale.py"]),
    "confidence": ("engine/analysis/confidence.py", ["tests/test_confidence.py", "tests/test_confidence_by_hand.py",
                                                     "tests/test_bootstrap_many.py", "tests/test_speedup_at_scale.py",
                                                     "tests/test_run_interval.py"]),
    "crossover": ("engine/analysis/crossover.py", ["tests/test_crossover.py", "tests/test_crossover_by_hand.py",
                                                   "tests/test_crossover_series.py",
                                                   "tests/test_analysis_basic.py"]),
    "pairing": ("engine/analysis/pairing.py", ["tests/test_pairing.py", "tests/test_pairing_by_hand.py",
                                               "tests/test_pooling.py", "tests/test_speedup_at_scale.py",
                                               "tests/test_answer_rule.py"]),
    # Issue 21: what a stranger's file and job must get past. Only the store's import validation is mutated
    # (VALIDATION below), not its reading and writing.
    "validate": ("engine/runlog/store.py", ["tests/test_store.py", "tests/reliability/test_validate_by_hand.py",
                                            "tests/reliability/test_bad_input.py", "tests/reliability/test_uploads.py"]),
    "guard": ("engine/jobs/guard.py", ["tests/reliability/test_guard.py", "tests/reliability/test_guard_by_hand.py"]),
}
# Top-level names whose lines are mutated, for targets that are only partly under test here (default: all).
SCOPES = {
    "validate": ("ImportRejected", "MAX_TEXT_CHARS", "MAX_LIST_ITEMS", "MAX_TEXT_CHARS_PER_ROW",
                 "MAX_LIST_ITEMS_PER_ROW", "MAX_SECONDS", "INT_RANGES", "FLOAT_RANGES", "_first_bad", "_check_types",
                 "_check_ranges", "validate_frame", "decompressed_caps", "_check_decompressed", "_check_totals",
                 "_read_bytes", "import_bytes"),
}
COPIED = ("engine", "tests", "data", "dashboard", "pages", "app.py", "crossover.py", "pyproject.toml")
SWAP_COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
                ast.NotEq: ast.Eq}
SWAP_BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult}


@dataclass(frozen=True)
class Mutant:
    line: int
    description: str
    index: int  # which site, in ast.walk order, the transformer changes


def _in_words(tree: ast.AST) -> set[int]:
    """ids of nodes inside f-strings, docstrings and annotations: not logic."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skip.update(id(n) for n in ast.walk(node))
        if isinstance(node, (ast.AnnAssign, ast.arg)) and getattr(node, "annotation", None) is not None:
            skip.update(id(n) for n in ast.walk(node.annotation))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            skip.update(id(n) for n in ast.walk(node.returns))
    return skip


def _sites(tree: ast.AST) -> list[tuple[ast.AST, str, object]]:
    """(node, description, change) for every mutation site, in ast.walk order."""
    skip = _in_words(tree)
    sites = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            op = type(node.ops[0])
            if op in SWAP_COMPARE:
                sites.append((node, f"{op.__name__} -> {SWAP_COMPARE[op].__name__}", ("compare", SWAP_COMPARE[op])))
            if op in (ast.Lt, ast.Gt):
                other = ast.Gt if op is ast.Lt else ast.Lt
                sites.append((node, f"{op.__name__} -> {other.__name__}", ("compare", other)))
        elif isinstance(node, ast.BinOp) and type(node.op) in SWAP_BINOP:
            sites.append((node, f"{type(node.op).__name__} -> {SWAP_BINOP[type(node.op)].__name__}",
                          ("binop", SWAP_BINOP[type(node.op)])))
            if isinstance(node.op, (ast.Add, ast.Sub)):
                sites.append((node, "drop the right-hand term", ("drop", None)))
        elif isinstance(node, ast.BoolOp):
            other = ast.Or if isinstance(node.op, ast.And) else ast.And
            sites.append((node, f"{type(node.op).__name__} -> {other.__name__}", ("boolop", other)))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            sites.append((node, "not x -> x", ("not", None)))
        elif (isinstance(node, ast.Constant) and type(node.value) in (int, float)
              and not isinstance(node.value, bool)):
            new = node.value + 1 if isinstance(node.value, int) else (node.value * 2 if node.value else 1.0)
            sites.append((node, f"{node.value!r} -> {new!r}", ("const", new)))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("max", "min")):
            other = "min" if node.func.id == "max" else "max"
            sites.append((node, f"{node.func.id} -> {other}", ("call", other)))
    return sites


def _scope_lines(tree: ast.Module, names: tuple[str, ...]) -> set[int]:
    """Line numbers of the top-level functions, classes and assignments called `names`."""
    lines: set[int] = set()
    seen: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined = {node.name}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined = {t.id for t in targets if isinstance(t, ast.Name)}
        else:
            continue
        if defined & set(names):
            seen |= defined & set(names)
            lines.update(range(node.lineno, node.end_lineno + 1))
    missing = sorted(set(names) - seen)
    if missing:  # a renamed function would silently leave the scope
        raise ValueError(f"scope names not found at the top level: {', '.join(missing)}")
    return lines


def mutants(source: str, scope: tuple[str, ...] | None = None) -> list[Mutant]:
    """Every mutation site of `source`, or only those inside the top-level definitions named in `scope`."""
    tree = ast.parse(source)
    keep = _scope_lines(tree, scope) if scope else None
    return [Mutant(getattr(node, "lineno", 0), description, i) for i, (node, description, _) in
            enumerate(_sites(tree)) if keep is None or getattr(node, "lineno", 0) in keep]


def mutate(source: str, mutant: Mutant) -> str:
    """`source` with one mutation applied (comments and formatting are lost: ast.unparse)."""
    tree = ast.parse(source)
    node, _, (kind, value) = _sites(tree)[mutant.index]
    if kind == "compare":
        node.ops = [value()]
    elif kind == "binop":
        node.op = value()
    elif kind == "boolop":
        node.op = value()
    elif kind == "const":
        node.value = value
    elif kind == "call":
        node.func.id = value
    elif kind in ("drop", "not"):
        replacement = copy.deepcopy(node.left if kind == "drop" else node.operand)
        for parent in ast.walk(tree):
            for field, child in ast.iter_fields(parent):
                if child is node:
                    setattr(parent, field, replacement)
                elif isinstance(child, list):
                    for i, item in enumerate(child):
                        if item is node:
                            child[i] = replacement
    return ast.unparse(ast.fix_missing_locations(tree))


def _run_tests(work: Path, tests: list[str], timeout: float) -> bool:
    """True when the tests pass (the mutant survives)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               "-p", "no:randomly", *tests], cwd=work, env=env, capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument("--out", help="write the results as Markdown here")
    parser.add_argument("--limit", type=int, default=None, help="at most this many mutants per module (a smoke run)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per test run; longer counts as killed")
    args = parser.parse_args(argv)
    names = [m for m in args.modules.split(",") if m]
    unknown = [m for m in names if m not in TARGETS]
    if unknown:
        print(f"--modules: {', '.join(unknown)} not allowed; expected some of {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    lines = [f"Mutation testing, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, python {sys.version.split()[0]}",
             ""]
    totals = [0, 0]
    with tempfile.TemporaryDirectory(prefix="crossover-mutation-") as tmp:
        work = Path(tmp)
        for item in COPIED:
            source = ROOT / item
            (shutil.copytree if source.is_dir() else shutil.copy)(source, work / item)
        for name in names:
            path, tests = TARGETS[name]
            original = (work / path).read_text()
            found = mutants(original, SCOPES.get(name))[: args.limit]
            if not _run_tests(work, tests, args.timeout):
                print(f"{name}: the tests fail on the unmutated code; skipped", file=sys.stderr)
                return 1
            survivors = []
            started = time.monotonic()
            for mutant in found:
                (work / path).write_text(mutate(original, mutant))
                if _run_tests(work, tests, args.timeout):
                    survivors.append(mutant)
            (work / path).write_text(original)
            killed = len(found) - len(survivors)
            totals[0] += killed
            totals[1] += len(found)
            rate = killed / len(found) if found else 1.0
            head = (f"{name} ({path}): {killed} of {len(found)} killed ({rate:.0%}), "
                    f"{time.monotonic() - started:.0f} s; tests: {' '.join(tests)}")
            print(head, flush=True)
            lines.append(f"- **{head}**")
            source_lines = original.splitlines()
            for s in survivors:
                code = source_lines[s.line - 1].strip() if 0 < s.line <= len(source_lines) else ""
                print(f"    survived: line {s.line}: {s.description}: {code}", flush=True)
                lines.append(f"  - survived: line {s.line}, {s.description}: `{code}`")
    total = f"all: {totals[0]} of {totals[1]} killed ({totals[0] / max(totals[1], 1):.0%})"
    print(total)
    lines.append(f"- **{total}**")
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
