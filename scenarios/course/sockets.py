"""Sockets: the course's uppercase client/server on port 12000, UDP with no handshake, TCP with one.

Kurose & Ross 2.7 (UDPClient/UDPServer, TCPClient/TCPServer). client1 (lan1) sends a sentence to
server1 (servers LAN) across r1 and r3, first over UDP, then over TCP. On the servers LAN the capture
shows UDP's first packet already carrying the sentence and the upper-case answer coming back as one
datagram; TCP's three-way handshake (SYN, SYN-ACK, ACK) before the first byte of data, the sentence
and its upper-case answer read from the reassembled byte stream (however TCP cut it into segments),
and the FIN teardown, each FIN acknowledged by the other side.
"""

from scenarios.framework.assertions import First
from scenarios.framework.dialogue import Dialogue, Says
from scenarios.framework.match import between, payload, udp
from scenarios.framework.textbook import TcpTeardown, tcp_handshake

LAB = "campus"
PORT = 12000


def run(ctx) -> None:
    client, server = ctx.host("client1"), ctx.host("server1")
    ctx.mark("udp")
    ctx.python("client1", ["-m", "services.sockets.client", "--udp", server.ip, "hello over udp"])
    ctx.mark("tcp")
    ctx.python("client1", ["-m", "services.sockets.client", "--tcp", server.ip, "hello over tcp"])

    ctx.expect(
        First("servers", between(client, server), udp(client, server, dport=PORT) & payload(b"hello over udp"),
              "UDP has no handshake: the client's very first packet to the server already carries its sentence",
              after="udp", before="tcp"),
        Dialogue("servers", client, server, PORT, [Says("client", "hello over udp", exact=True),
                                                   Says("server", "HELLO OVER UDP", exact=True)],
                 "UDP: server1 answers the datagram with the sentence in upper case", transport="udp",
                 after="udp", before="tcp"),
        tcp_handshake("servers", client, server, PORT, after="tcp"),
        Dialogue("servers", client, server, PORT, [Says("client", "hello over tcp", exact=True),
                                                   Says("server", "HELLO OVER TCP", exact=True)],
                 "TCP: the byte stream carries the sentence to server1 and the upper-case sentence back",
                 after="tcp"),
        TcpTeardown("servers", client, server, PORT, after="tcp"),
    )
    ctx.ladder("servers", between(client, server), "UDP: client1 and server1, port 12000", before="tcp",
               columns=["client1", "server1"])
    ctx.ladder("servers", between(client, server), "TCP: client1 and server1, port 12000", after="tcp",
               columns=["client1", "server1"])
    ctx.message_ladder("servers", client, server, PORT, "TCP, as the applications see it: the sentence and "
                       "its answer", after="tcp", columns=["client1", "server1"])
