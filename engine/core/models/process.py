"""Process versions, instances and the human-task projection the inboxes query."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.core.db import JSONText
from engine.core.models.base import Base


class ProcessVersion(Base):
    """One deployed version of one BPMN process: its XML, the forms it uses and a content hash.

    The same content deployed twice is the same row (``sha256`` is unique).
    """

    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("process_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    #: deferred: read only when the spec or form caches miss (``definitions``), not with every instance
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)
    #: form name -> JSON Schema, for every form a task of this process references
    forms: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict, deferred=True)
    #: called process id -> sha256 of the version it was deployed against (call activities)
    dependencies: Mapped[dict[str, str]] = mapped_column(JSONText, default=dict)
    #: "published" versions start new instances; "draft" ones wait for an admin
    status: Mapped[str] = mapped_column(String(20), default="published")
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    deployed_at: Mapped[datetime]
    #: the lint warnings of this version (``Problem.to_dict`` each): shown on the versions page
    lint_warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSONText, default=list, server_default="[]")


class InstanceState(StrEnum):
    """``ProcessInstance.status``: ``running`` until the workflow ends (``completed``) or someone stops it
    (``cancelled``). The values are what the column stores."""

    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ProcessInstance(Base):
    """One running (or finished) process. ``state`` is the SpiffWorkflow state without the spec;
    ``version`` is the optimistic lock every write checks."""

    __tablename__ = "process_instance"

    id: Mapped[int] = mapped_column(primary_key=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    #: the business object it is about ("AIS-001", "RSK-004"), for lists and links
    subject: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), default=InstanceState.RUNNING, index=True)
    state: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    #: earliest due time of the instance's waiting timers (the worker's index)
    wake_at: Mapped[datetime | None] = mapped_column(index=True)
    parent_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    end_event: Mapped[str | None] = mapped_column(String(100))
    #: the messages and signals it waits for now, as JSON (None: none); ``event_subscription`` holds
    #: them as rows, rewritten only when this changes
    waits_for: Mapped[str | None] = mapped_column(Text)

    process_version: Mapped[ProcessVersion] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}


class TaskState(StrEnum):
    """``HumanTask.state`` (the values are what the column stores); see :class:`HumanTask`."""

    READY = "ready"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


#: the states of a task someone still has to do
OPEN_STATES = (TaskState.READY, TaskState.CLAIMED)
#: the same in SQL, as the partial indexes over open tasks and the queries they serve spell it
_OPEN = "state IN ('ready', 'claimed')"


class HumanTask(Base):
    """A ready user/manual task as a row: who may do it, who holds it, when it is due.

    States: ``ready`` (waiting for a candidate) -> ``claimed`` (someone holds it) -> ``completed``;
    or ``cancelled`` when the workflow moves past it (boundary event, instance cancelled).
    ``row_version`` is the optimistic lock every change of the row checks and bumps.
    """

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_assignee_state", "assignee_id", "state", "due_at"),
        Index("ix_human_task_role_state", "role", "state", "due_at"),
        Index("ix_human_task_state_due", "state", "due_at"),
        Index("ix_human_task_state_next_action", "state", "next_action_at"),
        # the inbox (engine/app/queries.py), over open tasks only: a user's own tasks and a role's queue, each in
        # due-date order, with every column the tab counts read (process, SoD exclusions, and the columns of
        # the index's own condition, which SQLite wants in a covering index) so they never leave the index
        Index("ix_human_task_open_assignee", "assignee_id", "due_at", "id", "process_id", "state",
              sqlite_where=text(_OPEN), postgresql_where=text(_OPEN)),
        Index("ix_human_task_open_queue", "role", "due_at", "id", "process_id", "excluded_ids", "assignee_id", "state",
              sqlite_where=text(f"assignee_id IS NULL AND {_OPEN}"),
              postgresql_where=text(f"assignee_id IS NULL AND {_OPEN}")),
        UniqueConstraint("spiff_task_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    spiff_task_id: Mapped[str] = mapped_column(String(36))
    task_spec: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(255))
    process_id: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(100))
    #: the lane's role: anyone holding it may claim the task unless ``assignee_id`` is fixed
    role: Mapped[str] = mapped_column(String(50))
    #: the user who must do it (from ``assignee_var``, a claim or a reassignment)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: the user ``assignee_var`` named when the task became ready (restored on release)
    designated_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    state: Mapped[str] = mapped_column(String(20), default=TaskState.READY)
    form: Mapped[str | None] = mapped_column(String(100))
    escalation_profile: Mapped[str | None] = mapped_column(String(20))
    sod_rules: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    escalation_level: Mapped[int] = mapped_column(default=0)
    #: deadline ladder (ladders.py, escalation.py): reminders sent, overdue notice, escalation, next step due
    reminders_sent: Mapped[int] = mapped_column(default=0)
    overdue_notified_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    #: who the latest escalation went to (they may reassign the task)
    escalated_to_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: every ladder step due up to this time has been taken
    ladder_done_until: Mapped[datetime | None]
    #: when the worker must look at this task next (None: no step left)
    next_action_at: Mapped[datetime | None]
    #: the user the task was meant for when it went to their deputy (out-of-office delegation)
    delegated_from_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    #: the validated data the user submitted (kept apart from the workflow state)
    submitted: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    #: users the segregation-of-duties rules excluded when the candidates were built
    excluded_ids: Mapped[list[int]] = mapped_column(JSONText, default=list)
    #: note shown in the inbox, e.g. why the designated user was skipped (SoD)
    note: Mapped[str | None] = mapped_column(String(500))

    #: bumped by every change of the row; each write carries ``WHERE row_version = <the one read>`` (the ORM
    #: does so for every UPDATE, ``task_guard.write`` for the use cases), so of two racing changes one wins
    row_version: Mapped[int] = mapped_column(default=1, server_default="1")

    instance: Mapped[ProcessInstance] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": row_version}
