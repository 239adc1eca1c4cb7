"""Telnet for wirelab labs (RFC 854 and 855, options ECHO 857, SUPPRESS-GO-AHEAD 858, TERMINAL-TYPE 1091,
NAWS 1073, negotiated by RFC 1143's Q method): the protocol is a sans-I/O core, the server and the client
thin asyncio shells.

    codes.py       the command table and option numbers, with their names
    parser.py      the NVT's receiving half: bytes in, events out (IAC, CR NUL, SB ... IAC SE, bounded)
    options.py     the Q method: WILL/WONT/DO/DONT for both sides of each option, no loops
    connection.py  one end of a connection: parser + options + TERMINAL-TYPE and NAWS + output escaping
    session.py     the server's side: its offers, the login dialogue, then the shell's input
    accounts.py    the lab's accounts (shared with the SSH server); terminal.py a shell on a pty
    server.py      the asyncio server; client.py the course's client
"""

# The services this package offers to labs (entry point `wirelab.services`, read by topology.registry).
SERVICES: dict[str, dict] = {
    "telnet-server": {
        "argv": ["{python}", "-m", "services.telnet", "server", "--homes", "{data}/home"],
        "ready": ["tcp/23"],
        "about": "Telnet server (RFC 854, option negotiation RFC 1143): args --accounts FILE; shell on a pty",
    },
}
