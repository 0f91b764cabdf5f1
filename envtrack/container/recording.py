"""Is the agent recording? One line when not, after restarting it (which reconciles).

health.py judges and supervise.py acts; this joins them for the commands that read the
journal (exec, log, sync), loading supervise.py only when a restart is needed.
"""

from __future__ import annotations

from envtrack.container.health import check_agent
from envtrack.project import Project


def agent_warning(project: Project, check=None) -> str | None:
    """None when the agent is recording (or nothing runs); else one line for stderr. CHECK:
    check_agent's answer when the caller has it (exec reads the container from it too)."""
    check = check or check_agent(project)
    if not check.restart_needed:
        return check.warning
    from envtrack.container.supervise import restart_agent

    return restart_agent(project, check.container, check.health)
