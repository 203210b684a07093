"""What the screens and the CLI read and do: the inbox and task page, the instance page and registers, process
administration, accounts and sessions, who may see what, documents, the calendar feed. No Flask; imports
``engine.core`` and ``engine.aims`` (README.md here).

What the web app uses is named here and imported on first use.
"""

from engine.core.faces import face

__all__, __getattr__ = face(__name__, modules=(
    "access", "accounts", "calendar_feed", "demo_guide", "documents", "history", "process_admin", "queries",
    "register_edit", "register_io", "soa_edit", "worklist",
), names={
    "queries": ("TaskRow",),
})
