"""Runs the benchmarks: `python -m bench [name ...]` prints one figures table per benchmark."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from typing import Final

from bench import (
    dli_client,
    history,
    languages,
    lookup,
    projects,
    slack_commands,
    takeover,
    watcher,
)
from bench.common import Benchmark, collect, format_table, machine_description, title

#: Every benchmark by name, run in this order. To add one, write a callable returning its rows
#: (sync or async; its docstring's first line is its title) and add it here.
BENCHMARKS: Final[dict[str, Benchmark]] = {
    "dli_client": dli_client.run,
    "lookup": lookup.run,
    "slack_commands": slack_commands.run,
    "watcher": watcher.run,
    "takeover": takeover.run,
    "projects": projects.run,
    "history": history.run,
    "languages": languages.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Run the benchmarks and print their figures."
    )
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"any of: {', '.join(BENCHMARKS)} (default: all)"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")

    print(machine_description(), flush=True)
    failed = []
    for name in args.names or list(BENCHMARKS):
        benchmark = BENCHMARKS[name]
        print(f"\n== {name}: {title(benchmark)}", flush=True)
        started = time.perf_counter()
        try:
            rows = collect(benchmark)
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        print(format_table(rows))
        print(f"({time.perf_counter() - started:.1f} s)", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
