"""Clear text and encryption: one password, read from the capture of every protocol but SSH.

Kurose & Ross 2.1 and 8: Telnet, FTP and POP3 send what the user types as it is typed, password
included; SSH does the same work over an encrypted channel. client3 logs in as bob with the one
password he has everywhere (bob-pw): over Telnet to login.poly.edu, over FTP to ftp.poly.edu, over
POP3 (typed by hand) to his mail server, mail.hamburger.edu, when the lab has one, and over SSH to
login.poly.edu, asked for by name through the lab's DNS. On client3's LAN (lan2, a hub: any neighbour
sees the same frames) the password is in the bytes of each
clear-text connection, and nowhere in the SSH connection: only the two version banners (SSH-2.0-...)
cross in clear; the key exchange follows and everything after it is encrypted.
"""

from scenarios.framework.assertions import SHOWN, Assertion, Outcome
from scenarios.framework.dialogue import Dialogue, Says, conversations
from scenarios.framework.frames import Traffic
from scenarios.framework.match import who

LAB = "campus"
USER, PASSWORD = "bob", "bob-pw"


class Encrypted(Assertion):
    """An SSH connection client > server:port that carried a login (its banners, then more than 1000
    bytes each way: a key exchange and what follows it) and in which `secret` appears in neither direction."""

    def __init__(self, capture: str, client, server, port: int, secret: bytes, text: str, *, after: str | None = None):
        self.capture, self.client, self.server, self.port = capture, client, server, port
        self.secret, self.text, self.after = secret, text, after

    def evaluate(self, traffic: Traffic) -> Outcome:
        found = conversations(traffic, self.capture, self.client, self.server, self.port, after=self.after)
        if not found:
            return Outcome(self.text, False, f"expected a TCP connection {who(self.client)} > {who(self.server)}:"
                           f"{self.port}; saw none", [], self.capture)
        for conn in found:
            for side, flow in (("client", conn.up), ("server", conn.down)):
                at = flow.data.find(self.secret)
                if at >= 0:
                    return Outcome(self.text, False, f"the {side}'s bytes hold {self.secret.decode()!r} in clear at "
                                   f"byte {at} (on {conn})", flow.frames_for(at, at + len(self.secret)), self.capture)
            banners = conn.up.data.startswith(b"SSH-2.0-") and conn.down.data.startswith(b"SSH-2.0-")
            if banners and min(len(conn.up.data), len(conn.down.data)) > 1000:
                return Outcome(self.text, True, f"{len(conn.up.data)} bytes up and {len(conn.down.data)} down after "
                               f"the banners, none of them {self.secret.decode()!r} (on {conn})",
                               conn.frames[:SHOWN], self.capture)
        return Outcome(self.text, False, f"no SSH login on {found[0]}: expected both SSH-2.0- banners and more than "
                       "1000 bytes each way", found[0].frames[:SHOWN], self.capture)


SEEN_ON = "lan2"  # client3's LAN, a hub: every connection of client3 crosses it, and any neighbour sees it


def _serving(ctx, service: str) -> str | None:
    """The lab's node running a service whose name holds `service`, if any."""
    return next((name for name, node in ctx.lab.nodes.items() if any(service in s.name for s in node.services)),
                None)


def run(ctx) -> None:
    client, login = ctx.host("client3"), ctx.host("login")
    secret = PASSWORD.encode()
    expect = []
    ctx.mark("telnet")
    ctx.python("client3", ["-m", "services.telnet", "client", login.ip, "--send", USER, "--send", PASSWORD,
                           "--send", "exit"], timeout=60)
    expect.append(Dialogue(SEEN_ON, client, login, 23, [
        Says("server", "Password: ", skip=True), Says("client", f"{PASSWORD}\r\n", skip=True, exact=True)],
        f"Telnet: the password crosses as typed ({PASSWORD})", after="telnet", before="ssh"))
    ftp = _serving(ctx, "ftp-server")
    if ftp:
        server = ctx.host(ftp)
        ctx.mark("ftp")
        ctx.python("client3", ["-m", "services.ftp", "client", server.ip, "--user", USER, "--password", PASSWORD,
                               "ls"], timeout=60)
        expect.append(Dialogue(SEEN_ON, client, server, 21, [
            Says("client", f"PASS {PASSWORD}\r\n", skip=True, exact=True)],
            f"FTP: the password crosses as typed (PASS {PASSWORD})", after="ftp", before="ssh"))
    else:
        ctx.note("no FTP server in this lab: FTP left out")
    # Bob's own mail server (mail.hamburger.edu), where his mailbox has the same password
    pop3 = "mail-hamburger" if "mail-hamburger" in ctx.lab.nodes else _serving(ctx, "pop3")
    if pop3:
        server = ctx.host(pop3)
        ctx.mark("pop3")
        ctx.python("client3", ["-m", "services.telnet", "client", server.ip, "110", "--send", f"USER {USER}",
                               "--send", f"PASS {PASSWORD}", "--send", "QUIT"], timeout=60)
        expect.append(Dialogue(SEEN_ON, client, server, 110, [
            Says("client", f"PASS {PASSWORD}\r\n", skip=True, exact=True)],
            f"POP3: the password crosses as typed (PASS {PASSWORD})", after="pop3", before="ssh"))
    else:
        ctx.note("no POP3 server in this lab yet: POP3 left out")
    ctx.mark("ssh")
    ctx.run("client3", ["sshpass", "-p", PASSWORD, "ssh", "-o", "StrictHostKeyChecking=no", "-o",
                        "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=15",
                        f"{USER}@login.poly.edu", "hostname"],
            timeout=60)
    expect.append(Encrypted(SEEN_ON, client, login, 22, secret,
                            f"SSH: the same login, and {PASSWORD!r} is nowhere in the connection's bytes: after "
                            "the banners and the key exchange everything is encrypted", after="ssh"))
    ctx.expect(*expect)
    ctx.message_ladder(SEEN_ON, client, login, 23, "Telnet: the login in clear text", after="telnet",
                       before="ssh" if not ftp else "ftp", columns=["client3", "login"])
    ctx.message_ladder(SEEN_ON, client, login, 22, "SSH: banners in clear, then the key exchange and "
                       "encrypted packets", after="ssh", columns=["client3", "login"])
