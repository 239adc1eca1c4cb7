"""Telnet option negotiation: the terminal-type exchange (RFC 1091) on the wire, command by command.

The course's Telnet example: which terminal is at the other end (option 24, TERMINAL-TYPE)? client1
connects to login.poly.edu's Telnet server with the project's client, which prints each negotiation as
it happens, and logs in as alice. On the servers LAN the bytes show the exchange in RFC 1091's order:
the server asks the client to use the option (IAC DO 24), the client agrees (IAC WILL 24), the server
asks for the type (IAC SB 24 1 IAC SE, SEND) and the client answers (IAC SB 24 0 'VT220' IAC SE, IS).
The course's slide draws the same four commands with the two sides' roles swapped (the client saying
WILL first and the server answering with the type); the RFC gives the asking to the server, and so does
this scenario. The password is typed only after the server has taken over echoing (IAC WILL ECHO,
answered IAC DO ECHO), so the client's terminal does not show it; the ladder shows who sent each command.
"""

import re

from scenarios.framework.dialogue import Dialogue, Says
from scenarios.framework.textbook import tcp_handshake
from services.telnet.codes import DO, ECHO, IAC, SB, SE, TTYPE, WILL

LAB = "campus"
PORT = 23
DO_TTYPE, WILL_TTYPE = bytes([IAC, DO, TTYPE]), bytes([IAC, WILL, TTYPE])
SEND = bytes([IAC, SB, TTYPE, 1, IAC, SE])
IS_VT220 = bytes([IAC, SB, TTYPE, 0]) + b"VT220" + bytes([IAC, SE])


def run(ctx) -> None:
    client, login = ctx.host("client1"), ctx.host("login")
    ctx.mark("telnet")
    ctx.python("client1", ["-m", "services.telnet", "client", login.ip, "--term", "vt220",
                           "--send", "alice", "--send", "alice-pw", "--send", "echo TERM=$TERM", "--send", "exit"],
               timeout=60)
    ctx.expect(
        tcp_handshake("servers", client, login, PORT, after="telnet"),
        Dialogue("servers", client, login, PORT, [
            Says("server", DO_TTYPE, skip=True, exact=True),
            Says("client", WILL_TTYPE, skip=True, exact=True),
            Says("server", SEND, skip=True, exact=True),
            Says("client", IS_VT220, skip=True, exact=True),
        ], "RFC 1091's order: the server sends IAC DO 24, the client IAC WILL 24, the server IAC SB 24 1 IAC SE "
           "(SEND), the client IAC SB 24 0 'VT220' IAC SE (IS)", after="telnet"),
        Dialogue("servers", client, login, PORT, [
            Says("server", bytes([IAC, WILL, ECHO]), skip=True, exact=True),
            Says("client", bytes([IAC, DO, ECHO]), skip=True, exact=True),
            Says("server", "Password: ", skip=True),
            Says("client", "alice-pw\r\n", skip=True, exact=True),
            Says("server", re.compile(r"TERM=vt220$"), skip=True),  # after the terminal codes bash may send first
        ], "the server echoes (IAC WILL ECHO, IAC DO ECHO) before the password is typed, and the shell gets "
           "the negotiated terminal type (TERM=vt220)", after="telnet"),
    )
    ctx.message_ladder("servers", client, login, PORT, "Telnet: option negotiation, then the login",
                       after="telnet", columns=["client1", "login"])
