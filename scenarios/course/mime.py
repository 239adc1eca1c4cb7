"""MIME: a message with an attachment travels base64-encoded in a MIME part and is decoded identically at
the other end.

Kurose & Ross 2.3.3. Alice's user agent on client1 attaches a picture (binary bytes) to her message; the
capture shows the message on the wire as 7-bit text, multipart/mixed, the picture in a part with
`Content-Transfer-Encoding: base64`; Bob's POP3 download decodes to the very same bytes.
"""

import base64
import email
import email.policy

from scenarios.course.mail_relay_and_pop3 import bob_reads
from scenarios.course.smtp import send, wait_logged
from scenarios.framework.assertions import Present
from scenarios.framework.describers.smtp import SameMessage
from scenarios.framework.match import payload, tcp

LAB = "campus"
PICTURE = bytes((i * 37 + 11) % 256 for i in range(3000))  # every byte value, none of it text
FOLDER = "/tmp/wirelab-mime"


def picture_intact(message: bytes) -> str | None:
    if any(b > 127 for b in message):
        return "holds 8-bit bytes: the picture was not encoded as 7-bit text"
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    if parsed.get_content_type() != "multipart/mixed":
        return f"is {parsed.get_content_type()}, not multipart/mixed"
    parts = [p for p in parsed.iter_attachments() if p.get_filename() == "crepe.jpg"]
    if len(parts) != 1:
        return "has no part named crepe.jpg"
    part = parts[0]
    if part.get_content_type() != "image/jpeg" or part["Content-Transfer-Encoding"] != "base64":
        return f"crepe.jpg is {part.get_content_type()} in {part['Content-Transfer-Encoding']}, not image/jpeg in base64"
    if base64.b64decode(part.get_payload()) != PICTURE:
        return "crepe.jpg decodes to other bytes than Alice attached"
    return None


def run(ctx) -> None:
    alice, bob = ctx.host("client1"), ctx.host("client3")
    crepes, hamburger = ctx.host("mail-crepes"), ctx.host("mail-hamburger")
    bob_smtp = ctx.service("mail-hamburger", "smtp-server")
    bob_reads(ctx)
    ctx.python("client1", ["-c", f"import os; os.makedirs({FOLDER!r}, exist_ok=True); open({FOLDER!r} + "
                                 "'/crepe.jpg', 'wb').write(bytes((i * 37 + 11) % 256 for i in range(3000)))"])
    since = len(ctx.service_log(bob_smtp))
    ctx.mark("send")
    send(ctx, "Picture of yummy crepe.", "--attach", f"{FOLDER}/crepe.jpg")
    wait_logged(ctx, bob_smtp, "delivered to bob's mailbox", since=since)
    ctx.mark("read")
    bob_reads(ctx)
    ctx.expect(
        Present("internet", tcp(alice, crepes, dport=25) & payload(b"Content-Transfer-Encoding: base64"),
                "the picture crosses the wire in a part marked Content-Transfer-Encoding: base64", after="send"),
        SameMessage("internet", alice, crepes, bob, hamburger,
                    "Bob's copy is Alice's message byte for byte, and its image/jpeg part decodes (base64) to "
                    "the very bytes she attached", hops=2, after="send", check=picture_intact),
    )
    ctx.message_ladder("internet", crepes, hamburger, 25, "the MIME message relayed from crepes.fr to hamburger.edu",
                       after="send", columns=["mail-crepes", "mail-hamburger"])
