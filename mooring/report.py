"""Human summaries of pyinfra runs (per host: changed, unchanged, failed and why)."""

from __future__ import annotations

from mooring.runner import RunResult


def run_summary(result: RunResult, title: str) -> str:
    """One line per host: how many operations changed it, or why it failed."""
    lines = [f"{title}:"]
    for host in result.hosts:
        if host in result.failed_hosts:
            reasons = result.errors_for(host) or ["see the log above (mooring -v)"]
            lines.append(f"  {host}: FAILED - {reasons[0]}")
            continue
        changes = result.changes_for(host)
        lines.append(f"  {host}: ok, {len(changes)} change(s)" + (f" ({', '.join(changes[:6])}{', ...' if len(changes) > 6 else ''})" if changes else ""))
    if not result.hosts:
        lines.append("  no host ran: " + result.log_tail())
    return "\n".join(lines)
