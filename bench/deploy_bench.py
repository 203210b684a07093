"""Deploy cost against the size of the library: one process deployed into 10 and into 1,000 deployed ones.

The library is ``bench/data/engine_bench.bpmn`` copied under the ids ``bench_lib_0000`` ... (a start
event, six user tasks with forms, a script task, a gateway looping back, an end event), bulk-inserted as
published process versions into a fresh SQLite file database (WAL), as if deployed earlier. The process
deployed is the same diagram as ``bench_deploy`` with a call activity of ``bench_lib_0000`` before its
gateway, so the deploy also resolves and pins a called process from the library. Each repeat deploys a
new version of it (its name changes) through ``definitions.deploy``, exactly as ``aimsflow deploy``
and publishing do, then rolls back, so every repeat meets the same library; the library sizes take
turns, so other work on the machine slows them alike.

Prints the median time per library size, then the ratio of the largest to the smallest. Deploying one
process should cost the same whatever the library holds: the ratio should be close to 1.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import tempfile
import time
from pathlib import Path

from SpiffWorkflow.version import __version__ as spiff_version
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from engine.core import audit_trail, definitions
from engine.core.clock import FixedClock, parse_datetime
from engine.core.db import make_engine
from engine.core.models import Base, ProcessVersion
from engine.core.settings import EngineSettings

DATA = Path(__file__).resolve().parent / "data"
TEMPLATE = (DATA / "engine_bench.bpmn").read_text(encoding="utf-8")
SETTINGS = EngineSettings(processes_dir=DATA, forms_dir=DATA / "forms")
NOW = parse_datetime("2026-11-02T09:00:00Z")
CALLEE = "bench_lib_0000"

CALL = f"""<bpmn:callActivity id="call_lib" name="Call a library process" calledElement="{CALLEE}">
      <bpmn:incoming>f7</bpmn:incoming>
      <bpmn:outgoing>f7_call</bpmn:outgoing>
    </bpmn:callActivity>
    <bpmn:sequenceFlow id="f7" sourceRef="count_round" targetRef="call_lib" />
    <bpmn:sequenceFlow id="f7_call" sourceRef="call_lib" targetRef="gw" />"""


def library_process(n: int) -> str:
    return TEMPLATE.replace("engine_bench", f"bench_lib_{n:04d}")


def deployed_process(revision: int) -> definitions.SourceFile:
    """``bench_deploy``: the template calling ``bench_lib_0000`` before its gateway; ``revision`` in its name."""
    xml = (TEMPLATE.replace("engine_bench", "bench_deploy")
           .replace('<bpmn:sequenceFlow id="f7" sourceRef="count_round" targetRef="gw" />', CALL)
           .replace("<bpmn:incoming>f7</bpmn:incoming>\n      <bpmn:outgoing>f_back",
                    "<bpmn:incoming>f7_call</bpmn:incoming>\n      <bpmn:outgoing>f_back")
           .replace('name="Benchmark: 6 user tasks, one loop-back"', f'name="Deploy benchmark, revision {revision}"'))
    assert CALL.split("\n")[0] in xml and f"revision {revision}" in xml, "the template changed; update the benchmark"
    return definitions.SourceFile("bench_deploy.bpmn", xml.encode("utf-8"))


def build(path: Path, size: int) -> None:
    """A database at ``path`` whose library holds ``size`` published processes."""
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        audit_trail.ensure_head(session)
        rows = []
        for n in range(size):
            xml = library_process(n)
            rows.append({"process_id": f"bench_lib_{n:04d}", "version": 1, "name": f"Library process {n}",
                         "sha256": definitions.sha256_of(xml.encode(), {}, {}), "filename": f"bench_lib_{n:04d}.bpmn",
                         "bpmn_xml": xml, "forms": {}, "dependencies": {}, "status": "published",
                         "deployed_at": NOW})
        session.execute(insert(ProcessVersion), rows)
        session.commit()
    engine.dispose()


def deploy_once(engine: Engine, revision: int) -> float:
    """Seconds to deploy revision ``revision`` of ``bench_deploy`` (rolled back afterwards)."""
    definitions.clear_spec_cache()
    gc.collect()
    with Session(engine) as session:
        source = deployed_process(revision)
        started = time.perf_counter()
        [result] = definitions.deploy(session, [source], SETTINGS, FixedClock(NOW))
        elapsed = time.perf_counter() - started
        assert result.created and result.version.dependencies.keys() == {CALLEE}
        session.rollback()
    return elapsed


def measure(paths: dict[int, Path], repeats: int, warmup: int) -> dict[int, list[float]]:
    """Seconds per deploy for each library size; the sizes take turns, so a machine busy with other
    work slows them alike."""
    engines = {size: make_engine(f"sqlite:///{path}") for size, path in paths.items()}
    seconds: dict[int, list[float]] = {size: [] for size in paths}
    try:
        for n in range(warmup + repeats):
            for size, engine in engines.items():
                elapsed = deploy_once(engine, n)
                if n >= warmup:
                    seconds[size].append(elapsed)
    finally:
        for engine in engines.values():
            engine.dispose()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,1000",
                        help="library sizes, comma-separated (default 10,1000)")
    parser.add_argument("--repeats", type=int, default=9, help="timed deploys per size (default 9)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed deploys per size first (default 2)")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        parser.error("--sizes takes whole numbers separated by commas, e.g. 10,1000")
    if not sizes or min(sizes) < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error("sizes and --repeats must be at least 1, --warmup at least 0")
    print(f"SpiffWorkflow {spiff_version}, Python {platform.python_version()}, SQLite file (WAL); one process "
          f"deployed into a library of {' and '.join(str(s) for s in sizes)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="aimsflow-deploy-") as tmp:
        paths, built = {}, {}
        for size in sizes:
            paths[size] = Path(tmp) / f"library{size}.db"
            started = time.perf_counter()
            build(paths[size], size)
            built[size] = time.perf_counter() - started
        seconds = measure(paths, args.repeats, args.warmup)
    medians = {size: statistics.median(runs) for size, runs in seconds.items()}
    for size in sizes:
        runs = ", ".join(f"{s * 1000:.0f}" for s in seconds[size])
        print(f"library of {size:>5}: deploy one process: median {medians[size] * 1000:8.1f} ms  "
              f"(runs: {runs} ms; library loaded in {built[size]:.1f} s)", flush=True)
    smallest, largest = min(sizes), max(sizes)
    print(f"ratio {largest}/{smallest}: {medians[largest] / medians[smallest]:.2f}")
    return 0
