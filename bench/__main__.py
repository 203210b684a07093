"""``python -m bench NAME [options]``: run the benchmark NAME."""

from __future__ import annotations

import importlib
import sys

#: benchmark name -> module (inside this package) exposing ``main(argv) -> int``
BENCHMARKS = {
    "engine": ("engine_bench", "engine overhead: a whole flow through the engine on SQLite vs. SpiffWorkflow alone"),
    "deploy": ("deploy_bench", "deploy one process into a library of 10 and of 1,000 deployed ones; prints the ratio"),
    "sweep": ("sweep_bench", "one worker pass over 100,000 open tasks with 1,000 due, on SQLite (target < 1 s)"),
    "inbox": ("inbox_bench", "one user's inbox among 100,000 open tasks, exact tab counts (target < 20 ms)"),
    "growth": ("growth_bench", "one instance looping 400 times: stored state size, save and restore ms per step"),
    "http": ("http_bench", "the REST API in-process vs. the engine's services, 1 and 4 clients, SQLite and PostgreSQL"),
}


def usage() -> str:
    lines = ["usage: python -m bench NAME [options]   (python -m bench NAME --help for its options)", "",
             "benchmarks:"]
    lines += [f"  {name:<10} {about}" for name, (_, about) in BENCHMARKS.items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    from engine import aims

    aims.install()
    module = importlib.import_module(f"{__package__}.{BENCHMARKS[name][0]}")
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
