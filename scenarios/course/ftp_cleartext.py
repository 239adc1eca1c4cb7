"""FTP sends passwords in clear text: bob's password is readable in the capture, even by his hub neighbour.

Kurose & Ross 2.3 ("passwords cross the network in the open", hence SFTP and SCP). client3, on the old
hub LAN, logs in to ftp.poly.edu as bob and lists his files. The control connection's bytes, read from
the servers LAN capture, hold `PASS bob-pw` exactly as typed, accepted by the server (230); and client4,
another host on the same hub, captures the same password with its own network card.
"""

from scenarios.framework.assertions import Present
from scenarios.framework.dialogue import Dialogue, Says
from scenarios.framework.match import payload, tcp

LAB = "campus"
PASSWORD = "bob-pw"


def run(ctx) -> None:
    client, ftp = ctx.host("client3"), ctx.host("ftp")
    neighbour = ctx.watch("client4", "lan2")
    ctx.mark("login")
    ctx.python("client3", ["-m", "services.ftp", "client", ftp.ip, "--user", "bob", "--password", PASSWORD, "ls"])
    ctx.expect(
        Dialogue("servers", client, ftp, 21, [
            Says("client", "USER bob", skip=True), Says("server", "331"),
            Says("client", f"PASS {PASSWORD}\r\n".encode(), exact=True), Says("server", "230"),
        ], f"the password crosses the control connection as typed (PASS {PASSWORD}) and the server accepts it",
            after="login"),
        Present(neighbour, tcp(client, ftp, dport=21) & payload(f"PASS {PASSWORD}".encode()),
                "client4, another host on the hub, reads bob's password from its own capture", after="login"),
    )
    ctx.message_ladder("servers", client, ftp, 21, "FTP login: everything in clear text", after="login",
                       columns=["client3", "ftp"])
