"""A/B: the same bench/run.py workloads on two source trees, alternated in one run.

    python bench/ab.py /tmp/after/src                  # A = /tmp/base/src (before), B = given
    python bench/ab.py /tmp/base/src --rounds 5        # A/A: the machine's noise
    python bench/ab.py B/src --a A/src --workloads chain roundtrip

Each workload runs as a subprocess of this interpreter with PYTHONPATH set to the tree
(checked first: `interlock.__file__` must come from the tree, not from an editable install),
A B, B A, A B, ... for `--rounds` rounds, so that the machine's drift falls on both trees
alike. Only this file's sibling bench/run.py is used, for both trees. Per row of the run.py
table it prints the median of interlock's column for A and for B, B/A, and the same ratio
for LangGraph's column: LangGraph is the same code in both subprocesses, so its B/A is the
noise of that pairing; "paired" is the median (and range) of B/A within each round's
adjacent pair. A row whose B/A is over `--threshold` (default 1.10) is flagged.

`--calls` first compares what cannot be noisy: Python function calls and SQL statements per
operation of the hot workloads, counted by cProfile (bench/calls.py) on each tree.

`--clock cpu` times the in-process workloads by the benchmark process's CPU time instead of
the wall clock (bench/run.py --clock cpu), which other processes on a busy machine do not
inflate; `--clock both` runs every workload both ways.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RUN = Path(__file__).resolve().parent / "run.py"
CALLS = Path(__file__).resolve().parent / "calls.py"
DSN = "postgresql://postgres@127.0.0.1:5432/test"

# name -> extra arguments of bench/run.py; "pg" workloads need --postgres
WORKLOADS: dict[str, list[str]] = {
    "chain": ["--only", "chain"],
    "roundtrip": ["--only", "roundtrip"],
    "roundtrip-pg": ["--only", "roundtrip", "--postgres", "{dsn}"],
    "getstate": ["--only", "getstate"],
    "import": ["--only", "import"],
    "thread400": ["--only", "thread400"],
    "flushes-pg": ["--only", "flushes", "--postgres", "{dsn}"],
}
DEFAULT = ["chain", "roundtrip", "roundtrip-pg", "getstate", "import"]

_ROW = re.compile(
    r"^(?P<name>.+?)\s+(?P<ours>-?[0-9.]+(?:e[-+]?[0-9]+)?|nan)\s+"
    r"(?P<theirs>-?[0-9.]+(?:e[-+]?[0-9]+)?|nan)\s+(?P<unit>\S*)\s+(?P<ratio>\S+)x$"
)


@dataclass
class Row:
    """Samples of one table row, per tree: interlock's and LangGraph's columns."""

    unit: str
    ours: dict[str, list[float]] = field(default_factory=lambda: {"A": [], "B": []})
    theirs: dict[str, list[float]] = field(default_factory=lambda: {"A": [], "B": []})


def parse(stdout: str) -> dict[str, tuple[str, float, float]]:
    """The rows of a bench/run.py table: name -> (unit, interlock, LangGraph)."""
    out = {}
    for line in stdout.splitlines():
        m = _ROW.match(line.rstrip())
        if m:
            out[m["name"].strip()] = (m["unit"], float(m["ours"]), float(m["theirs"]))
    return out


def tree_env(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src)
    return env


def check_tree(src: Path, tmp: str) -> str:
    """Fail unless `import interlock` under PYTHONPATH=src loads the tree's copy; compiles
    the tree's bytecode so that neither side pays for it inside a measurement."""
    code = "import interlock; print(interlock.__file__)"
    found = subprocess.run(
        [sys.executable, "-c", code],
        env=tree_env(src),
        cwd=tmp,  # an empty directory: nothing in the working directory shadows a module
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(src.resolve()):
        sys.exit(f"PYTHONPATH={src} does not win: interlock comes from {found}")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True)
    return found


def run_once(src: Path, args: list[str], tmp: str) -> dict[str, tuple[str, float, float]]:
    proc = subprocess.run(
        [sys.executable, str(RUN), *args],
        env=tree_env(src),
        cwd=tmp,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(f"bench/run.py {' '.join(args)} failed on {src}:\n{proc.stderr[-3000:]}")
    rows = parse(proc.stdout)
    if not rows:
        sys.exit(f"no table rows in the output of bench/run.py {' '.join(args)}:\n{proc.stdout}")
    return rows


def compare_calls(trees: dict[str, Path], dsn: str, tmp: str) -> None:
    """bench/calls.py on each tree, side by side."""
    found: dict[str, dict[str, tuple[float, float]]] = {}
    for side, src in trees.items():
        out = subprocess.run(
            [sys.executable, str(CALLS), "--postgres", dsn],
            env=tree_env(src),
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            sys.exit(f"bench/calls.py failed on {src}:\n{out.stderr[-3000:]}")
        found[side] = {}
        for line in out.stdout.splitlines():
            parts = line.rsplit(maxsplit=3)
            if len(parts) == 4 and parts[3] == "calls":
                found[side][parts[0].strip()] = (float(parts[1]), float(parts[2]))
    print(
        f"{'operation (counts)':<44} {'A calls':>9} {'B calls':>9} {'B/A':>6} "
        f"{'A stmts':>8} {'B stmts':>8}"
    )
    for name, (calls, stmts) in found["A"].items():
        b_calls, b_stmts = found["B"].get(name, (math.nan, math.nan))
        print(
            f"{name:<44} {calls:>9.1f} {b_calls:>9.1f} {b_calls / calls:>6.3f} "
            f"{stmts:>8.2f} {b_stmts:>8.2f}"
        )
    print(flush=True)


def ratio(b: list[float], a: list[float]) -> float:
    if not a or not b:
        return math.nan
    ma = statistics.median(a)
    return statistics.median(b) / ma if ma else math.nan


def paired(b: list[float], a: list[float]) -> tuple[float, float, float]:
    """Median, min and max of B/A within each round's pair."""
    rs = [y / x for x, y in zip(a, b, strict=True) if x]
    if not rs:
        return math.nan, math.nan, math.nan
    return statistics.median(rs), min(rs), max(rs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("b", type=Path, help="B: the src/ directory of the tree after")
    parser.add_argument("--a", type=Path, default=Path("/tmp/base/src"), help="A: before")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--workloads", nargs="+", default=DEFAULT, choices=list(WORKLOADS), metavar="W"
    )
    parser.add_argument("--postgres", default=DSN, help="DSN of the *-pg workloads")
    parser.add_argument("--threshold", type=float, default=1.10)
    parser.add_argument("--clock", choices=("wall", "cpu", "both"), default="wall")
    parser.add_argument("--calls", action="store_true", help="first compare call counts")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args()

    trees = {"A": args.a, "B": args.b}
    with tempfile.TemporaryDirectory() as tmp:
        for side, src in trees.items():
            print(f"{side} = {src}  (interlock from {check_tree(src, tmp)})", flush=True)
        if args.calls:
            compare_calls(trees, args.postgres, tmp)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {args.rounds} rounds, "
        f"workloads: {' '.join(args.workloads)}",
        flush=True,
    )
    clocks = ("wall", "cpu") if args.clock == "both" else (args.clock,)
    jobs = [
        (w if clock == "wall" else f"{w}/cpu", [*WORKLOADS[w], "--clock", clock])
        for w in args.workloads
        for clock in clocks
    ]
    rows: dict[tuple[str, str], Row] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            for w, template in jobs:
                cmd = [a.format(dsn=args.postgres) for a in template]
                for side in ("A", "B") if i % 2 == 0 else ("B", "A"):
                    for name, (unit, ours, theirs) in run_once(trees[side], cmd, tmp).items():
                        row = rows.setdefault((w, name), Row(unit))
                        row.ours[side].append(ours)
                        row.theirs[side].append(theirs)
            print(
                f"round {i + 1}/{args.rounds} done ({time.monotonic() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    head = (
        f"{'workload':<16} {'row':<44} {'unit':<5} {'A med':>10} {'B med':>10} {'B/A':>6} "
        f"{'paired [min-max]':>18} {'LG B/A':>7} {'A vs LG':>7} {'B vs LG':>7}"
    )
    print(head)
    flagged = []
    lines = []
    for (w, name), r in rows.items():
        ba = ratio(r.ours["B"], r.ours["A"])
        lg = ratio(r.theirs["B"], r.theirs["A"])
        flag = ba > args.threshold
        if flag:
            flagged.append(f"{w}: {name}")
        a_med, b_med = statistics.median(r.ours["A"]), statistics.median(r.ours["B"])
        pm, plo, phi = paired(r.ours["B"], r.ours["A"])
        pair = f"{pm:.2f} [{plo:.2f}-{phi:.2f}]"
        # LangGraph / interlock on each side: the run.py "better" column, from the medians
        vs = [ratio(r.theirs[x], r.ours[x]) for x in ("A", "B")]
        print(
            f"{w:<16} {name:<44} {r.unit:<5} {a_med:>10.4g} {b_med:>10.4g} {ba:>6.3f} "
            f"{pair:>18} {lg:>7.3f} {vs[0]:>6.1f}x {vs[1]:>6.1f}x" + ("  <-- over" if flag else "")
        )
        lines.append(
            f"| {w} | {name.strip()} | {r.unit} | {a_med:.4g} | {b_med:.4g} | "
            f"{'**' if flag else ''}{ba:.3f}{'**' if flag else ''} | {pair} | {lg:.3f} | "
            f"{vs[0]:.1f}x / {vs[1]:.1f}x |"
        )
    if args.markdown:
        print()
        print(
            "| workload | row | unit | A median | B median | B/A | paired [min-max] "
            "| LangGraph B/A | vs LangGraph A / B |"
        )
        print("|---|---|---|---:|---:|---:|---:|---:|---:|")
        print("\n".join(lines))
    print()
    if flagged:
        print(f"over {args.threshold:.2f}: " + "; ".join(flagged))
    else:
        print(f"no row over {args.threshold:.2f}")


if __name__ == "__main__":
    main()
