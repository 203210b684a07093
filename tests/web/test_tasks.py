"""The inbox, the task page and its form, drafts, evidence, claim / release / complete, approvals,
segregation of duties in words, and the managers' team view."""

from __future__ import annotations

import hashlib
import html
import io
import re
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from engine.core.clock import FixedClock
from engine.core.models import EvidenceFile, HumanTask, RoleAssignment
from web.extensions import db

from .conftest import PEOPLE, Browser, Flows, user

VALID = {"f.summary": "Tone of the replies", "f.risk_level": "high", "f.likelihood": "4",
         "f.review_by": "2026-12-20", "f.reviewer": PEOPLE["reviewer"]}


def text(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.get_data(as_text=True))


def count(html: str, tab: str) -> int:
    match = re.search(rf'data-count="{tab}">(\d+)<', html)
    assert match, f"no count for tab {tab}"
    return int(match.group(1))


# --------------------------------------------------------------------------- inbox

def test_inbox_tabs_count_mine_claimable_and_overdue(browser: Callable[[str], Browser], flows: Flows,
                                                     clock: FixedClock) -> None:
    sofia = browser("assessor")
    before = text(sofia.get("/tasks?tab=claimable"))
    instance = flows.start(topic="Inbox counting")
    task = flows.task(instance, "ut_assess")
    page = text(sofia.get("/tasks?tab=claimable"))
    assert count(page, "claimable") == count(before, "claimable") + 1
    assert f"/tasks/{task}" in page
    sofia.post(f"/tasks/{task}/claim")
    mine = text(sofia.get("/tasks?tab=mine"))
    assert f"/tasks/{task}" in mine
    assert count(mine, "mine") >= 1
    clock.advance(days=6)  # past the P5D deadline (and the session's lifetime: log in again)
    overdue = text(browser("assessor").get("/tasks?tab=overdue"))
    assert f"/tasks/{task}" in overdue and "1 day overdue" in overdue
    assert count(overdue, "overdue") >= 1


def test_inbox_search_and_process_filter(browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Searchable credit model")
    task = flows.task(instance, "ut_assess")
    sofia = browser("assessor")
    found = text(sofia.get(f"/tasks?tab=all&q={instance}&process=web_assessment"))
    assert f"/tasks/{task}" in found
    other = text(sofia.get("/tasks?tab=all&process=tiny_approval"))
    assert f"/tasks/{task}" not in other
    nothing = text(sofia.get("/tasks?tab=all&q=no-such-thing-anywhere"))
    assert "Nothing here." in nothing


def test_inbox_unknown_tab_is_a_clear_error(browser: Callable[[str], Browser]) -> None:
    response = browser("assessor").get("/tasks?tab=bogus")
    assert response.status_code == 422
    assert "unknown tab" in text(response)


# --------------------------------------------------------------------------- the task page and its form

def test_task_page_renders_every_kind_of_field(browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Field kinds")
    task = flows.task(instance, "ut_assess")
    sofia = browser("assessor")
    sofia.post(f"/tasks/{task}/claim")
    page = text(sofia.get(f"/tasks/{task}"))
    assert 'name="f.summary"' in page and 'maxlength="200"' in page                  # text
    assert '<textarea class="form-control" id="f.description"' in page                # textarea
    assert 'type="radio"' in page and 'value="high"' in page                          # enum as radio
    assert '<select class="form-select" id="f.technique"' in page                     # enum as select
    assert 'type="checkbox" id="f.affected_parties-1"' in page                        # multi-enum
    assert 'type="number"' in page and 'min="1"' in page and 'max="5"' in page        # bounded integer
    assert 'id="f.personal_data"' in page                                             # boolean
    assert 'type="date"' in page                                                      # date
    assert PEOPLE["reviewer"] in page and PEOPLE["approver"] not in page              # user picker by role
    assert 'data-add-row="f.mitigations"' in page and "f.mitigations.__i__.measure" in page  # repeating group
    assert 'type="file"' in page                                                      # file upload
    assert "Assess Field kinds (AIS-002)" in page                                     # instructionsForEndUser
    assert "What this step is about" in page and "AIS-002" in page


def test_task_instructions_show_lists_in_words_not_python() -> None:
    from web.tasks import instructions_html

    shown = instructions_html("{{ item.control_id }}: {{ item.details }}. Owner {{ item.owner }}.",
                              {"item": {"control_id": "A.4.4", "owner": None,
                                        "details": ["no accepted evidence (EVD-018 <submitted>)", "no target date"]}})
    assert shown == "A.4.4: no accepted evidence (EVD-018 &lt;submitted&gt;), no target date. Owner none."
    counts = instructions_html("SoA: {{ counts }}. Gaps: {{ gaps }}. Final: {{ final }}.",
                               {"counts": {"implemented": 31, "in_progress": 6}, "gaps": [], "final": False})
    assert counts == "SoA: Implemented: 31; In progress: 6. Gaps: none. Final: no."


def test_task_validation_errors_sit_next_to_their_fields_and_keep_what_was_typed(
        browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Validation")
    task = flows.task(instance, "ut_assess")
    sofia = browser("assessor")
    sofia.post(f"/tasks/{task}/claim")
    response = sofia.post(f"/tasks/{task}/complete", {"f.summary": "Kept summary", "f.likelihood": "9",
                                                      "f.mitigations.0.measure": "Kept measure", "action": "complete"})
    assert response.status_code == 422
    page = text(response)
    assert 'data-field-error="likelihood">Likelihood (1 to 5): must be at most 5<' in page
    assert 'data-field-error="review_by">Review by: enter a date<' in page
    assert 'data-field-error="reviewer">Specialist reviewer: choose a person<' in page
    summary = page[page.index("data-error-summary"):]
    summary = summary[:summary.index("</div>")]
    assert 'role="alert"' in page[page.index("data-error-summary") - 120:page.index("data-error-summary")]
    assert '<a href="#f.likelihood" data-error-link>Likelihood (1 to 5): must be at most 5</a>' in summary
    assert '<a href="#f.reviewer" data-error-link>Specialist reviewer: choose a person</a>' in summary
    assert 'value="Kept summary"' in page and 'value="Kept measure"' in page and 'value="9"' in page
    assert flows.task_state(task) == "claimed"


def test_task_complete_stores_typed_data_and_the_upload_as_evidence_with_sha256(
        app: Flask, browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Evidence")
    task = flows.task(instance, "ut_assess")
    sofia = browser("assessor")
    sofia.post(f"/tasks/{task}/claim")
    content = b"model card, version 1"
    form = {**VALID, "f.affected_parties": ["customers", "public"], "f.personal_data": "on",
            "f.personal_data.present": "1", "f.mitigations.0.measure": "Human review",
            "f.mitigations.0.owner": PEOPLE["action_owner"], "f.mitigations.3.measure": "Logging",
            "f.model_card": (io.BytesIO(content), "card.txt"), "action": "complete"}
    response = sofia.post(f"/tasks/{task}/complete", form, content_type="multipart/form-data")
    assert response.status_code == 303, text(response)[:2000]
    with app.app_context():
        done = db.session.get(HumanTask, task)
        assert done is not None and done.state == "completed"
        submitted = done.submitted or {}
        assert submitted["likelihood"] == 4 and submitted["personal_data"] is True
        assert submitted["affected_parties"] == ["customers", "public"]
        assert [m["measure"] for m in submitted["mitigations"]] == ["Human review", "Logging"]
        card = submitted["model_card"]
        assert card["sha256"] == hashlib.sha256(content).hexdigest() and card["filename"] == "card.txt"
        row = db.session.get(EvidenceFile, card["evidence_id"])
        assert row is not None and row.size == len(content) and row.uploaded_by_id == user("assessor").id
        stored = Path(app.extensions["aimsflow.settings"].evidence_dir) / str(instance) / row.sha256
        assert stored.read_bytes() == content
    download = sofia.get(f"/evidence/{card['evidence_id']}")
    assert download.status_code == 200 and download.data == content
    download.close()


def test_an_upload_survives_a_form_sent_back_with_errors(browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Upload kept")
    task = flows.task(instance, "ut_assess")
    sofia = browser("assessor")
    sofia.post(f"/tasks/{task}/claim")
    first = sofia.post(f"/tasks/{task}/complete", {"f.model_card": (io.BytesIO(b"card"), "card.txt"),
                                                   "action": "complete"}, content_type="multipart/form-data")
    assert first.status_code == 422
    keep = re.search(r'name="keep.model_card" value="([^"]+)"', text(first))
    assert keep and "evidence_id" in keep.group(1).replace("&#34;", '"')
    kept = keep.group(1).replace("&#34;", '"')
    second = sofia.post(f"/tasks/{task}/complete", {**VALID, "keep.model_card": kept, "action": "complete"})
    assert second.status_code == 303


def test_a_file_field_cannot_point_at_evidence_of_another_instance(browser: Callable[[str], Browser],
                                                                    flows: Flows) -> None:
    one, two = flows.start(topic="One"), flows.start(topic="Two")
    task_one, task_two = flows.task(one, "ut_assess"), flows.task(two, "ut_assess")
    sofia = browser("assessor")
    sofia.post(f"/tasks/{task_one}/claim")
    sofia.post(f"/tasks/{task_one}/complete", {"f.model_card": (io.BytesIO(b"secret"), "secret.txt"),
                                               "action": "draft"}, content_type="multipart/form-data")
    page = text(sofia.get(f"/tasks/{task_one}"))
    kept = re.search(r'name="keep.model_card" value="([^"]+)"', page)
    assert kept
    sofia.post(f"/tasks/{task_two}/claim")
    response = sofia.post(f"/tasks/{task_two}/complete", {**VALID, "keep.model_card": kept.group(1).replace(
        "&#34;", '"'), "action": "complete"})
    assert response.status_code == 422
    assert "was not uploaded to this task" in text(response)


def test_save_as_draft_and_come_back_later(browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Draft")
    task = flows.task(instance, "ut_assess")
    sofia = browser("assessor")
    sofia.post(f"/tasks/{task}/claim")
    response = sofia.post(f"/tasks/{task}/complete", {"f.summary": "Half done", "f.likelihood": "12",
                                                      "action": "draft"})
    assert response.status_code == 303
    assert flows.task_state(task) == "claimed"
    page = text(sofia.get(f"/tasks/{task}"))
    assert 'value="Half done"' in page and 'value="12"' in page and "Showing your saved draft" in page
    other = browser("assessor2")  # a draft is private to its author
    assert "Half done" not in text(other.get(f"/tasks/{task}"))


def test_claim_and_release(browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Claim")
    task = flows.task(instance, "ut_assess")
    sofia, hannah = browser("assessor"), browser("assessor2")
    assert sofia.post(f"/tasks/{task}/claim").status_code == 303
    assert flows.task_state(task) == "claimed"
    taken = hannah.post(f"/tasks/{task}/claim", follow_redirects=True)
    assert "already claimed by Sofia Rossi" in text(taken)
    assert sofia.post(f"/tasks/{task}/release").status_code == 303
    assert flows.task_state(task) == "ready"


def test_a_stale_submit_says_who_completed_the_task(browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Stale")
    task = flows.task(instance, "ut_assess")
    sofia = browser("assessor")
    sofia.post(f"/tasks/{task}/claim")
    first = sofia.post(f"/tasks/{task}/complete", {**VALID, "action": "complete"})
    assert first.status_code == 303
    again = sofia.post(f"/tasks/{task}/complete", {**VALID, "action": "complete"})
    assert again.status_code == 409
    page = text(again)
    assert "was already completed by Sofia Rossi" in page
    assert 'data-testid="completed-note"' in page


def version_on(page: str) -> str:
    """The task version the page's forms send back."""
    match = re.search(r'name="version" value="(\d+)"', page)
    assert match, "the task page carries no version"
    return match.group(1)


def test_a_submit_after_a_reassignment_meanwhile_says_so_and_keeps_the_answers(
        browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Reassigned meanwhile")
    task = flows.task(instance, "ut_assess")
    sofia, priya = browser("assessor"), browser("aims_owner")
    sofia.post(f"/tasks/{task}/claim")
    seen = version_on(text(sofia.get(f"/tasks/{task}")))  # Sofia opens the form and starts typing
    moved = priya.post(f"/tasks/{task}/reassign", {"to": PEOPLE["assessor2"], "reason": "Sofia is on leave",
                                                  "version": version_on(text(priya.get(f"/tasks/{task}")))})
    assert moved.status_code == 303 and flows.task_state(task) == "claimed"
    late = sofia.post(f"/tasks/{task}/complete", {**VALID, "action": "complete", "version": seen})
    assert late.status_code == 409
    page = text(late)
    assert re.search(r"was reassigned to Hannah Schmidt at 2026-\d\d-\d\d \d\d:\d\d UTC meanwhile", page)
    assert "Tone of the replies" in page  # what she typed is still in the form
    assert flows.task_state(task) == "claimed"  # nothing was completed


def test_a_claim_from_a_page_opened_before_a_release_says_what_happened(
        browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Released meanwhile")
    task = flows.task(instance, "ut_assess")
    sofia, hannah = browser("assessor"), browser("assessor2")
    sofia.post(f"/tasks/{task}/claim")
    seen = version_on(text(hannah.get(f"/tasks/{task}")))  # Hannah looks while Sofia holds it
    sofia.post(f"/tasks/{task}/release", {"version": version_on(text(sofia.get(f"/tasks/{task}")))})
    stale = hannah.post(f"/tasks/{task}/claim", {"version": seen}, follow_redirects=True)
    assert "was released by Sofia Rossi" in text(stale) and "reload it and try again" in text(stale)
    assert flows.task_state(task) == "ready"
    fresh = hannah.post(f"/tasks/{task}/claim", {"version": version_on(text(hannah.get(f"/tasks/{task}")))})
    assert fresh.status_code == 303 and flows.task_state(task) == "claimed"


def test_a_version_that_is_not_a_number_is_refused_in_words(browser: Callable[[str], Browser],
                                                             flows: Flows) -> None:
    instance = flows.start(topic="Tampered version")
    task = flows.task(instance, "ut_assess")
    for tampered in ("1 OR 1=1", "²"):  # "²" is a digit to str.isdigit, not to int()
        response = browser("assessor").post(f"/tasks/{task}/claim", {"version": tampered})
        assert response.status_code == 422
        assert "the task's version must be the whole number" in html.unescape(text(response))
    assert flows.task_state(task) == "ready"


def test_a_role_outside_the_lane_sees_why_and_cannot_complete(browser: Callable[[str], Browser],
                                                               flows: Flows) -> None:
    instance = flows.start(topic="Wrong lane")
    approve = flows.assess(instance)
    sofia = browser("assessor")  # sees the instance (she started it) but is no approver
    page = text(sofia.get(f"/tasks/{approve}"))
    assert "which you do not hold" in page
    response = sofia.post(f"/tasks/{approve}/complete", {"f.decision": "approve", "action": "complete"})
    assert response.status_code == 403
    assert flows.task_state(approve) == "ready"


# --------------------------------------------------------------------------- approvals

def test_approval_needs_a_comment_for_anything_but_approve(browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Approval comment")
    approve = flows.assess(instance)
    ingrid = browser("approver")
    page = text(ingrid.get(f"/tasks/{approve}"))
    assert "What is being approved" in page and "Tone of the replies" in page
    history = page[page.index('data-testid="approval-history"'):]
    assert "<strong>Sofia Rossi</strong> completed Assess the AI system" in history
    assert "sofia.rossi@" not in history and "ut_assess" not in history
    assert "Request changes" in page and "Submit decision" in page
    ingrid.post(f"/tasks/{approve}/claim")
    refused = ingrid.post(f"/tasks/{approve}/complete", {"f.decision": "request_changes", "action": "complete"})
    assert refused.status_code == 422
    assert ('data-field-error="comment">Comment: write a comment (every decision but approve needs one)<'
            in text(refused))
    ok = ingrid.post(f"/tasks/{approve}/complete", {"f.decision": "request_changes",
                                                    "f.comment": "Add the mitigation owners", "action": "complete"})
    assert ok.status_code == 303
    rework = flows.task(instance, "ut_assess")  # back to the assessor
    assert flows.task_state(rework) == "ready"
    timeline = text(browser("assessor").get(f"/instances/{instance}"))
    assert "Add the mitigation owners" in timeline


def test_approve_without_comment_finishes_the_process(browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Approve")
    approve = flows.assess(instance)
    ingrid = browser("approver")
    ingrid.post(f"/tasks/{approve}/claim")
    assert ingrid.post(f"/tasks/{approve}/complete", {"f.decision": "approve", "action": "complete"}).status_code == 303
    page = text(ingrid.get(f"/instances/{instance}"))
    assert 'data-testid="instance-status">completed<' in page


def test_segregation_of_duties_refusal_is_explained_in_words(app: Flask, browser: Callable[[str], Browser],
                                                             flows: Flows) -> None:
    with app.app_context():  # Hannah assesses, and also holds the approver role
        hannah = user("assessor2")
        db.session.add(RoleAssignment(user_id=hannah.id, role="approver"))
        db.session.commit()
    try:
        instance = flows.start(topic="Maker checker")
        approve = flows.assess(instance, who="assessor2")
        b = browser("assessor2")
        page = text(b.get(f"/tasks/{approve}"))
        assert "Segregation of duties: you completed &#39;Assess the AI system&#39; in this process, so you " \
               "cannot also check or approve it (SOD-01)" in page
        response = b.post(f"/tasks/{approve}/complete", {"f.decision": "approve", "action": "complete"})
        assert response.status_code == 403
        assert "SOD-01 maker-checker" in text(response)
        assert flows.task_state(approve) == "ready"
    finally:
        with app.app_context():
            db.session.execute(RoleAssignment.__table__.delete().where(
                RoleAssignment.user_id == user("assessor2").id, RoleAssignment.role == "approver"))
            db.session.commit()


# --------------------------------------------------------------------------- team view

def test_team_view_lists_open_work_and_reassigns_with_a_reason(app: Flask, browser: Callable[[str], Browser],
                                                               flows: Flows) -> None:
    instance = flows.start(topic="Team")
    approve = flows.assess(instance)
    priya = browser("aims_owner")
    page = text(priya.get("/team"))
    assert f"/tasks/{approve}" in page
    no_reason = priya.post(f"/tasks/{approve}/reassign", {"to": PEOPLE["approver"], "reason": "", "back": "team"},
                           follow_redirects=True)
    assert "needs a reason" in text(no_reason)
    ok = priya.post(f"/tasks/{approve}/reassign", {"to": PEOPLE["approver"], "reason": "Ingrid covers this area",
                                                   "back": "team"}, follow_redirects=True)
    assert "reassigned to Ingrid Larsen." in text(ok)
    with app.app_context():
        task = db.session.get(HumanTask, approve)
        assert task is not None and task.assignee_id == user("approver").id
    timeline = text(priya.get(f"/instances/{instance}"))
    assert "Ingrid covers this area" in timeline


def test_team_view_is_for_managers_only(browser: Callable[[str], Browser]) -> None:
    assert browser("assessor").get("/team").status_code == 403
    assert browser("approver").get("/team").status_code == 200


def test_a_reassignment_by_a_non_manager_is_forbidden(browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="No reassign")
    task = flows.task(instance, "ut_assess")
    sofia = browser("assessor")
    response = sofia.post(f"/tasks/{task}/reassign", {"to": PEOPLE["assessor2"], "reason": "because"})
    assert response.status_code == 403


def test_inbox_query_excludes_tasks_of_other_roles(app: Flask, browser: Callable[[str], Browser],
                                                   flows: Flows) -> None:
    instance = flows.start(topic="Other roles")
    task = flows.task(instance, "ut_assess")
    page = text(browser("approver").get("/tasks?tab=all"))
    assert f"/tasks/{task}" not in page
    with app.app_context():
        assert db.session.scalar(select(HumanTask.role).where(HumanTask.id == task)) == "assessor"


def test_one_claim_rule_a_queue_task_may_be_claimed_or_simply_completed(browser: Callable[[str], Browser],
                                                                        flows: Flows) -> None:
    instance = flows.start(topic="One rule")
    task = flows.task(instance, "ut_assess")
    hannah = browser("assessor2")
    page = html.unescape(text(hannah.get(f"/tasks/{task}")))
    assert 'data-testid="claim"' in page
    assert "Claim it to take it off the others' lists" in page and "completing makes it yours" in page
    assert not re.search(r'data-testid="submit"[^>]*disabled', page)  # the form can be filled in at once
    done = hannah.post(f"/tasks/{task}/complete", {**VALID, "action": "complete", "version": version_on(page)})
    assert done.status_code == 303 and flows.task_state(task) == "completed"


def test_one_claim_rule_a_task_i_hold_needs_no_claim_and_others_cannot_act(
        browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Mine already")
    task = flows.task(instance, "ut_assess")
    sofia, hannah = browser("assessor"), browser("assessor2")
    sofia.post(f"/tasks/{task}/claim")
    page = html.unescape(text(sofia.get(f"/tasks/{task}")))
    assert 'data-testid="claim"' not in page and "This task is assigned to you; release it" in page
    assert not re.search(r'data-testid="submit"[^>]*disabled', page)
    other = html.unescape(text(hannah.get(f"/tasks/{task}")))
    assert 'data-testid="claim"' not in other and re.search(r'data-testid="submit"[^>]*disabled', other)
    assert "Sofia Rossi holds this task" in other


# --------------------------------------------------------------------------- the one claim rule

def test_one_claim_rule_on_the_inbox_the_task_page_and_the_api(app: Flask, browser: Callable[[str], Browser],
                                                               flows: Flows) -> None:
    """A task offered to my role shows Claim and says why; filling it in and completing it is allowed
    (completing makes it mine). A task assigned to me has no Claim button and is editable. A task someone
    else holds is read-only, saying who holds it. The inbox and the API say the same."""
    from engine.app import accounts

    with app.app_context():
        secret = {who: accounts.create_token(db.session, app.extensions["aimsflow.clock"], user(who), "claim")[1]
                  for who in ("assessor", "assessor2")}
        db.session.commit()

    def api(who: str, task: int) -> dict[str, object]:
        got = app.test_client().get(f"/api/v1/tasks/{task}", headers={"Authorization": f"Bearer {secret[who]}"})
        body = got.get_json()
        return {k: body[k] for k in ("may_claim", "may_complete", "assignee")}

    def submit_enabled(page: str) -> bool:
        button = re.search(r'<button[^>]*data-testid="submit"[^>]*>', page)
        assert button, "the page has no submit button"
        return "disabled" not in button.group(0)

    task = flows.task(flows.start(topic="One claim rule"), "ut_assess")
    sofia, hannah = browser("assessor"), browser("assessor2")

    offered = html.unescape(text(sofia.get(f"/tasks/{task}")))
    assert 'data-testid="claim"' in offered and submit_enabled(offered)
    rule = re.search(r'data-testid="claim-rule">([^<]+)<', offered)
    assert rule and "Anyone with the role Assessor may do this task. Claim it" in rule.group(1)
    assert f"/tasks/{task}" in text(sofia.get("/tasks?tab=claimable"))
    assert api("assessor", task) == {"may_claim": True, "may_complete": True, "assignee": None}

    assert sofia.post(f"/tasks/{task}/claim").status_code in (302, 303)
    mine = html.unescape(text(sofia.get(f"/tasks/{task}")))
    assert 'data-testid="claim"' not in mine and submit_enabled(mine)
    assert "This task is assigned to you; release it" in mine
    assert f"/tasks/{task}" in text(sofia.get("/tasks?tab=mine"))
    assert api("assessor", task) == {"may_claim": False, "may_complete": True, "assignee": PEOPLE["assessor"]}

    held = html.unescape(text(hannah.get(f"/tasks/{task}")))
    assert 'data-testid="claim"' not in held and not submit_enabled(held)
    assert "Sofia Rossi holds this task." in held
    assert api("assessor2", task) == {"may_claim": False, "may_complete": False, "assignee": PEOPLE["assessor"]}
