"""What `make run` prints once the database is ready: how to use aimsflow and the demo logins."""

from __future__ import annotations

from sqlalchemy import select

from engine.models import User

from . import create_app
from .extensions import db


def main() -> None:
    app = create_app()
    with app.app_context():
        users = db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.external_key)).all()
        print("\naimsflow is ready: database", app.config["SQLALCHEMY_DATABASE_URI"])
        print("\nDemo users (one line each: e-mail, roles):")
        for user in users:
            print(f"  {user.email:40} {', '.join(sorted(user.roles))}")
    print("""
Try it from the command line (the web app arrives with a later release):
  .venv/bin/aimsflow tasks --as priya.raman@lumenvale.example
  .venv/bin/aimsflow start aims_aiia --as priya.raman@lumenvale.example \\
        --data '{"ai_system_ref": "AIS-002", "trigger": "periodic"}'
  .venv/bin/aimsflow claim TASK_ID --as priya.raman@lumenvale.example
  .venv/bin/aimsflow complete TASK_ID --as priya.raman@lumenvale.example --data @answers.json
  .venv/bin/aimsflow audit verify
See README.md for every command, its options and exit codes.

The worker runs now (reminders, escalations, BPMN timers, e-mail; Ctrl-C stops it). To see a date
come: .venv/bin/aimsflow worker --once --now 2027-01-15T09:00:00Z (in another terminal).""")


if __name__ == "__main__":
    main()
