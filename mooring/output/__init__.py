"""The output layer: one :class:`mooring.report.Report`, many formats.

Formats are small modules behind one interface (``NAME`` and ``render(report) -> str``),
registered strictly in :data:`FORMATS`: text for people, JSON (versioned schema,
docs/report-schema.json), JUnit XML for CI, Prometheus textfile for node_exporter. Every
format redacts the run's secret values, in every encoded form, before anything is written.
A command adds the flags with :func:`add_output_arguments` and prints with :func:`emit`; the
exit code comes from the report (:func:`mooring.checks.findings.exit_code`), never from a format.

    from mooring.output import add_output_arguments, emit
    add_output_arguments(parser, "check")        # --json FILE|-, --junit FILE, --prometheus FILE, -q, --all
    return emit(Report("check", findings, hosts, inventory, started, utc_now(), secrets), args)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import TextIO

from mooring.output import jsondoc, junit, prometheus, text
from mooring.report import Report

FORMATS: dict[str, ModuleType] = {}

#: What each command's exit codes mean (shown in its ``--help``; docs/output.md has the table).
EXIT_CODES = {
    "validate": ("0  every check passed (warnings allowed)",
                 "1  a check failed, the input could not be read, or an output file could not be written"),
    "check": ("0  every check passed on every host (warnings allowed)",
              "1  a check failed, a host could not be checked, or an output file could not be written"),
    "drift": ("0  no drift: every host is as declared",
              "2  drift: a resource differs from the declared state (named in the report)",
              "1  error: a host could not be checked or a read failed (wins over drift), or an output "
              "file could not be written"),
    "status": ("0  every host was read (warnings name what an operator should look at)",
               "1  a host could not be read, or an output file could not be written"),
    "releases": ("0  every host's release history was read",
                 "1  a host could not be read, or an output file could not be written"),
    "logs": ("0  every host's lines were read (with -f: until Ctrl-C)",
             "1  no such service or host, or a host could not be read"),
    "secrets": ("0  done (no value is ever printed)",
                "1  no age key, no recipients, a file that cannot be decrypted, or a refused name or value"),
    "init": ("0  the project was scaffolded (existing files are never overwritten)", "1  it could not be"),
    "unlock": ("0  every lock named was broken, or there was none", "1  a host could not be reached"),
    "completion": ("0  the script was printed",),
    "deploy": ("0  every host deployed (or was already up to date) and passed its health gate",
               "1  pre-flight failed, a host failed or was rolled back, the run was interrupted, or an "
               "output file could not be written"),
}
DEFAULT_EXIT_CODES = ("0  success", "1  something failed (named in the report)")


def register(module: ModuleType) -> ModuleType:
    """Add a format module (``NAME``, ``render``); a name registered twice is refused."""
    if module.NAME in FORMATS:
        raise ValueError(f"output format {module.NAME!r} is already registered")
    if not callable(getattr(module, "render", None)):
        raise ValueError(f"output format {module.NAME!r} has no render(report) function")
    FORMATS[module.NAME] = module
    return module


for _module in (text, jsondoc, junit, prometheus):
    register(_module)


def render(report: Report, name: str, **options) -> str:
    """The report in format ``name`` (``text``, ``json``, ``junit``, ``prometheus``).

    >>> from mooring.checks.findings import Finding
    >>> render(Report("check", [Finding("cron.present", "passed", "docker-1")]), "text", quiet=True)
    ''
    """
    if name not in FORMATS:
        raise ValueError(f"unknown output format {name!r}; known: {', '.join(sorted(FORMATS))}")
    return FORMATS[name].render(report, **options)


def exit_codes_help(command: str) -> str:
    """The ``exit codes:`` block of a command's ``--help``."""
    return "exit codes:\n" + "\n".join(f"  {line}" for line in EXIT_CODES.get(command, DEFAULT_EXIT_CODES))


def add_output_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """``--json FILE|-``, ``--junit FILE``, ``--prometheus FILE``, ``-q/--quiet`` and ``--all``,
    the same for every command that reports; also lists ``command``'s exit codes in its help.

    >>> parser = argparse.ArgumentParser(prog="mooring check")
    >>> add_output_arguments(parser, "check")
    >>> args = parser.parse_args(["--json", "-", "-q"])
    >>> args.json_file, args.junit_file, args.prometheus_file, args.quiet, args.show_passed
    ('-', None, None, True, False)
    """
    group = parser.add_argument_group("output")
    group.add_argument("--json", metavar="FILE", dest="json_file",
                       help="also write the report as JSON (docs/report-schema.json) to FILE; '-' for stdout, "
                            "which then holds only the JSON (the text report goes to stderr)")
    group.add_argument("--junit", metavar="FILE", dest="junit_file",
                       help="also write JUnit XML to FILE (one testsuite per host) for CI test reports")
    group.add_argument("--prometheus", metavar="FILE", dest="prometheus_file",
                       help="also write Prometheus gauges to FILE (written atomically: point it into "
                            "node_exporter's textfile collector folder, e.g. /var/lib/node_exporter/mooring.prom)")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="print nothing when every check passed; otherwise only what did not pass")
    group.add_argument("--all", action="store_true", dest="show_passed", help="also list the checks that passed")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = exit_codes_help(command)


def emit(report: Report, args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Print the text report and write every file the flags ask for; returns the exit code
    (the report's, or 1 when a file could not be written: the run's answer would be lost).

    With ``--json -`` stdout holds only the JSON document and the text goes to stderr.
    """
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    json_file = getattr(args, "json_file", None)
    text_out = stderr if json_file == "-" else stdout
    text_out.write(render(report, "text", show_passed=getattr(args, "show_passed", False),
                          quiet=getattr(args, "quiet", False)))
    if json_file == "-":
        stdout.write(render(report, "json"))
    code = report.exit_code
    for name, destination in (("json", json_file), ("junit", getattr(args, "junit_file", None)),
                              ("prometheus", getattr(args, "prometheus_file", None))):
        if not destination or destination == "-" and name == "json":
            continue
        try:
            write_file(destination, render(report, name))
        except OSError as exc:
            print(f"mooring {report.command}: cannot write {destination}: {exc.strerror or exc}", file=stderr)
            code = 1  # the run's answer would be lost: an error, also over drift
    return code


def write_file(destination: str | Path, content: str, mode: int = 0o644) -> Path:
    """Write ``content`` to a temporary file beside ``destination``, then rename it into place:
    a reader (node_exporter's textfile collector, a CI step) sees the old file or the new one,
    never half of one. The temporary name does not end in ``.prom``, so the collector skips it.

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_file(os.path.join(folder, "mooring.prom"), "x 1\\n").read_text()
    'x 1\\n'
    """
    path = Path(destination)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
