"""Growth: one long-lived instance, a recurring review looping 400 times, saved and restored every step.

The process (``bench/data/growth_bench.bpmn``): a review (user task), a script task counting reviews, an
exclusive gateway back to the review. SpiffWorkflow keeps every task it ever ran, so without pruning
the stored state grows by a few tasks per loop and every save and restore gets slower; the engine prunes
the finished part of the task tree before it serializes (``engine.core.serializer.prune``).

The instance runs through the engine on a SQLite file, one committed ``services.complete_task`` per
review. Every ``--every`` reviews it prints the stored state's size and task count, and the time to
save (``serializer.dumps``) and to restore (``serializer.loads``, from the stored text) that state
(medians of a few repeats), and the median time of the whole use case over those reviews. The last line
compares the last and first rows (``growth last/first``: save+restore ms and bytes).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from engine.core import audit_trail, definitions, serializer, services
from engine.core.clock import SystemClock
from engine.core.db import make_engine
from engine.core.models import Base, ProcessInstance, RoleAssignment, User
from engine.core.runtime import Context
from engine.core.settings import EngineSettings
from engine.core.uow import transaction

DATA = Path(__file__).resolve().parent / "data"
BPMN = DATA / "growth_bench.bpmn"
PROCESS_ID = "growth_bench"


def ms(fn: object, repeats: int) -> float:
    """Median milliseconds of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench growth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--loops", type=int, default=400, help="reviews before the instance ends (default 400)")
    parser.add_argument("--every", type=int, default=50, help="print a row every N reviews (default 50)")
    parser.add_argument("--repeats", type=int, default=5, help="timed save/restore repeats per row (default 5)")
    parser.add_argument("--no-prune", action="store_true",
                        help="keep every finished task, as SpiffWorkflow does (the curve before pruning)")
    args = parser.parse_args(argv)
    if args.no_prune:
        serializer.prune = lambda workflow, keep=0: 0  # type: ignore[assignment,misc]
    if min(args.loops, args.every, args.repeats) < 1:
        parser.error("--loops, --every and --repeats must be at least 1")
    settings = EngineSettings(processes_dir=DATA, forms_dir=DATA / "forms")
    clock = SystemClock()
    print(f"growth bench: Python {platform.python_version()}, SQLite file (WAL); one instance, {args.loops} reviews; "
          f"{'no pruning' if args.no_prune else 'finished tasks pruned'}", flush=True)
    print(f"{'reviews':>7} {'state bytes':>12} {'tasks':>6} {'save ms':>8} {'restore ms':>10} "
          f"{'save+restore':>12} {'use case ms':>11}", flush=True)
    rows: list[tuple[int, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="aimsflow-growth-") as tmp:
        db = make_engine(f"sqlite:///{Path(tmp) / 'growth.db'}")
        Base.metadata.create_all(db)
        sessions = sessionmaker(db)
        with sessions() as session, transaction(session, clock):
            audit_trail.ensure_head(session)
            definitions.deploy(session, [definitions.SourceFile.read(BPMN)], settings, clock)
            user = User(email="bench.growth@example.org", name="Bench Growth", active=True, created_at=clock.now(),
                        role_rows=[RoleAssignment(role="process_owner")])
            session.add(user)
            session.flush()
            user_id = user.id
            outcome = services.start_process(Context(session, clock, settings), user, PROCESS_ID,
                                             {"reviews_done": 0, "reviews_wanted": args.loops})
            instance_id, task_id = outcome.instance.id, outcome.new_tasks[0].id
        step_ms: list[float] = []
        for done in range(1, args.loops + 1):
            started = time.perf_counter()
            with sessions() as session, transaction(session, clock):
                actor = session.get(User, user_id)
                assert actor is not None
                outcome = services.complete_task(Context(session, clock, settings), actor, task_id,
                                                 {"t1_value": done, "t1_approved": True, "t1_comment": "fine"})
                task_id = outcome.new_tasks[0].id if outcome.new_tasks else 0
                status = outcome.instance.status
            step_ms.append((time.perf_counter() - started) * 1000)
            if not task_id and done < args.loops:
                print(f"the instance stopped after review {done} ({status}): no next review was offered",
                      flush=True)
                return 1
            if done % args.every and done != args.loops:
                continue
            with sessions() as session:
                instance = session.get(ProcessInstance, instance_id)
                assert instance is not None
                state = instance.state
                specs = definitions.specs_for(session, instance.process_version, settings.default_lane_role)
            workflow = serializer.loads(state, specs)
            restore = ms(lambda s=state, p=specs: serializer.loads(s, p), args.repeats)  # type: ignore[misc]
            save = ms(lambda w=workflow: serializer.dumps(w), args.repeats)  # type: ignore[misc]
            tasks = len(json.loads(state)["tasks"])
            rows.append((done, len(state.encode()), save + restore))
            print(f"{done:>7} {len(state.encode()):>12,} {tasks:>6} {save:>8.2f} {restore:>10.2f} "
                  f"{save + restore:>12.2f} {statistics.median(step_ms):>11.2f}", flush=True)
            step_ms = []
        with sessions() as session:
            instance = session.get(ProcessInstance, instance_id)
            assert instance is not None and instance.status == "completed", instance and instance.status
        db.dispose()
    first, last = rows[0], rows[-1]
    print(f"growth last/first: save+restore {last[2] / first[2]:.2f}x, state {last[1] / first[1]:.2f}x "
          f"({first[0]} -> {last[0]} reviews)")
    return 0
