"""FTP for wirelab labs (RFC 959, 2428, 3659, 2389): the project's own server and a small client.

    session.py      one control connection as a state machine: command bytes in, replies and requests out
    files.py        its commands on the user's files (navigation, directories, listings)
    events.py       what a session asks of its shell (reply, pause, listen, transfer, abort, close)
    commands.py     the wire format: command lines, replies, PORT/EPRT/PASV/EPSV arguments
    jail.py         a user's home as the root of every path they name; LIST, NLST and MLSx formats
    accounts.py     users, the anonymous area and who may write (YAML)
    datachannel.py  data connections, active from port 20 or passive from a port range, and the copies
    server.py       the asyncio shell around sessions; client.py the client; __main__.py the commands
"""

# The services this package offers to labs (entry point `wirelab.services`, read by topology.registry).
SERVICES: dict[str, dict] = {
    "ftp-server": {
        "argv": ["{python}", "-m", "services.ftp", "server", "--root", "{data}/ftp"],
        "ready": ["tcp/21"],
        "ports": ["tcp/21", "tcp/20"],
        "about": "FTP server, active (from port 20) and passive: args --config FILE (users, anonymous area; "
                 "e.g. {lab_dir}/campus.d/ftp/ftp.yaml) [--seed DIR] [--passive-ports LOW-HIGH]",
    },
}
