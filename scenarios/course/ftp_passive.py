"""FTP, passive mode: the server names a port (227) and the client opens the data connection to it.

Kurose & Ross 2.3. client2 (lan1) logs in to ftp.poly.edu anonymously and fetches README.txt with the
project's client in passive mode. The capture on the servers LAN shows PASV answered by 227 with the
server's address and a port of its passive range, then a TCP connection opened by the CLIENT to that
port carrying the file, closed by the server at its end, 226 on the control connection, and never a
connection opened by the server towards the client (what firewalls in front of clients prefer).
"""

from scapy.layers.inet import TCP

from scenarios.framework.describers.ftp import DataConnection
from scenarios.framework.dialogue import Dialogue, Says
from scenarios.framework.match import Match, between
from topology.loader import LABS_DIR

LAB = "campus"
FILE = "README.txt"
CONTENT = (LABS_DIR / "campus.d" / "ftp" / "files" / "pub" / FILE).read_bytes()


def run(ctx) -> None:
    client, ftp = ctx.host("client2"), ctx.host("ftp")
    ctx.mark("login")
    ctx.python("client2", ["-m", "services.ftp", "client", ftp.ip, "get", FILE, "-"])
    ctx.expect(
        Dialogue("servers", client, ftp, 21, [
            Says("server", "220"),
            Says("client", "USER anonymous"), Says("server", "331"),
            Says("client", "PASS ", skip=True), Says("server", "230"),
            Says("client", "PASV", skip=True), Says("server", f"227 Entering Passive Mode ({ftp.ip.replace('.', ',')},"),
            # The client connects to the passive port before it sends RETR: the server's preliminary reply
            # is 125 when that connection was already accepted, 150 when it was still on its way (RFC 959).
            Says("client", f"RETR {FILE}"), Says("server", "1"),
            Says("server", "226"),
        ], "PASV is answered with 227 and the server's address and port; RETR with a preliminary reply "
           "(125 or 150), then 226",
            after="login"),
        DataConnection("servers", client, ftp, "passive", CONTENT,
                       "passive mode: the client opens the data connection to the port the 227 named; the file "
                       "crosses it; the server never connects out", after="login"),
    )
    ctx.message_ladder("servers", client, ftp, 21, "FTP control connection: PASV, 227 and the port it names",
                       after="login", columns=["client2", "ftp"])
    data = Match("not the control connection", lambda p: TCP in p and 21 not in (p[TCP].sport, p[TCP].dport))
    ctx.ladder("servers", between(client, ftp) & data,
               "FTP passive mode: the data connection, opened by the client", after="login",
               columns=["client2", "ftp"])
