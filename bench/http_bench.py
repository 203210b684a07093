"""HTTP: the REST API driven in-process, against the engine's services alone, with 1 and 4 clients.

The process is the engine bench's (``bench/data/engine_bench.bpmn``: six sequential user tasks looping
twice, 12 completions per instance). Per database (a fresh SQLite file; PostgreSQL too when
``--pg`` / ``AIMSFLOW_BENCH_PG_URL`` is reachable, in a schema of its own dropped afterwards):

* **engine**: per step what an API view does without HTTP: a fresh session, the user loaded,
  ``services.start_process`` or ``worklist.submit``, commit;
* **http**: ``POST /api/v1/instances`` then ``POST /api/v1/tasks/<id>/complete`` twelve times through
  Flask's test client (the whole app: routing, token check, marshmallow, JSON), with an API token;
* **reads**: ``GET /api/v1/tasks/<id>`` (a task with its form) by clients that only read, alone and
  while as many clients complete tasks, which shows whether reads queue behind writers;
* **gunicorn** (PostgreSQL only): the same flows over real HTTP against ``gunicorn 'web:create_app()'``
  with ``--workers`` worker processes (default 4), so 4 clients use several processes and both cores.

Each configuration runs in threads, one client per thread (Python threads share one interpreter, so 4
clients add concurrency at the database, not CPU). Printed: instances/s per configuration,
``ratio http/engine`` per client count (the HTTP layer's overhead; aim at most 1.3), ``ratio
gunicorn/engine`` and how many times faster gunicorn serves 4 clients than 1, SQL statements per
request kind, and the database growth per 1,000 instances (bytes, rows and bytes of the biggest tables).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from engine.app import accounts, worklist
from engine.core import directory, services
from engine.core.clock import SystemClock
from engine.core.models import User
from engine.core.runtime import Context
from engine.core.uow import transaction

from .engine_bench import DATA, PROCESS_ID, USER_TASKS, form_data, seed, start_data
from .inbox_bench import database

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
EMAIL = "bench.http@example.org"
CLIENTS = (1, 4)

#: one step of an instance: (task id, task spec) of the next task, or None when the instance ended
Next = tuple[int, str] | None


def pg_url(given: str | None) -> str | None:
    """The PostgreSQL URL to use, or None when it cannot be reached."""
    url = given or os.environ.get("AIMSFLOW_BENCH_PG_URL") or PG_URL
    try:
        probe = create_engine(url, connect_args={"connect_timeout": 3})
        with probe.connect():
            pass
        probe.dispose()
    except Exception as exc:  # noqa: BLE001 (any failure means: no PostgreSQL here)
        print(f"PostgreSQL at {url.split('@')[-1]} not reachable ({type(exc).__name__}): skipped", flush=True)
        return None
    return url


class Setup:
    """The app on ``url`` with the bench process deployed, one user holding the lanes' role, a token."""

    def __init__(self, url: str, folder: Path) -> None:
        from web import create_app
        from web.extensions import db

        self.clock = SystemClock()
        self.app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "CLOCK": self.clock,
                               "PROCESSES_DIR": str(DATA), "FORMS_DIR": str(DATA / "forms"),
                               "EVIDENCE_DIR": str(folder / "evidence"), "SERVER_NAME": "localhost"})
        with self.app.app_context():
            self.engine: Engine = db.engine
        self.settings = self.app.extensions["aimsflow.settings"]
        self.sessions = sessionmaker(self.engine)
        self.user_id = seed(self.engine, self.settings, self.clock, EMAIL, "Bench Http")
        with self.sessions() as session, transaction(session, self.clock):
            user = session.get(User, self.user_id)
            assert user is not None
            _, self.token = accounts.create_token(session, self.clock, user, "bench")

    def close(self) -> None:
        from web.extensions import db

        with self.app.app_context():
            db.session.remove()
        self.engine.dispose()


# --------------------------------------------------------------------------- the two drivers

def _next(new_tasks: list[Any]) -> Next:
    if not new_tasks:
        return None
    (task,) = new_tasks
    return (task["id"], task["task_spec"]) if isinstance(task, dict) else (task.id, task.task_spec)


class EngineDriver:
    """The engine's services as an API view calls them, without HTTP."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup

    def _call(self, use_case: Callable[[Context, User], services.Outcome]) -> Next:
        s = self.setup
        with s.sessions() as session, transaction(session, s.clock):
            user = directory.user_by_id(session, s.user_id)
            return _next(use_case(Context(session, s.clock, s.settings), user).new_tasks)

    def start(self) -> Next:
        return self._call(lambda ctx, user: services.start_process(ctx, user, PROCESS_ID, start_data()))

    def complete(self, task_id: int, data: dict[str, Any]) -> Next:
        return self._call(lambda ctx, user: worklist.submit(ctx, user, task_id, data))


class HttpDriver:
    """The REST API through Flask's test client (one client per thread)."""

    def __init__(self, setup: Setup) -> None:
        self.client = setup.app.test_client()
        self.headers = {"Authorization": f"Bearer {setup.token}"}

    def _post(self, url: str, body: dict[str, Any], status: int) -> Next:
        response = self.client.post(f"/api/v1{url}", json=body, headers=self.headers)
        assert response.status_code == status, (url, response.status_code, response.get_data(as_text=True)[:300])
        return _next(response.get_json()["new_tasks"])

    def start(self) -> Next:
        return self._post("/instances", {"process_id": PROCESS_ID, "data": start_data()}, 201)

    def complete(self, task_id: int, data: dict[str, Any]) -> Next:
        return self._post(f"/tasks/{task_id}/complete", {"data": data}, 200)

    def read(self, task_id: int) -> None:
        response = self.client.get(f"/api/v1/tasks/{task_id}", headers=self.headers)
        assert response.status_code == 200, response.status_code


class RemoteDriver:
    """The REST API over real HTTP (a new connection per request, as gunicorn's sync workers close each)."""

    def __init__(self, server: Gunicorn, token: str) -> None:
        self.port = server.port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def _post(self, url: str, body: dict[str, Any], status: int) -> Next:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("POST", f"/api/v1{url}", body=json.dumps(body), headers=self.headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        assert response.status == status, (url, response.status, text[:300])
        return _next(json.loads(text)["new_tasks"])

    def start(self) -> Next:
        return self._post("/instances", {"process_id": PROCESS_ID, "data": start_data()}, 201)

    def complete(self, task_id: int, data: dict[str, Any]) -> Next:
        return self._post(f"/tasks/{task_id}/complete", {"data": data}, 200)


class Gunicorn:
    """``gunicorn 'web:create_app()'`` as the README runs it in production, with ``workers`` sync workers on
    a free loopback port, serving the bench's database and process (configured through ``AIMSFLOW_``
    variables)."""

    def __init__(self, url: str, folder: Path, workers: int) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {**os.environ, "AIMSFLOW_DATABASE_URL": url, "AIMSFLOW_SECRET_KEY": "bench" * 13,
               "AIMSFLOW_PROCESSES_DIR": str(DATA), "AIMSFLOW_FORMS_DIR": str(DATA / "forms"),
               "AIMSFLOW_EVIDENCE_DIR": str(folder / "evidence")}
        env.pop("GUNICORN_CMD_ARGS", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
             "--log-level", "warning", "web:create_app()"],
            env=env, cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        deadline = time.monotonic() + 90
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"gunicorn did not start: {self.output[-2000:]}") from None
                time.sleep(0.2)

    output = ""

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.output = self.process.communicate(timeout=60)[0] or ""


def run_instance(driver: EngineDriver | HttpDriver | RemoteDriver) -> int:
    """One instance start to end; returns how many tasks were completed."""
    step = driver.start()
    completed = 0
    while step is not None:
        task_id, spec = step
        step = driver.complete(task_id, form_data(spec, completed // 6))
        completed += 1
    assert completed == USER_TASKS, completed
    return completed


# --------------------------------------------------------------------------- timing in threads

@dataclass
class Run:
    seconds: float
    instances: int
    latencies: list[float] = field(default_factory=list)  # ms per request (reads only)

    @property
    def rate(self) -> float:
        return self.instances / self.seconds


def in_threads(clients: int, work: Callable[[int], Any]) -> float:
    """Run ``work(client_no)`` in ``clients`` threads started together; the wall time until all end."""
    barrier = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def body(n: int) -> None:
        barrier.wait()
        try:
            work(n)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def flows(make: Callable[[], EngineDriver | HttpDriver | RemoteDriver], clients: int, instances: int) -> Run:
    """``instances`` instances shared out over ``clients`` threads, each with its own driver."""
    drivers = [make() for _ in range(clients)]
    share = [instances // clients + (n < instances % clients) for n in range(clients)]
    seconds = in_threads(clients, lambda n: [run_instance(drivers[n]) for _ in range(share[n])])
    return Run(seconds, instances)


def reads(setup: Setup, readers: int, writers: int, per_reader: int, task_id: int) -> Run:
    """``readers`` clients each reading one task ``per_reader`` times, while ``writers`` clients run
    instances until the readers are done."""
    done = threading.Event()
    latencies: list[float] = []
    lock = threading.Lock()
    drivers = [HttpDriver(setup) for _ in range(readers + writers)]

    def work(n: int) -> None:
        driver = drivers[n]
        if n >= readers:
            while not done.is_set():
                run_instance(driver)
            return
        mine = []
        for _ in range(per_reader):
            started = time.perf_counter()
            driver.read(task_id)
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)
            if len(latencies) == readers * per_reader:
                done.set()

    seconds = in_threads(readers + writers, work)
    return Run(seconds, readers * per_reader, latencies)


# --------------------------------------------------------------------------- statements and growth

@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block (transaction control included)."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    def begin(conn: Any) -> None:
        seen.append("BEGIN")

    def commit(conn: Any) -> None:
        seen.append("COMMIT")

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "begin", begin)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "begin", begin)
        event.remove(engine, "commit", commit)


def statements_per_request(setup: Setup) -> list[str]:
    """Lines: the statements one instance's requests run, by request kind."""
    driver = HttpDriver(setup)
    with counting(setup.engine) as seen:
        step = driver.start()
    lines = [f"POST /instances: {_summary(seen)}"]
    assert step is not None
    with counting(setup.engine) as seen:
        driver.read(step[0])
    lines.append(f"GET /tasks/<id>: {_summary(seen)}")
    counts = []
    completed = 0
    while step is not None:
        with counting(setup.engine) as seen:
            step = driver.complete(step[0], form_data(step[1], completed // 6))
        counts.append(seen[:])
        completed += 1
    total = [s for c in counts for s in c]
    lines.append(f"POST /tasks/<id>/complete: {_summary(total, len(counts))}")
    return lines


def _summary(statements: list[str], requests: int = 1) -> str:
    sql = [s for s in statements if not s.startswith(("BEGIN", "COMMIT"))]
    kinds: dict[str, int] = {}
    for s in sql:
        word = s.lstrip().split(None, 1)[0].upper()
        kinds[word] = kinds.get(word, 0) + 1
    parts = ", ".join(f"{k} {v / requests:.1f}" for k, v in sorted(kinds.items()))
    return (f"{len(sql) / requests:.1f} statements per request ({parts}); "
            f"{statements.count('BEGIN') / requests:.1f} transactions, "
            f"{statements.count('COMMIT') / requests:.1f} commits")


@dataclass
class Size:
    total: int
    tables: dict[str, tuple[int, int]]  # table -> (rows, bytes)


def size_of(engine: Engine) -> Size:
    """Bytes the database uses and rows and bytes per table (indexes counted with their table)."""
    names = inspect(engine).get_table_names()
    if engine.dialect.name == "sqlite":  # outside a transaction: fold the write-ahead log into the file
        raw = engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    with engine.connect() as conn:
        rows = {t: int(conn.scalar(select(func.count()).select_from(text(f'"{t}"'))) or 0) for t in names}
        if engine.dialect.name == "sqlite":
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
            free = conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0
            page = conn.exec_driver_sql("PRAGMA page_size").scalar() or 0
            total = (pages - free) * page
            try:
                owner = dict(conn.exec_driver_sql("SELECT name, tbl_name FROM sqlite_master").all())
                used = conn.exec_driver_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").all()
            except Exception:  # noqa: BLE001 (SQLite built without dbstat: rows only)
                owner, used = {}, []
            per: dict[str, int] = {}
            for name, n in used:
                per[owner.get(name, name)] = per.get(owner.get(name, name), 0) + int(n)
        else:
            per = {t: int(conn.scalar(text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": t}) or 0)
                   for t in names}
            total = sum(per.values())
    return Size(int(total), {t: (rows[t], per.get(t, 0)) for t in names})


def growth_lines(before: Size, after: Size, instances: int) -> list[str]:
    scale = 1000 / instances
    grown = sorted(((after.tables[t][1] - before.tables.get(t, (0, 0))[1],
                     after.tables[t][0] - before.tables.get(t, (0, 0))[0], t) for t in after.tables), reverse=True)
    lines = [f"growth per 1,000 instances: {(after.total - before.total) * scale / 1e6:.2f} MB "
             f"({(after.total - before.total) * scale:,.0f} bytes)"]
    for size, rows, table in grown[:6]:
        if size or rows:
            lines.append(f"  {table:<22} {rows * scale:9,.0f} rows  {size * scale / 1e6:7.2f} MB")
    return lines


# --------------------------------------------------------------------------- main

def bench(label: str, url: str, args: argparse.Namespace, folder: Path) -> None:
    setup = Setup(url, folder)
    try:
        print(f"--- {label}", flush=True)
        for make in (lambda: EngineDriver(setup), lambda: HttpDriver(setup)):
            flows(make, 1, args.warmup)
        rates: dict[tuple[str, int], float] = {}
        http_instances = 0
        before = None
        for mode, make in (("engine", lambda: EngineDriver(setup)), ("http", lambda: HttpDriver(setup))):
            if mode == "http":
                before = size_of(setup.engine)
            for clients in CLIENTS:
                runs = [flows(make, clients, args.instances) for _ in range(args.repeats)]
                rate = statistics.median(r.rate for r in runs)
                rates[(mode, clients)] = rate
                if mode == "http":
                    http_instances += args.instances * args.repeats
                print(f"{label} {mode:<6} {clients} client{'s' if clients > 1 else ' '}: {rate:7.1f} instances/s "
                      f"({rate * (USER_TASKS + 1):7.1f} requests/s; runs: "
                      f"{', '.join(f'{r.rate:.1f}' for r in runs)})", flush=True)
        assert before is not None
        after = size_of(setup.engine)
        for clients in CLIENTS:
            print(f"{label} ratio http/engine {clients} client{'s' if clients > 1 else ''}: "
                  f"{rates[('engine', clients)] / rates[('http', clients)]:.2f}", flush=True)
        step = HttpDriver(setup).start()
        assert step is not None
        for readers, writers in ((1, 0), (CLIENTS[-1], 0), (1, CLIENTS[-1] - 1)):
            r = reads(setup, readers, writers, args.reads, step[0])
            lat = sorted(r.latencies)
            print(f"{label} reads  {readers} reader{'s' if readers > 1 else ' '} + {writers} writer"
                  f"{'s' if writers != 1 else ' '}: {r.rate:7.1f} GET/s, p50 {statistics.median(lat):.2f} ms, "
                  f"p95 {lat[int(len(lat) * 0.95) - 1]:.2f} ms", flush=True)
        for line in statements_per_request(setup):
            print(f"{label} statements {line}", flush=True)
        for line in growth_lines(before, after, http_instances):
            print(f"{label} {line}", flush=True)
        if label == "postgresql" and args.workers:
            served(label, url, setup, args, folder, rates)
    finally:
        setup.close()


def served(label: str, url: str, setup: Setup, args: argparse.Namespace, folder: Path,
           rates: dict[tuple[str, int], float]) -> None:
    """The same flows over real HTTP against gunicorn with ``args.workers`` worker processes: instances/s
    for 1 and 4 clients, how many times faster 4 clients are than 1, and the ratio to the engine alone."""
    server = Gunicorn(url, folder, args.workers)
    try:
        make = lambda: RemoteDriver(server, setup.token)  # noqa: E731
        flows(make, CLIENTS[-1], max(args.warmup, 1) * CLIENTS[-1])  # every worker imports and caches once
        for clients in CLIENTS:
            runs = [flows(make, clients, args.instances) for _ in range(args.repeats)]
            rates[("gunicorn", clients)] = rate = statistics.median(r.rate for r in runs)
            print(f"{label} gunicorn {clients} client{'s' if clients > 1 else ' '}: {rate:7.1f} instances/s "
                  f"({rate * (USER_TASKS + 1):7.1f} requests/s; {args.workers} workers; runs: "
                  f"{', '.join(f'{r.rate:.1f}' for r in runs)})", flush=True)
    finally:
        server.close()
    for clients in CLIENTS:
        print(f"{label} ratio gunicorn/engine {clients} client{'s' if clients > 1 else ''}: "
              f"{rates[('engine', clients)] / rates[('gunicorn', clients)]:.2f}", flush=True)
    print(f"{label} gunicorn {CLIENTS[-1]} clients / 1 client: "
          f"{rates[('gunicorn', CLIENTS[-1])] / rates[('gunicorn', 1)]:.2f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench http", description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=40, help="instances per run (default 40)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration; medians (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed instances first (default 3)")
    parser.add_argument("--reads", type=int, default=100, help="GETs per reading client (default 100)")
    parser.add_argument("--pg", metavar="URL", help=f"PostgreSQL (default $AIMSFLOW_BENCH_PG_URL or {PG_URL})")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--workers", type=int, default=4, metavar="N",
                        help="gunicorn workers serving PostgreSQL over real HTTP (default 4; 0: no gunicorn run)")
    args = parser.parse_args(argv)
    if min(args.instances, args.repeats, args.reads) < 1 or min(args.warmup, args.workers) < 0:
        parser.error("--instances, --repeats and --reads must be at least 1, --warmup and --workers at least 0")
    import SpiffWorkflow.version

    print(f"http bench: SpiffWorkflow {SpiffWorkflow.version.__version__}, Python {platform.python_version()}; "
          f"{args.instances} instances x {args.repeats} runs per configuration, {USER_TASKS} user tasks "
          f"({USER_TASKS + 1} requests) per instance", flush=True)
    with tempfile.TemporaryDirectory(prefix="aimsflow-http-") as tmp:
        bench("sqlite", f"sqlite:///{os.path.join(tmp, 'http.db')}", args, Path(tmp))
        pg = None if args.no_pg else pg_url(args.pg)
        if pg:
            with database(pg) as url:
                bench("postgresql", url, args, Path(tmp))
    return 0
