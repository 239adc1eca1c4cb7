"""The mail queue: with Bob's server down, Alice's server accepts her messages, keeps them and retries;
once Bob's server is back, each arrives, none lost and none twice.

Kurose & Ross 2.3.1 ("if Bob's server is down, the message stays in Alice's server's queue and it tries
again later"). mail-hamburger's SMTP server is stopped; client1 submits three messages to mail-crepes;
the capture shows mail-crepes trying port 25 of mail-hamburger again and again and being refused; the
server is started again (its own queue and mailboxes kept), the messages go across, and Bob's POP3
download has each of them exactly once.
"""

from scenarios.course.mail_relay_and_pop3 import bob_reads
from scenarios.course.smtp import send, wait_logged
from scenarios.framework.assertions import Present
from scenarios.framework.describers.smtp import SameMessage
from scenarios.framework.match import tcp

LAB = "campus"
MESSAGES = 3


def run(ctx) -> None:
    alice, bob = ctx.host("client1"), ctx.host("client3")
    crepes, hamburger = ctx.host("mail-crepes"), ctx.host("mail-hamburger")
    alice_smtp = ctx.service("mail-crepes", "smtp-server")
    bob_reads(ctx)  # an empty mailbox to start from
    down = ctx.service("mail-hamburger", "smtp-server")
    ctx.stop_service(down)
    since = len(ctx.service_log(alice_smtp))
    ctx.mark("down")
    for i in range(1, MESSAGES + 1):
        send(ctx, f"queued {i}")
    ctx.wait_log(alice_smtp, "next try in 4 s", since=since, timeout=15)  # a second attempt failed too
    ctx.mark("up")
    ctx.start_service("mail-hamburger", "smtp-server", down.args, keep=True)
    wait_logged(ctx, alice_smtp, "relayed to mail.hamburger.edu", MESSAGES, since=since)
    ctx.mark("read")
    bob_reads(ctx)
    ctx.expect(
        Present("internet", tcp(crepes, hamburger, dport=25, flags="S").named("mail-crepes tries port 25"),
                "while Bob's server is down, Alice's server tries to connect again and again", count=2,
                after="down", before="up"),
        Present("internet", tcp(hamburger, crepes, sport=25, has="R").named("mail-hamburger refuses (RST)"),
                "and is refused: nothing listens on port 25", after="down", before="up"),
        SameMessage("internet", alice, crepes, bob, hamburger,
                    f"once it is back, each of the {MESSAGES} queued messages reaches Bob exactly once, byte for "
                    "byte", hops=2, after="down"),
    )
    ctx.ladder("internet", tcp(crepes, hamburger, dport=25, flags="S") | tcp(hamburger, crepes, sport=25, has="R"),
               "while mail.hamburger.edu is down: mail.crepes.fr tries again and again, and is refused",
               after="down", before="up", columns=["mail-crepes", "mail-hamburger"])
    ctx.message_ladder("internet", crepes, hamburger, 25, "back up: the queued messages are relayed",
                       after="up", columns=["mail-crepes", "mail-hamburger"])
