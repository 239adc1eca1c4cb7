"""Mail end to end: Alice's user agent submits to her server, which relays to Bob's; Bob reads it with POP3
(USER, PASS, LIST, RETR, DELE, QUIT), and gets byte for byte what Alice sent, with a Received: line per hop.

Kurose & Ross 2.3 (figure 2.16 and the POP3 dialogue of 2.3.4). client1 (Alice) submits to mail-crepes,
which relays to mail-hamburger; client3 (Bob's user agent) then downloads and deletes with POP3.
"""

from scenarios.course.smtp import send, wait_logged
from scenarios.framework.describers.smtp import SameMessage
from scenarios.framework.dialogue import Dialogue, Says

LAB = "campus"


def bob_reads(ctx) -> None:
    ctx.python("client3", ["-m", "services.pop3", "read", "--server", ctx.host("mail-hamburger").ip,
                           "--user", "bob", "--password", "bob-pw", "--delete"], timeout=60)


def run(ctx) -> None:
    alice, bob = ctx.host("client1"), ctx.host("client3")
    crepes, hamburger = ctx.host("mail-crepes"), ctx.host("mail-hamburger")
    bob_smtp = ctx.service("mail-hamburger", "smtp-server")
    ctx.mark("clean")
    bob_reads(ctx)  # an empty mailbox to start from, whatever ran before
    since = len(ctx.service_log(bob_smtp))
    ctx.mark("send")
    send(ctx, "relay and POP3")
    wait_logged(ctx, bob_smtp, "delivered to bob's mailbox", since=since)
    ctx.mark("read")
    bob_reads(ctx)
    ctx.expect(
        Dialogue("internet", alice, crepes, 25, [
            Says("server", "220 crepes.fr"), Says("client", "EHLO"), Says("server", "250"),
            Says("client", "MAIL FROM:<alice@crepes.fr>"), Says("server", "250"),
            Says("client", "RCPT TO:<bob@hamburger.edu>"), Says("server", "250"),
            Says("client", "DATA"), Says("server", "354"),
            Says("client", ".\r\n", skip=True, exact=True), Says("server", "250"),
        ], "Alice's user agent submits the message to her own server, mail.crepes.fr", after="send", before="read"),
        Dialogue("internet", crepes, hamburger, 25, [
            Says("client", "MAIL FROM:<alice@crepes.fr>", skip=True), Says("server", "250"),
            Says("client", "RCPT TO:<bob@hamburger.edu>"), Says("server", "250"),
            Says("client", ".\r\n", skip=True, exact=True), Says("server", "250"),
        ], "her server relays it to Bob's, mail.hamburger.edu", after="send", before="read"),
        Dialogue("internet", bob, hamburger, 110, [
            Says("server", "+OK"),
            Says("client", "USER bob"), Says("server", "+OK"),
            Says("client", "PASS bob-pw"), Says("server", "+OK"),
            Says("client", "LIST"), Says("server", "+OK"),
            Says("client", "RETR 1"), Says("server", "+OK"),
            Says("client", "DELE 1"), Says("server", "+OK"),
            Says("client", "QUIT"), Says("server", "+OK"),
        ], "Bob reads with POP3: USER, PASS, LIST, RETR, DELE, QUIT, each answered +OK", after="read"),
        SameMessage("internet", alice, crepes, bob, hamburger,
                    "the message Bob retrieved is byte for byte the one Alice sent, below one Received: line "
                    "per hop (two)", hops=2, after="send"),
    )
    ctx.message_ladder("internet", bob, hamburger, 110, "POP3: Bob downloads and deletes", after="read",
                       columns=["client3", "mail-hamburger"])
