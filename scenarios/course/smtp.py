"""SMTP between mail servers: crepes.fr's server looks up the MX of hamburger.edu, then hands over Alice's
message in the textbook's dialogue (220, EHLO, MAIL FROM, RCPT TO, DATA, 354, the message, ".", 250, QUIT, 221).

Kurose & Ross 2.3.1. Alice's user agent on client1 submits her message to her own server mail-crepes
(mail.crepes.fr). That server asks the campus's DNS for the MX of hamburger.edu before anything else, then
opens a TCP connection to port 25 of mail-hamburger (mail.hamburger.edu, the MX), and the capture on the
`internet` segment shows the dialogue as the course prints it.
"""

from scenarios.framework.assertions import InOrder, Step
from scenarios.framework.describers.smtp import mx_query
from scenarios.framework.dialogue import Dialogue, Says
from scenarios.framework.match import tcp
from scenarios.framework.textbook import tcp_handshake

LAB = "campus"
BODY = "Do you like ketchup?\nHow about pickles?\n"


def send(ctx, subject: str, *extra: str) -> None:
    """Alice's user agent on client1 submits one message for bob@hamburger.edu to mail.crepes.fr."""
    ctx.python("client1", ["-m", "services.smtp", "send", "--server", ctx.host("mail-crepes").ip, "--helo",
                           "client1.poly.edu", "--from", "alice@crepes.fr", "--to", "bob@hamburger.edu",
                           "--subject", subject, "--body", BODY, *extra], timeout=60)


def wait_logged(ctx, rec, text: str, count: int = 1, since: int = 0, timeout: float = 20.0) -> None:
    """Until the service's log shows text `count` times after its first `since` characters (the capture
    cannot show a message reaching a mailbox); the assertions then say what the wire carried."""
    for _ in range(count):
        if not ctx.wait_log(rec, text, since=since, timeout=timeout):
            return
        since = ctx.service_log(rec).find(text, since) + len(text)


def run(ctx) -> None:
    crepes, hamburger = ctx.host("mail-crepes"), ctx.host("mail-hamburger")
    bob_smtp = ctx.service("mail-hamburger", "smtp-server")
    since = len(ctx.service_log(bob_smtp))
    ctx.mark("send")
    send(ctx, "lunch")
    wait_logged(ctx, bob_smtp, "delivered to bob's mailbox", since=since)
    ctx.expect(
        InOrder("internet", [
            Step(mx_query(crepes, "hamburger.edu"), "MX look-up"),
            Step(tcp(crepes, hamburger, dport=25, flags="S").named(
                "mail-crepes opens a TCP connection to port 25 of mail-hamburger"), "SYN"),
        ], "the sending server looks up the MX of hamburger.edu in DNS before it connects to port 25",
            after="send"),
        tcp_handshake("internet", crepes, hamburger, 25, after="send"),
        Dialogue("internet", crepes, hamburger, 25, [
            Says("server", "220 hamburger.edu"),
            Says("client", "EHLO crepes.fr"), Says("server", "250"),
            Says("client", "MAIL FROM:<alice@crepes.fr>"), Says("server", "250"),
            Says("client", "RCPT TO:<bob@hamburger.edu>"), Says("server", "250"),
            Says("client", "DATA"), Says("server", "354"),
            Says("client", "Do you like ketchup?\r\n", skip=True, exact=True),
            Says("client", "How about pickles?\r\n", exact=True),
            Says("client", ".\r\n", exact=True), Says("server", "250"),
            Says("client", "QUIT"), Says("server", "221"),
        ], "the textbook dialogue: 220, EHLO 250, MAIL FROM 250, RCPT TO 250, DATA 354, the message, "
           "'.' 250, QUIT 221", after="send"),
    )
    ctx.message_ladder("internet", crepes, hamburger, 25, "SMTP from crepes.fr to hamburger.edu",
                       after="send", columns=["mail-crepes", "mail-hamburger"])
