"""``mooring secrets keygen|set|check|rotate-key|edit``: secrets kept in the repo, encrypted with
age (``secrets/<environment>.age`` to the public keys in ``secrets/recipients.txt``), decrypted on
the controller only, in memory. A value is read from stdin, never from the command line, and
no command prints one."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

NAME = "secrets"
HELP = "secrets kept encrypted in the repo (age): keygen, set, check, rotate-key, edit"
EPILOG = """examples:
  mooring secrets keygen                                   # your key in .mooring/age.key; prints the public key
  echo age1... >> secrets/recipients.txt                   # every teammate's (and CI's) public key
  printf %s "$VALUE" | mooring secrets set production JWT_SECRET
  mooring secrets check production                         # names only, never values
  mooring secrets rotate-key production                    # after recipients.txt changed: seal to the new list
  mooring secrets edit staging                             # $EDITOR on a copy in memory (/dev/shm)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``secrets`` command's sub-commands."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("keygen", help="make your age key (.mooring/age.key) and print its public key")
    setter = sub.add_parser("set", help="seal one secret, its value read from stdin")
    setter.add_argument("environment")
    setter.add_argument("name", help="the secret's name, as {secret: NAME} in group_data")
    for action, text in (("check", "list the sealed secrets' names (never a value)"),
                         ("rotate-key", "seal again to the public keys in secrets/recipients.txt"),
                         ("edit", "edit the sealed file with $EDITOR on a copy in memory (/dev/shm)")):
        sub.add_parser(action, help=text).add_argument("environment")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG


def run(args: argparse.Namespace) -> int:
    """Run ``mooring secrets ACTION``; returns the exit code."""
    from mooring.declare import sealed

    if args.action == "keygen":
        print(f"public key (add it to {sealed.SEALED_DIR}/{sealed.RECIPIENTS}): {sealed.generate_identity()}")
        return 0
    if args.action == "set":
        return _set(args.environment, args.name)
    values = sealed.open_sealed(args.environment)
    if args.action == "check":
        where = sealed.sealed_file(args.environment)
        print(f"{where}: {len(values)} secret(s) sealed: {', '.join(sorted(values)) or 'none'}")
        return 0
    if args.action == "rotate-key":
        print(f"sealed {len(values)} secret(s) again: {sealed.seal(args.environment, values)}")
        return 0
    return _edit(args.environment, values)


def _set(environment: str, name: str) -> int:
    import re

    from mooring.declare import sealed

    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
        print(f"mooring secrets: {name!r} is no secret name (capitals, digits and _)", file=sys.stderr)
        return 1
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"{name} (not shown): ")
    else:
        value = sys.stdin.read().removesuffix("\n")
    if not value:
        print("mooring secrets: an empty value is not sealed", file=sys.stderr)
        return 1
    values = sealed.open_sealed(environment)
    what = "replaced" if name in values else "added"
    values[name] = value
    print(f"{name} {what} in {sealed.seal(environment, values)}")
    return 0


def _edit(environment: str, values: dict[str, str]) -> int:
    """$EDITOR on a 0600 copy in /dev/shm (memory, never a disk), sealed again afterwards, removed."""
    from mooring.declare import sealed
    from mooring.declare.secrets import parse_dotenv, quote_env_value

    if not os.path.isdir("/dev/shm"):
        print("mooring secrets: no /dev/shm to edit in memory: use mooring secrets set", file=sys.stderr)
        return 1
    folder = tempfile.mkdtemp(prefix="mooring-secrets-", dir="/dev/shm")
    path = os.path.join(folder, f"{environment}.env")
    try:
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
            handle.write("".join(f"{k}={quote_env_value(v)}\n" for k, v in sorted(values.items())))
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        if subprocess.run(["sh", "-c", f'{editor} "$1"', "mooring-secrets-edit", path]).returncode != 0:
            print("mooring secrets: the editor failed: nothing changed", file=sys.stderr)
            return 1
        with open(path, encoding="utf-8") as handle:
            edited = parse_dotenv(handle.read())
        print(f"sealed {len(edited)} secret(s): {sealed.seal(environment, edited)}")
        return 0
    except ValueError as exc:
        print(f"mooring secrets: not saved, the edited list is malformed: {exc}", file=sys.stderr)
        return 1
    finally:
        if os.path.exists(path):
            os.remove(path)
        os.rmdir(folder)
