"""Speaking a protocol by hand: the course's Telnet client on a port that is not Telnet's.

The course's "try it yourself" (Kurose & Ross 2.3.1): `telnet servername 25`, then type the SMTP
commands. client1 runs the project's Telnet client against the lab's mail server on port 25 when the
lab has one (a node named mail-crepes, mail.crepes.fr), and until then against server1's uppercase
server on port 12000 (the course's TCPServer). The client negotiates nothing on a port other than 23,
so the capture holds the lines exactly as typed, each answered by the server, and not one IAC byte.
"""

from scenarios.framework.assertions import Absent
from scenarios.framework.dialogue import Dialogue, Says
from scenarios.framework.match import payload, tcp
from scenarios.framework.textbook import tcp_handshake

LAB = "campus"
MAIL = "mail-crepes"
SMTP = ["HELO client1.poly.edu", "MAIL FROM:<alice@crepes.fr>", "RCPT TO:<bob@hamburger.edu>", "DATA",
        "Subject: typed by hand", "", "Hello Bob, this came through a Telnet client.", ".", "QUIT"]
SENTENCE = "hello from a telnet client"
SEEN_ON = "lan1"  # client1's LAN: the whole dialogue crosses it, wherever the server is


def run(ctx) -> None:
    client = ctx.host("client1")
    if MAIL in ctx.lab.nodes:
        server, port, lines = ctx.host(MAIL), 25, SMTP
    else:
        ctx.note(f"no {MAIL} node in this lab yet: the uppercase server on server1 port 12000 stands in")
        server, port, lines = ctx.host("server1"), 12000, [SENTENCE]
    ctx.mark("typing")
    args = ["-m", "services.telnet", "client", server.ip, str(port)]
    for line in lines:
        args += ["--send", line]
    ctx.python("client1", args, timeout=90)
    if port == 25:
        steps = [Says("server", "220"), Says("client", "HELO client1.poly.edu\r\n", exact=True),
                 Says("server", "250"), Says("client", "MAIL FROM:<alice@crepes.fr>\r\n", exact=True),
                 Says("server", "250"), Says("client", "RCPT TO:<bob@hamburger.edu>\r\n", exact=True),
                 Says("server", "250"), Says("client", "DATA\r\n", exact=True), Says("server", "354"),
                 Says("client", ".\r\n", skip=True, exact=True), Says("server", "250"),
                 Says("client", "QUIT\r\n", exact=True), Says("server", "221")]
        what = "the SMTP dialogue as typed at the Telnet client: 220, HELO 250, MAIL 250, RCPT 250, DATA 354, . 250, QUIT 221"
    else:
        steps = [Says("client", f"{SENTENCE}\r\n", exact=True),
                 Says("server", f"{SENTENCE.upper()}\r\n", exact=True)]
        what = "the line as typed at the Telnet client, and the server's answer in upper case"
    ctx.expect(
        tcp_handshake(SEEN_ON, client, server, port, after="typing"),
        Dialogue(SEEN_ON, client, server, port, steps, what, after="typing"),
        Absent(SEEN_ON, tcp(client, server, dport=port) & payload(b"\xff"),
               "the client sends no Telnet command (no IAC byte) to a port that is not Telnet's", after="typing"),
    )
    ctx.message_ladder(SEEN_ON, client, server, port, f"A Telnet client on port {port}: the lines as typed",
                       after="typing", columns=["client1", server.name])
