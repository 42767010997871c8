"""The exact bytes of a notice (`notices.delivery.compose`): read back by the standard library's parser, every header
and body is what was given, for awkward inputs; lines within the limits, CRLF only, the same inputs the same bytes."""

from __future__ import annotations

import email
import email.policy
import random
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.utils import parseaddr

import pytest

from breachkit.notices.delivery import compose, encoded_words

NOW = datetime(2026, 3, 21, 9, 0, tzinfo=UTC)
AWKWARD = [
    ("Lea Köhler", "Sicherheitsvorfall: Ihre Daten", "Hallo Lea,\nIhr Konto wurde genutzt.\n"),
    ("", "Plain ASCII subject", "text\n"),
    ("Jean \"the\" O'Neil, Jr.", "Incident de sécurité — votre compte " * 4, "= at the start\n=3D literal\n"),
    ("Ζωή Παπαδοπούλου-Κωνσταντινίδου και Αλέξανδρος", "🚨 " * 30, "trailing spaces   \nand tabs\t\t\n"),
    ("名前 " * 20, "x" * 200, "a very long line " * 50 + "\n"),
    ("Ann <script>", "Re: =?utf-8?b?Zm9v?= literal", "CRLF\r\nCR only\rLF\n.\n..\nFrom the start\n"),
]


def decoded(raw: str) -> str:
    return str(make_header(decode_header(raw)))


@pytest.mark.parametrize("name,subject,text", AWKWARD)
def test_every_field_and_body_reads_back_as_given(name, subject, text):
    data = compose(sender="privacy@heimwatt.example", sender_name="HeimWatt Datenschutz — Ärger", to_address=
                   "lea@example.org", to_name=name, subject=subject, text=text, html=f"<p>{text}</p>",
                   message_id="<BK-2026-0001.subject.v1.abc@heimwatt.example>", date=NOW)
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 78 or all(len(line) <= 998 for line in lines)
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert all(len(line) <= 78 for line in head.split("\r\n") if "=?utf-8?b?" in line)  # RFC 2047 §2
    message = email.message_from_bytes(data)
    assert decoded(message["Subject"]) == subject.strip()
    assert parseaddr(decoded(message["To"])) == (name.strip(), "lea@example.org")
    assert decoded(message["From"]) == "HeimWatt Datenschutz — Ärger <privacy@heimwatt.example>"
    assert message["Message-ID"] == "<BK-2026-0001.subject.v1.abc@heimwatt.example>"
    assert message["Date"] == "Sat, 21 Mar 2026 09:00:00 +0000" and message["MIME-Version"] == "1.0"
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    plain = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    normal = text.replace("\r\n", "\n").replace("\r", "\n")
    assert plain.replace("\r\n", "\n") == normal and html.replace("\r\n", "\n") == f"<p>{normal}</p>"
    again = compose(sender="privacy@heimwatt.example", sender_name="HeimWatt Datenschutz — Ärger", to_address=
                    "lea@example.org", to_name=name, subject=subject, text=text, html=f"<p>{text}</p>",
                    message_id="<BK-2026-0001.subject.v1.abc@heimwatt.example>", date=NOW)
    assert again == data


def test_a_plain_text_message_has_no_multipart():
    data = compose(sender="a@b.example", sender_name="", to_address="c@d.example", to_name="", subject="s",
                   text="only text\n", html=None, message_id="<m@b>", date=NOW)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().replace("\r\n", "\n") == "only text\n"


def test_encoded_words_never_split_a_character_and_stay_short():
    rng = random.Random(7)
    alphabet = "aé€𝄞中 ß\u200b"
    for _ in range(300):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        words = encoded_words(value)
        assert all(len(w) <= 75 for w in words)
        assert str(make_header(decode_header(" ".join(words)))) == value
