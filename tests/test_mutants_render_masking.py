"""Secret masking of the files a release keeps (declare/render.py: ``mask_secrets``,
``unmask_secrets``, ``masked_files``, ``MaskedFile``), the cases tests/test_secrets_at_rest.py
leaves open:

- a secret whose value starts another one's is masked as the longer one, so a rotation restores
  each with its own new value;
- dotenv lines that hold no secret (hand-written quoting, ``export``, comments) come back byte for
  byte; a comment that quotes a secret is restored too, also with U+2028 inside (a line ends at
  ``\n`` only); a secret holding U+2028 is masked and restored; a plain file is never re-quoted
  as a dotenv, by default or in ``masked_files``;
- every refusal names the file (the release) first and the secrets by name, in the singular or
  plural, with or without a ``where``; a secret named second in a shared placeholder is named too;
- ``masked_files`` keeps each file's path, mode, owner and group, refuses a secret left readable
  or a copy that would not restore (the whole message, never the value), and does not join the
  text on both sides of a placeholder into a false refusal;
- ``MaskedFile.from_dict`` of a record without ``dotenv`` is a plain file.

Host-free, no mocks: the sandbox stack of a test world rendered for real. Written for the
mutation run (docs/mutation.md).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from mooring.declare.dotenv import format_dotenv, parse_dotenv, quote_env_value
from mooring.declare.render import (MaskedFile, RenderedFile, RenderedStack, SecretMaskError, declared_secrets,
                                    mask_secrets, masked_files, render_stack, unmask_secrets)
from tests.declared_world import model_for

WHERE = "release 0002-ab: /s/app.conf"


# --- mask/unmask as functions -------------------------------------------------------------

def test_a_secret_that_starts_another_is_masked_as_the_longer_and_each_rotates_on_its_own():
    secrets = {"SHORT": "Tok3n", "LONG": "Tok3nExtra9"}
    content = "a=Tok3nExtra9 b=Tok3n c=Tok3nTok3nExtra9\n"
    masked = mask_secrets(content, secrets)
    assert masked == ("a=@@mooring-secret:LONG/*@@ b=@@mooring-secret:SHORT/*@@ "
                      "c=@@mooring-secret:SHORT/*@@@@mooring-secret:LONG/*@@\n")
    assert unmask_secrets(masked, secrets) == content
    assert unmask_secrets(masked, {"SHORT": "New1", "LONG": "Other2"}) == "a=Other2 b=New1 c=New1Other2\n"


def test_the_same_holds_in_a_dotenv_value():
    secrets = {"SHORT": "Tok3n", "LONG": "Tok3nExtra9"}
    masked = mask_secrets("URL=u:Tok3nExtra9@db\nKEY=Tok3n\n", secrets, dotenv=True)
    assert masked == "URL=u:@@mooring-secret:LONG@@@db\nKEY=@@mooring-secret:SHORT@@\n"
    assert unmask_secrets(masked, {"SHORT": "s 1", "LONG": "l2"}, dotenv=True) == "URL=u:l2@db\nKEY='s 1'\n"


HAND_KEPT_ENV = ('# kept by hand\n'
                 'export MODE=prod\n'
                 'GREETING="hello"\n'
                 "SINGLE='plain'\n"
                 'NOTE=plain # trailing note\n'
                 'PW=Zk3vQ9xxLong\n')


def test_dotenv_lines_without_a_secret_come_back_byte_for_byte():
    secrets = {"PW": "Zk3vQ9xxLong"}
    masked = mask_secrets(HAND_KEPT_ENV, secrets, dotenv=True)
    assert masked == HAND_KEPT_ENV.replace("PW=Zk3vQ9xxLong", "PW=@@mooring-secret:PW@@")
    assert "Zk3vQ9xxLong" not in masked
    assert unmask_secrets(masked, secrets, dotenv=True) == HAND_KEPT_ENV
    assert unmask_secrets(masked, {"PW": "n3w v"}, dotenv=True) == HAND_KEPT_ENV.replace("PW=Zk3vQ9xxLong",
                                                                                        "PW='n3w v'")


def test_a_dotenv_comment_quoting_a_secret_is_masked_and_restored():
    content = "# rotate Zk3vQ9xxLong soon\nPW=Zk3vQ9xxLong\n"
    masked = mask_secrets(content, {"PW": "Zk3vQ9xxLong"}, dotenv=True)
    assert masked == "# rotate @@mooring-secret:PW/*@@ soon\nPW=@@mooring-secret:PW@@\n"
    assert unmask_secrets(masked, {"PW": "Zk3vQ9xxLong"}, dotenv=True) == content
    assert unmask_secrets(masked, {"PW": "Fresh8Value"}, dotenv=True) == "# rotate Fresh8Value soon\nPW=Fresh8Value\n"


def test_a_dotenv_comment_broken_by_a_unicode_line_separator_stays_one_comment():
    """A .env line ends at ``\n`` only: an indented comment with U+2028 inside is one comment,
    masked and restored whole, not read as the entry after the separator."""
    content = "  # note\u2028PW=Zk3vQ9xxLong\nA=1\n"
    masked = mask_secrets(content, {"PW": "Zk3vQ9xxLong"}, dotenv=True)
    assert "Zk3vQ9xxLong" not in masked and masked.startswith("  # note\u2028PW=@@mooring-secret:PW")
    assert unmask_secrets(masked, {"PW": "Zk3vQ9xxLong"}, dotenv=True) == content


def test_a_dotenv_line_with_a_unicode_separator_inside_leaks_no_secret():
    """``A=1<U+2028>PW=...`` is one entry (A): the secret inside its value is masked all the same."""
    masked = mask_secrets("A=1\u2028PW=Zk3vQ9xxLong\n", {"PW": "Zk3vQ9xxLong"}, dotenv=True)
    assert "Zk3vQ9xxLong" not in masked and "@@mooring-secret:PW" in masked


def test_unmask_restores_plain_text_unless_told_the_file_is_a_dotenv():
    masked = "PW=@@mooring-secret:PW@@\n"
    assert unmask_secrets(masked, {"PW": "a b"}) == "PW=a b\n"
    assert unmask_secrets(masked, {"PW": "a b"}, dotenv=True) == "PW='a b'\n"


# (masked, secrets, dotenv, where or None, the whole message)
REFUSALS = {
    "unreadable-forms": ("x=@@mooring-secret:PW/zz@@\n", {"PW": "v"}, False, WHERE,
                         f"{WHERE}: unreadable placeholder for secret PW (forms 'zz')"),
    "ambiguous": ("k=@@mooring-secret:PW/*@@\n", {"PW": "a b"}, False, WHERE,
                  f"{WHERE}: cannot tell how the kept release wrote secret PW, and its value now would be written "
                  "differently in each way: deploy the declared state instead"),
    "ambiguous-dotenv-comment": ("# old @@mooring-secret:PW/*@@\nPW=x\n", {"PW": "a b"}, True, WHERE,
                                 f"{WHERE}: cannot tell how the kept release wrote secret PW, and its value now "
                                 "would be written differently in each way: deploy the declared state instead"),
    "ambiguous-dotenv-entry": ("X=@@mooring-secret:A,B@@\n", {"A": "one1", "B": "two2"}, True, WHERE,
                               f"{WHERE}: cannot tell how the kept release wrote secret A,B, and its value now "
                               "would be written differently in each way: deploy the declared state instead"),
    "missing-one-no-where": ("x=@@mooring-secret:GONE@@\n", {}, False, None,
                             "a masked file names secret GONE, which the stack no longer declares: declare it again "
                             "(stack.env KEY: {secret: GONE}) and provide its value to restore this file"),
    "missing-two": ("x=@@mooring-secret:GONE@@ @@mooring-secret:ALSO/j@@\n", {}, False, WHERE,
                    f"{WHERE} names secrets ALSO, GONE, which the stack no longer declares: declare them again "
                    "(stack.env KEY: {secret: ALSO}) and provide their values to restore this file"),
    "missing-second-of-shared": ("x=@@mooring-secret:A/*,B/*@@\n", {"A": "same9"}, False, WHERE,
                                 f"{WHERE} names secret B, which the stack no longer declares: declare it again "
                                 "(stack.env KEY: {secret: B}) and provide its value to restore this file"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_unmask_refusals_name_the_file_and_the_secret(case):
    masked, secrets, dotenv, where, message = REFUSALS[case]
    kwargs = {} if where is None else {"where": where}
    with pytest.raises(SecretMaskError) as caught:
        unmask_secrets(masked, secrets, dotenv, **kwargs)
    assert str(caught.value) == message


def test_a_masked_file_restored_without_a_release_names_its_path_alone():
    item = MaskedFile("/s/app.conf", "x=@@mooring-secret:GONE@@\n", "0640", "root", "root")
    with pytest.raises(SecretMaskError) as caught:
        item.restored({})
    assert str(caught.value).startswith("/s/app.conf names secret GONE, which the stack no longer declares")
    with pytest.raises(SecretMaskError) as caught:
        item.restored({}, release="release 0004-cd")
    assert str(caught.value).startswith("release 0004-cd: /s/app.conf names secret GONE,")


def test_a_record_without_dotenv_is_a_plain_file():
    item = MaskedFile.from_dict({"path": "/s/app.conf", "content": "PW=@@mooring-secret:PW@@\n", "mode": "0640",
                                 "owner": "root", "group": "app"})
    assert item == MaskedFile("/s/app.conf", "PW=@@mooring-secret:PW@@\n", "0640", "root", "app", False)
    assert item.restored({"PW": "a b"}) == "PW=a b\n"


# --- masked_files on the sandbox stack, rendered for real ---------------------------------

PG = "Pg4Pass9Word7Long"


def sandbox(monkeypatch, jwt: str):
    """(rendered stack, stack) of the sandbox's first host with these secrets (world active)."""
    monkeypatch.setenv("MOORING_SECRET_POSTGRES_PASSWORD", PG)
    monkeypatch.setenv("MOORING_SECRET_JWT_SECRET", jwt)
    model = model_for("sandbox")
    return render_stack(model), model.stack


def with_files(rendered: RenderedStack, *extra: RenderedFile, env: str | None = None,
               env_path: str = "") -> RenderedStack:
    """``rendered`` plus ``extra`` files, its .env content replaced by ``env`` when given."""
    files = [replace(f, content=env) if env is not None and f.path == env_path else f for f in rendered.files]
    return replace(rendered, files=[*files, *extra])


def test_masked_files_keep_path_mode_owner_group_and_a_plain_file_is_not_requoted(world, monkeypatch):
    jwt = "Jwt 9 Tail4Value"
    rendered, stack = sandbox(monkeypatch, jwt)
    conf = RenderedFile(f"{stack.dir}/worker.conf", f"JWT_SECRET={jwt}\nuser = app\n", "0640", "app", "appgroup",
                        secret=True)
    kept = masked_files(with_files(rendered, conf), stack)
    assert [(m.path, m.mode, m.owner, m.group, m.dotenv) for m in kept] == [
        (stack.env_file, "0600", "root", "root", True),
        (conf.path, "0640", "app", "appgroup", False)]
    assert kept[1].content == "JWT_SECRET=@@mooring-secret:JWT_SECRET/cdjkqr@@\nuser = app\n"
    for item in kept:
        assert jwt not in item.content and PG not in item.content
    secrets = declared_secrets(stack)
    assert kept[0].restored(secrets) == rendered.file(stack.env_file).content
    assert kept[1].restored(secrets) == conf.content


def test_text_beside_a_placeholder_never_reads_as_a_secret(world, monkeypatch):
    """The JWT starts with "XX" and ends like the text after the password: only a copy that still
    shows a secret is refused, and this one shows none."""
    rendered, stack = sandbox(monkeypatch, "XX9Tail4Jwt")
    conf = RenderedFile(f"{stack.dir}/pair.conf", f"pair = {PG}9Tail4Jwt\n", "0600", "root", "root", secret=True)
    kept = masked_files(with_files(rendered, conf), stack)
    assert kept[1].content == "pair = @@mooring-secret:POSTGRES_PASSWORD/*@@9Tail4Jwt\n"
    assert kept[1].restored(declared_secrets(stack)) == conf.content


def test_a_secret_written_in_a_form_mooring_cannot_mask_is_refused(world, monkeypatch):
    """A .env value that embeds the secret JSON-escaped: a .env value is masked only as read back."""
    jwt = 'Jwt"Quote9Value'
    rendered, stack = sandbox(monkeypatch, jwt)
    env = rendered.file(stack.env_file).content + """APP_JSON='{"jwt": "Jwt\\"Quote9Value"}'\n"""
    with pytest.raises(SecretMaskError) as caught:
        masked_files(with_files(rendered, env=env, env_path=stack.env_file), stack)
    text = str(caught.value)
    assert text == (f"{stack.env_file}: a secret value is written in a form mooring cannot mask, so no release "
                    "could keep this file without it: write the secret with a template filter (yq, cs, sh) or as "
                    "a plain value")
    assert "Quote9Value" not in text


def test_a_masked_copy_that_would_not_restore_the_same_bytes_is_refused(world, monkeypatch):
    """A .env line quoted otherwise than mooring quotes it: the restore would re-quote it."""
    rendered, stack = sandbox(monkeypatch, "Jwt8Plain7Value")
    env = rendered.file(stack.env_file).content
    assert f"\nPOSTGRES_PASSWORD={PG}\n" in env
    env = env.replace(f"\nPOSTGRES_PASSWORD={PG}\n", f'\nPOSTGRES_PASSWORD="{PG}"\n')
    with pytest.raises(SecretMaskError) as caught:
        masked_files(with_files(rendered, env=env, env_path=stack.env_file), stack)
    text = str(caught.value)
    assert text == (f"{stack.env_file}: its masked copy would not restore to the same bytes (a secret value "
                    "overlaps a mooring placeholder): change that secret value")
    assert PG not in text and "Jwt8Plain7Value" not in text


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x1c"])
def test_a_secret_holding_a_unicode_line_separator_is_kept_and_restored(world, monkeypatch, separator):
    """A .env line ends only at ``\\n`` (Compose and the host's awk read it so): a secret holding
    U+2028 (or another character Python's splitlines breaks at) is one quoted value, masked and
    restored to the same bytes, not a refused deploy."""
    jwt = f"Jwt9{separator}Tail7Value"
    rendered, stack = sandbox(monkeypatch, jwt)
    kept = masked_files(rendered, stack)
    env = next(item for item in kept if item.path == stack.env_file)
    assert jwt not in env.content and "@@mooring-secret:JWT_SECRET" in env.content
    assert env.restored(declared_secrets(stack)) == rendered.file(stack.env_file).content
    assert parse_dotenv(rendered.file(stack.env_file).content)["JWT_SECRET"] == jwt


@pytest.mark.parametrize("char", ["\\", '"', "$", "\n", "\r", "\t"])
def test_a_dotenv_written_into_another_file_is_masked_in_its_double_quoted_form(char):
    """A secret with a single quote and ``char`` is double-quoted by the dotenv writer, ``char``
    backslash-escaped; a file holding such a dotenv that is not the stack's .env is masked as
    text: the escaped form is found and masked, and restored to the same bytes."""
    secret = f"it's{char}Zk3vQ9xxLong"
    content = format_dotenv({"PW": secret, "A": "1"})
    assert quote_env_value(secret) in content and secret not in content  # only the escaped form is written
    masked = mask_secrets(content, {"PW": secret}, dotenv=False)
    assert "Zk3vQ9xxLong" not in masked
    assert unmask_secrets(masked, {"PW": secret}) == content
