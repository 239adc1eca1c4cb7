"""FTP, active mode: the server opens the data connection, from its port 20, to the port the client named.

Kurose & Ross 2.3. client1 (lan1) logs in to ftp.poly.edu (servers LAN) as alice and fetches notes.txt
with the project's client in active mode. On the servers LAN the capture shows the control connection
to port 21 carrying USER, PASS, PORT and RETR in clear text, each answered by its reply code (331, 230,
200, 150); then a second TCP connection, opened by the SERVER from its port 20 to the port the PORT
command named, carrying the file's bytes and closed by the server at the end of the file; and 226
on the control connection after that close.
"""

from scenarios.framework.describers.ftp import DataConnection
from scenarios.framework.dialogue import Dialogue, Says
from scenarios.framework.match import tcp
from scenarios.framework.textbook import tcp_handshake
from topology.loader import LABS_DIR

LAB = "campus"
FILE = "notes.txt"
CONTENT = (LABS_DIR / "campus.d" / "ftp" / "files" / "alice" / FILE).read_bytes()


def run(ctx) -> None:
    client, ftp = ctx.host("client1"), ctx.host("ftp")
    ctx.mark("login")
    ctx.python("client1", ["-m", "services.ftp", "client", ftp.ip, "--active", "--user", "alice", "--password",
                           "alice-pw", "get", FILE, "-"])
    ctx.expect(
        tcp_handshake("servers", client, ftp, 21, after="login"),
        Dialogue("servers", client, ftp, 21, [
            Says("server", "220"),
            Says("client", "USER alice"), Says("server", "331"),
            Says("client", "PASS alice-pw"), Says("server", "230"),
            Says("client", "PORT ", skip=True), Says("server", "200"),
            Says("client", f"RETR {FILE}"), Says("server", "150"),
            Says("server", "226"),
        ], "the control connection carries USER, PASS, PORT and RETR; the server answers 331, 230, 200, 150, "
           "then 226", after="login"),
        DataConnection("servers", client, ftp, "active", CONTENT,
                       "active mode: the server connects from its port 20 to the port PORT named; the file's bytes "
                       "cross that connection, the server closes it at the end, and 226 follows", after="login"),
    )
    ctx.message_ladder("servers", client, ftp, 21, "FTP control connection (port 21), command by command",
                       after="login", columns=["client1", "ftp"])
    ctx.ladder("servers", tcp(ftp, client, sport=20) | tcp(client, ftp, dport=20),
               "FTP active mode: the data connection, opened by the server from its port 20", after="login",
               columns=["client1", "ftp"])
