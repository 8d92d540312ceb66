"""The development mail catcher: a real aiosmtpd sink, fed over SMTP, read back from disk."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest

from clientvault.errors import NotFound
from clientvault.messaging.catcher import catching_mail, caught_message, caught_messages
from clientvault.settings import Settings, SmtpSettings


def _send(smtp: SmtpSettings, subject: str) -> None:
    mail = EmailMessage()
    mail["From"] = smtp.from_address
    mail["To"] = "zoe@example.com"
    mail["Subject"] = subject
    mail.set_content("Open https://shop.example/preferences/verify?token=abc to confirm.")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as client:
        client.send_message(mail)


def test_in_dev_mail_is_caught_and_read_back_newest_first(tmp_path: Path) -> None:
    settings = Settings(env="dev", data_dir=tmp_path)
    with catching_mail(settings) as serving:
        assert serving.smtp.enabled
        assert serving.smtp.host == "127.0.0.1"
        _send(serving.smtp, "first")
        _send(serving.smtp, "second")
    messages = caught_messages(settings)
    assert [m.subject for m in messages] == ["second", "first"]
    assert messages[0].to == "zoe@example.com"
    opened = caught_message(settings, messages[1].id)
    assert "preferences/verify?token=abc" in opened.text
    assert (tmp_path / "dev-mailbox").stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "dev-mailbox").iterdir()} == {0o600}
    with pytest.raises(NotFound):
        caught_message(settings, "../../etc/passwd")
    with pytest.raises(NotFound):
        caught_message(settings, "0" * 19 + "-0000abcd")


@pytest.mark.parametrize(
    "settings",
    [
        Settings(env="test", data_dir=Path("unused")),
        Settings(env="dev", data_dir=Path("unused"), smtp=SmtpSettings(enabled=True)),
        Settings(env="dev", data_dir=Path("unused"), dev_mail={"enabled": False}),
    ],
)
def test_nothing_is_caught_outside_dev_or_with_a_real_relay(settings: Settings) -> None:
    with catching_mail(settings) as serving:
        assert serving is settings
    assert caught_messages(settings) == []
