"""What `make run` prints once the database is ready: where the app serves, one demo login per role and
what each of them finds there (their inbox, overdue and escalated work first; the admin's draft)."""

from __future__ import annotations

import argparse

from sqlalchemy import select

from engine.app import demo_guide
from engine.core import User

from . import common, create_app
from .extensions import db

#: the role each demo login stands for -> the demo user who has it
DEMO_LOGINS = [
    ("admin", "oliver.grant@lumenvale.example"),
    ("AIMS owner", "priya.raman@lumenvale.example"),
    ("process owner", "tomas.alvarez@lumenvale.example"),
    ("assessor", "sofia.rossi@lumenvale.example"),
    ("reviewer", "fatima.alsayed@lumenvale.example"),
    ("approver / manager", "ingrid.larsen@lumenvale.example"),
    ("top management", "grace.nwosu@lumenvale.example"),
    ("internal auditor", "daniel.kim@lumenvale.example"),
]


#: at most this many things each login finds are listed
MAX_LINES = 4


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    app = create_app(command_line=True)
    with app.app_context():
        known = {u.email: u for u in db.session.scalars(select(User).where(User.active.is_(True)))}
        print("\naimsflow is ready: database", app.config["SQLALCHEMY_DATABASE_URI"])
        print(f"\nOpen http://127.0.0.1:{args.port} and log in as one of (password: "
              f"{'the value of AIMSFLOW_DEMO_PASSWORD' if app.config['DEMO_PASSWORD'] != 'demo' else 'demo'}):")
        now = common.context().clock.now()
        for role, email in DEMO_LOGINS:
            user = known.get(email)
            if user is None:
                continue
            print(f"  {role:20} {email:38} {user.name}")
            found = demo_guide.findings(db.session, user, now)
            for line in found[:MAX_LINES]:
                print(f"      {line}")
            if len(found) > MAX_LINES:
                print(f"      and {len(found) - MAX_LINES} more")
            if not found:
                print("      nothing waiting yet")
        db.session.remove()
        db.engine.dispose()  # the server starts next, in a process of its own
    print("\nThe worker runs inside the app (reminders, escalations, BPMN timers, e-mail). To see a date come,\n"
          "in another terminal: .venv/bin/aimsflow worker --once --now 2027-01-15T09:00:00Z\n"
          "The command line works too: .venv/bin/aimsflow --help (README.md lists every command).")


if __name__ == "__main__":
    main()
