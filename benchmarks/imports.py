"""Import cost of each layer, in fresh processes: the worlds must import fast and without
torch (they serve the PettingZoo API alone); the command line loads the whole stack.

    python -m socius.benchmarks.imports --repeats 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PROBE = ("import sys, time; start = time.perf_counter(); import {module}; "
         "print(time.perf_counter() - start, 'torch' in sys.modules)")
MODULES = ("socius.envs", "socius.agents.modules", "socius.societies.cli")


def import_seconds(module: str, repeats: int) -> tuple[float, bool]:
    """Median wall time of ``import module`` over fresh interpreters, and whether it
    loaded torch."""
    times, torch_loaded = [], False
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", PROBE.format(module=module)],
                              capture_output=True, text=True, check=True)
        seconds, loaded = done.stdout.split()
        times.append(float(seconds))
        torch_loaded = loaded == "True"
    return statistics.median(times), torch_loaded


def main() -> None:
    """Print one JSON line per module: median seconds and whether torch came along."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for module in MODULES:
        seconds, torch_loaded = import_seconds(module, args.repeats)
        print(json.dumps({"module": module, "median_seconds": round(seconds, 3),
                          "loads_torch": torch_loaded, "repeats": args.repeats}))


if __name__ == "__main__":
    main()
