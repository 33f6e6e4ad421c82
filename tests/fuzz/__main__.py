"""Bounded fuzzing of every decoder of untrusted bytes: ``python -m tests.fuzz --seconds 20``, or a fixed
number of inputs per target: ``python -m tests.fuzz --runs 1000000`` (``make fuzz-long``).

Each ``tests/fuzz/targets_*.py`` module lists ``TARGETS``: functions taking ``bytes``. A target may
raise only the typed errors in its module's ``EXPECTED`` tuple; anything else, a crash or a hang
fails the run. Each target runs under atheris in its own process for its share of the time.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def discover() -> list[tuple[str, str]]:
    found = []
    for info in pkgutil.iter_modules([str(HERE)]):
        if info.name.startswith("targets_"):
            module = importlib.import_module(f"tests.fuzz.{info.name}")
            found.extend((info.name, target.__name__) for target in module.TARGETS)
    return found


def run_one(module_name: str, target_name: str, seconds: int, runs: int | None = None) -> None:
    import atheris

    module = importlib.import_module(f"tests.fuzz.{module_name}")
    target = getattr(module, target_name)
    expected = module.EXPECTED

    def one_input(data: bytes) -> None:
        with contextlib.suppress(*expected):
            target(data)

    corpus = [arg for arg in getattr(module, "SEEDS", {}).get(target_name, [])]
    budget = f"-runs={runs}" if runs else f"-max_total_time={seconds}"
    argv = [sys.argv[0], budget, "-timeout=5", "-rss_limit_mb=2048"]
    atheris.Setup(argv, one_input)
    for seed in corpus:
        one_input(seed)
    atheris.Fuzz()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20, help="total time budget for all targets")
    parser.add_argument("--runs", type=int, help="inputs per target instead of a time budget")
    parser.add_argument("--run", nargs=2, metavar=("MODULE", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_one(args.run[0], args.run[1], args.seconds, args.runs)
        return 0
    targets = discover()
    if not targets:
        print("fuzz: no targets found", file=sys.stderr)
        return 1
    share = max(2, args.seconds // len(targets))
    budget = ["--runs", str(args.runs)] if args.runs else ["--seconds", str(share)]
    failed = []
    total = 0
    for module_name, target_name in targets:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "tests.fuzz", *budget, "--run", module_name, target_name],
            capture_output=True,
            text=True,
            timeout=None if args.runs else share * 3 + 60,
            check=False,
        )
        took = time.monotonic() - started
        done = re.search(r"Done (\d+) runs", result.stderr)
        inputs = int(done.group(1)) if done else 0
        total += inputs
        status = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
        print(f"fuzz {module_name}.{target_name}: {status}, {inputs} inputs in {took:.1f}s", flush=True)
        if result.returncode != 0:
            failed.append(target_name)
            print(result.stderr[-4000:], file=sys.stderr)
    print(f"fuzz: {len(targets) - len(failed)} passed, {len(failed)} failed, {total} inputs")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
