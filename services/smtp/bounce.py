"""The bounce: a delivery status notification (RFC 3464) telling the sender which recipients failed and why,
sent from the null reverse-path so that it can never bounce in turn."""

from __future__ import annotations

from email.message import EmailMessage, Message
from email.policy import SMTP
from email.utils import formatdate, make_msgid


def build_bounce(hostname: str, sender: str, queue_id: str, arrival: float, failed: dict[str, str],
                 original: bytes, now: float) -> bytes:
    """failed maps each recipient to (enhanced status, diagnostic), e.g. "5.4.7 no answer for 5 days"."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Mail Delivery System <MAILER-DAEMON@{hostname}>"
    msg["To"] = sender
    msg["Subject"] = "Undelivered Mail Returned to Sender"
    msg["Date"] = formatdate(now, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=hostname)
    human = "\n".join(f"<{r}>: {why}" for r, why in failed.items())
    msg.set_content(f"This is the mail system at host {hostname}.\n\nYour message (queue id {queue_id}) "
                    f"could not be delivered to the following recipients:\n\n{human}\n")
    msg.make_mixed()
    msg.replace_header("Content-Type", 'multipart/report; report-type="delivery-status"')
    status = EmailMessage(policy=SMTP)
    status["Content-Type"] = "message/delivery-status"
    blocks = [_fields(("Reporting-MTA", f"dns; {hostname}"), ("X-Queue-ID", queue_id),
                      ("Arrival-Date", formatdate(arrival, usegmt=True)))]
    blocks += [_fields(("Final-Recipient", f"rfc822; {r}"), ("Action", "failed"), ("Status", why.split()[0]),
                       ("Diagnostic-Code", f"smtp; {why}")) for r, why in failed.items()]
    status.set_payload(blocks)
    msg.attach(status)
    headers = EmailMessage(policy=SMTP)
    headers.set_payload(original.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace") + "\r\n")
    headers["Content-Type"] = "text/rfc822-headers"
    msg.attach(headers)
    return msg.as_bytes()


def _fields(*pairs: tuple[str, str]) -> Message:
    block = Message(policy=SMTP)
    for name, value in pairs:
        block[name] = value
    return block
