"""The sending user agent (like the course's Alice): composes a message with the stdlib email package, with
attachments as base64 MIME parts, and submits it to a mail server over SMTP."""

from __future__ import annotations

import mimetypes
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path


def compose(sender: str, to: list[str], subject: str, body: str, attachments: list[Path] = ()) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(body)
    for path in attachments:
        ctype, _ = mimetypes.guess_type(path.name)
        maintype, subtype = (ctype or "application/octet-stream").split("/", 1)
        # text attachments too go as base64, so they arrive byte for byte, whatever their line ends
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name,
                           cte="base64")
    return msg.as_bytes()
