"""Engine overhead: one BPMN run N times (a) with SpiffWorkflow alone in memory, (b) through the engine.

The process (``bench/data/engine_bench.bpmn``): start, six sequential user tasks, a script task counting
rounds, an exclusive gateway looping back to the first task while ``rounds_done < rounds_wanted``; with
two rounds that is 12 user-task completions per instance, each with a 3-key dict of form data.

(a) bare: SpiffBpmnParser, spec parsed once, ``BpmnWorkflow``; per user task ``task.data.update``,
    ``task.run()``, ``do_engine_steps()``, then the stock serializer (spec included) saves the workflow
    (``serialize_json``): the issue's and DESIGN.md's baseline, "serializing after every task".
    For reference (a+r) also restores it after every task (``deserialize_json``), the round trip of
    SPIFFWORKFLOW.md §9 (b), which any engine that persists between human steps must pay unless it
    keeps workflows in memory as this engine does.
(b) engine: SQLite file database (WAL) in a temporary folder; ``services.start_process`` and
    ``services.complete_task`` as the CLI and the web call them: a fresh session, the acting user loaded,
    one transaction per use case, committed. The next task id comes from ``Outcome.new_tasks``.

Both are warmed up, then timed with ``time.perf_counter`` over several repeats; medians are reported. The modes
take turns within each repeat ((a), (a+r), (b), then again), so a machine whose speed drifts during the run
(a shared virtual machine does) slows them alike and the ratios compare like with like.
After the timings, one more untimed engine instance records the SQL statements sent (SQLAlchemy's
``before_cursor_execute``, ``BEGIN`` included): ``SQL statements per use case`` (a start or a completion).
(f) the floor of this design: that instance's statements and commits, recorded as SQLAlchemy hands them to
    ``sqlite3`` (parameters already converted), replayed with ``sqlite3`` alone on a copy of the database as it
    was before the instance (same pragmas, fresh copy per repeat; each replay in turn with one (a) instance,
    whose median is the floor ratio's bare): what the storage costs with no Python of
    ours or SQLAlchemy's around it; then again on a copy without the indexes of the tables it writes that
    its own reads do not use (what fewer indexes could save at most: the inbox, the worker and the pages need
    them). ``ratio floor (bare + SQL alone)/bare`` is the best ``ratio engine/bare`` these statements allow.
The last line is ``ratio engine/bare: X.XX`` (time per instance, engine divided by (a)); the line before
it gives the same ratio against (a+r).
DESIGN.md's target: at most 2.0.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import platform
import pstats
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from SpiffWorkflow.version import __version__ as spiff_version
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.core import audit_trail, definitions, directory, services
from engine.core.clock import Clock, SystemClock
from engine.core.db import make_engine
from engine.core.models import Base, ProcessInstance, RoleAssignment, User
from engine.core.runtime import Context
from engine.core.settings import EngineSettings
from engine.core.uow import transaction

DATA = Path(__file__).resolve().parent / "data"
BPMN = DATA / "engine_bench.bpmn"
PROCESS_ID = "engine_bench"
ROLE = "process_owner"
ROUNDS = 2
USER_TASKS = 6 * ROUNDS
EMAIL = "bench.owner@example.org"

DEFAULT_INSTANCES = 50
DEFAULT_REPEATS = 5


def seed(db: Engine, settings: EngineSettings, clock: Clock, email: str, name: str) -> int:
    """The tables on ``db``, the audit chain's head, the bench process deployed and one user holding its
    lanes' role, committed; returns the user's id (the engine and HTTP benches start from this)."""
    Base.metadata.create_all(db)
    with Session(db) as session, transaction(session, clock):
        audit_trail.ensure_head(session)
        definitions.deploy(session, [definitions.SourceFile.read(BPMN)], settings, clock)
        user = User(email=email, name=name, active=True, created_at=clock.now(), role_rows=[RoleAssignment(role=ROLE)])
        session.add(user)
        session.flush()
        return user.id


def form_data(spec_name: str, round_no: int) -> dict[str, Any]:
    """The 3-key submission for user task ``spec_name`` (t1..t6), the same in both modes."""
    return {f"{spec_name}_value": len(spec_name) * 7 + round_no, f"{spec_name}_comment": "looks fine",
            f"{spec_name}_approved": True}


def start_data() -> dict[str, Any]:
    return {"rounds_done": 0, "rounds_wanted": ROUNDS}


# --------------------------------------------------------------------------- (a) SpiffWorkflow alone

class Bare:
    """SpiffWorkflow alone: parsed once, stock serializer after every user task (and, with
    ``round_trip``, the workflow restored from that JSON before the next task)."""

    def __init__(self, round_trip: bool = True) -> None:
        self.round_trip = round_trip
        parser = SpiffBpmnParser()
        parser.add_bpmn_file(str(BPMN))
        self.spec = parser.get_spec(PROCESS_ID)
        self.subprocess_specs = parser.get_subprocess_specs(PROCESS_ID)
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        self.size = 0

    def run_instance(self) -> None:
        wf = BpmnWorkflow(self.spec, self.subprocess_specs)
        wf.task_tree.data.update(start_data())
        wf.do_engine_steps()
        completed = 0
        state = ""
        while not wf.is_completed():
            task = wf.get_next_task(state=TaskState.READY, manual=True)
            task.data.update(form_data(task.task_spec.name, task.data["rounds_done"]))
            task.run()
            wf.do_engine_steps()
            state = self.serializer.serialize_json(wf)
            if self.round_trip:
                wf = self.serializer.deserialize_json(state)
            completed += 1
        assert completed == USER_TASKS and wf.data["rounds_done"] == ROUNDS, (completed, wf.data)
        self.size = len(state.encode())


# --------------------------------------------------------------------------- (b) through the engine

class ThroughEngine:
    """The engine's use cases on a SQLite file database, one committed transaction per call."""

    def __init__(self, folder: Path) -> None:
        self.settings = EngineSettings(processes_dir=DATA, forms_dir=DATA / "forms")
        self.clock = SystemClock()
        self.path = folder / "bench.db"
        self.db = make_engine(f"sqlite:///{self.path}")
        self.sessions = sessionmaker(self.db)
        self.user_id = seed(self.db, self.settings, self.clock, EMAIL, "Bench Owner")
        self.size = 0
        self.last_instance_id = 0

    def _call(self, use_case: Callable[[Context, User], services.Outcome]) -> tuple[int, list[tuple[int, str]]]:
        """One use case as a web request or CLI command runs it: new session, load the user, commit."""
        with self.sessions() as session, transaction(session, self.clock):
            user = directory.user_by_id(session, self.user_id)
            outcome = use_case(Context(session, self.clock, self.settings), user)
            result = outcome.instance.id, [(t.id, t.task_spec) for t in outcome.new_tasks]
        return result

    def run_instance(self) -> None:
        instance_id, new = self._call(lambda ctx, user: services.start_process(ctx, user, PROCESS_ID, start_data()))
        completed = 0
        while new:
            (task_id, spec_name), = new
            round_no = completed // 6
            _, new = self._call(lambda ctx, user, t=task_id, s=spec_name, r=round_no:
                                services.complete_task(ctx, user, t, form_data(s, r)))
            completed += 1
        assert completed == USER_TASKS, completed
        self.last_instance_id = instance_id

    def sql_floor(self, repeats: int, bare: Callable[[], None]) -> Floor:
        """(f): one more instance's SQL recorded (its statements, ``BEGIN`` included, are the bench's count),
        then replayed with ``sqlite3`` alone on copies of the database as it was before (median of ``repeats``),
        as is and without the indexes of :data:`_SECONDARY_INDEXES`; each replay in turn with one ``bare``
        instance, timed too. Raises RuntimeError when a replay does not
        leave the database as the engine did."""
        self.db.dispose()  # the pool's connections closed: the last one checkpoints the log into the file
        snapshot = self.path.with_name("floor-snapshot.db")
        shutil.copy(self.path, snapshot)
        recorded: list[tuple[str, Any, bool]] = []

        def statement(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
            recorded.append((sql, params, many))

        def commit(_conn: Any) -> None:
            recorded.append(("COMMIT", (), False))

        event.listen(self.db, "before_cursor_execute", statement)
        event.listen(self.db, "commit", commit)
        try:
            self.run_instance()
        finally:
            event.remove(self.db, "before_cursor_execute", statement)
            event.remove(self.db, "commit", commit)
        with self.db.connect() as conn:
            engine_made = _fingerprint(conn.connection.driver_connection)
        bare_seconds: list[float] = []

        def one_bare() -> None:
            t0 = time.perf_counter()
            bare()
            bare_seconds.append(time.perf_counter() - t0)

        timed = self._replay(snapshot, recorded, repeats, engine_made, one_bare)
        with closing(sqlite3.connect(snapshot, isolation_level=None)) as conn:
            for (name,) in conn.execute(_SECONDARY_INDEXES).fetchall():
                conn.execute(f'DROP INDEX "{name}"')
            conn.execute("VACUUM")
        commits = sum(1 for sql, _, _ in recorded if sql == "COMMIT")
        without = self._replay(snapshot, recorded, repeats, engine_made, one_bare)
        return Floor(timed, without, statistics.median(bare_seconds), len(recorded) - commits, commits)

    def _replay(self, snapshot: Path, recorded: list[tuple[str, Any, bool]], repeats: int,
                engine_made: tuple[Any, ...], between: Callable[[], None]) -> float:
        copy = self.path.with_name("floor-replay.db")
        seconds = []
        for _ in range(repeats):
            between()
            for leftover in (copy, copy.with_name(copy.name + "-wal"), copy.with_name(copy.name + "-shm")):
                leftover.unlink(missing_ok=True)
            shutil.copy(snapshot, copy)
            with closing(sqlite3.connect(copy, isolation_level=None)) as conn:
                for pragma in ("busy_timeout = 30000", "journal_mode = WAL", "synchronous = NORMAL",
                               "foreign_keys = ON"):
                    conn.execute(f"PRAGMA {pragma}")
                t0 = time.perf_counter()
                for sql, params, many in recorded:
                    if many:
                        conn.executemany(sql, params)
                    else:
                        conn.execute(sql, params).fetchall()
                seconds.append(time.perf_counter() - t0)
                replayed = _fingerprint(conn)
            if replayed != engine_made:  # the replay must have done the engine's work, not less of it
                raise RuntimeError(f"the replay left {replayed}, the engine {engine_made}")
        return statistics.median(seconds)

    def finished_state_size(self) -> int:
        with self.sessions() as session:
            instance = session.get(ProcessInstance, self.last_instance_id)
            assert instance is not None and instance.status == "completed", instance and instance.status
            return len(instance.state.encode())

    def close(self) -> None:
        self.db.dispose()


@dataclass
class Floor:
    """(f): seconds per instance to replay the engine's SQL with ``sqlite3`` alone, as is and without the
    indexes its reads do not use; statements (``BEGIN`` included) and commits per instance."""
    seconds: float
    without_indexes: float
    bare: float  # seconds per (a) instance, timed in turn with the replays
    statements: int
    commits: int


#: the indexes a use case keeps up to date besides the tables' own keys (primary and unique), but for the one its
#: reads use (an instance's task rows); the inbox, the worker and the pages need them, the use case does not
_SECONDARY_INDEXES = ("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
                      "('process_instance', 'human_task', 'notification', 'outbox_message', 'audit_event') "
                      "AND name != 'ix_human_task_instance_id'")


def _fingerprint(conn: Any) -> tuple[Any, ...]:
    """What a run leaves in the database: the audit chain's head, the task rows by state, the outbox and
    the instances' versions."""
    return (conn.execute("SELECT seq, hash FROM audit_head").fetchall(),
            conn.execute("SELECT state, count(*) FROM human_task GROUP BY state ORDER BY state").fetchall(),
            conn.execute("SELECT count(*) FROM outbox_message").fetchall(),
            conn.execute("SELECT sum(version), count(*) FROM process_instance").fetchall())


# --------------------------------------------------------------------------- timing

@dataclass
class Result:
    seconds: list[float]  # per repeat, for all instances
    cpu: list[float]
    instances: int

    @property
    def per_instance(self) -> float:
        return statistics.median(self.seconds) / self.instances

    def line(self, label: str, size: int) -> str:
        med = self.per_instance
        cpu = statistics.median(self.cpu) / self.instances
        runs = ", ".join(f"{self.instances / s:.1f}" for s in self.seconds)
        return (f"{label}: {1 / med:8.1f} instances/s  {USER_TASKS / med:8.1f} completions/s  "
                f"{med * 1000:7.2f} ms/instance  (cpu {cpu * 1000:.2f} ms; runs: {runs} inst/s)  "
                f"finished state {size} B")


def measure(runs: list[Callable[[], None]], instances: int, repeats: int, warmup: int) -> list[Result]:
    """Each of ``runs`` warmed up, then timed ``repeats`` times, taking turns within each repeat."""
    for run_instance in runs:
        for _ in range(warmup):
            run_instance()
    results = [Result([], [], instances) for _ in runs]
    for _ in range(repeats):
        for run_instance, result in zip(runs, results, strict=True):
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(instances):
                run_instance()
            result.seconds.append(time.perf_counter() - t0)
            result.cpu.append(time.process_time() - c0)
    return results


def profile(engine: ThroughEngine, instances: int, limit: int) -> str:
    """cProfile over ``instances`` engine runs: the engine's own functions by cumulative time, then the
    hottest functions anywhere by own time (cProfile roughly doubles the run time; read shares, not ms)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(instances):
        engine.run_instance()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(tt for _, _, tt, _, _ in stats.stats.values())  # type: ignore[attr-defined]
    rows = []
    for (path, line, name), (_, calls, own, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        short = path.split("site-packages/")[-1] if "site-packages/" in path else \
            f"{Path(path).parent.name}/{Path(path).name}"
        rows.append((cum, own, calls, f"{short}:{line}({name})", path))
    out = io.StringIO()
    out.write(f"{instances} instances, {total:.2f} s under cProfile ({total / instances * 1000:.1f} ms/instance)\n")
    out.write("engine functions by cumulative time:\n  share  ms/inst  calls/inst  function\n")
    engine_dir = str(Path(audit_trail.__file__).resolve().parent)
    for cum, _, calls, label, _ in sorted((r for r in rows if r[4].startswith(engine_dir)), reverse=True)[:limit]:
        out.write(f"  {cum / total:5.1%}  {cum / instances * 1000:7.2f}  {calls / instances:10.1f}  {label}\n")
    out.write("hottest functions by own time:\n  share  ms/inst  calls/inst  function\n")
    for _, own, calls, label, _ in sorted(rows, key=lambda r: -r[1])[:limit]:
        out.write(f"  {own / total:5.1%}  {own / instances * 1000:7.2f}  {calls / instances:10.1f}  {label}\n")
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench engine", description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=DEFAULT_INSTANCES,
                        help=f"instances per repeat (default {DEFAULT_INSTANCES})")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                        help=f"timed repeats; medians are reported (default {DEFAULT_REPEATS})")
    parser.add_argument("--warmup", type=int, default=5, help="untimed instances first (default 5)")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="instead of timing, run N engine instances under cProfile and print the top functions")
    args = parser.parse_args(argv)
    if args.instances < 1 or args.repeats < 1:
        parser.error("--instances and --repeats must be at least 1")

    with tempfile.TemporaryDirectory(prefix="aimsflow-bench-") as tmp:
        engine = ThroughEngine(Path(tmp))
        try:
            if args.profile:
                for _ in range(args.warmup):
                    engine.run_instance()
                print(profile(engine, args.profile, 25))
                return 0
            print(f"SpiffWorkflow {spiff_version}, Python {platform.python_version()}, SQLite file (WAL); "
                  f"{args.instances} instances x {args.repeats} repeats, {USER_TASKS} user tasks per instance",
                  flush=True)
            bare, bare_rt = Bare(round_trip=False), Bare(round_trip=True)
            a, art, b = measure([bare.run_instance, bare_rt.run_instance, engine.run_instance], args.instances,
                                args.repeats, args.warmup)
            print(a.line("(a)   bare, serialize          ", bare.size), flush=True)
            print(art.line("(a+r) bare, serialize + restore", bare_rt.size), flush=True)
            print(b.line("(b)   engine on SQLite         ", engine.finished_state_size()), flush=True)
            floor = engine.sql_floor(max(args.repeats, 10), bare.run_instance)
            print(f"SQL statements per use case: {floor.statements / (1 + USER_TASKS):.1f}", flush=True)
            print(f"(f)   the same SQL, sqlite3 alone: {floor.seconds * 1000:7.2f} ms/instance ({floor.statements} "
                  f"statements and {floor.commits} commits); without the indexes it does not read: "
                  f"{floor.without_indexes * 1000:.2f} ms; (a) in turn with them: {floor.bare * 1000:.2f} ms",
                  flush=True)
        finally:
            engine.close()
    print(f"ratio floor (bare + SQL alone)/bare: {(floor.bare + floor.seconds) / floor.bare:.2f} "
          f"(without those indexes {(floor.bare + floor.without_indexes) / floor.bare:.2f})")
    print(f"ratio engine/bare (serialize + restore): {b.per_instance / art.per_instance:.2f}")
    print(f"ratio engine/bare: {b.per_instance / a.per_instance:.2f}")
    return 0
