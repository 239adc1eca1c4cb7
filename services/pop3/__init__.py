"""POP3 (RFC 1939, RFC 2449): reads the Maildirs the SMTP server delivers to.

    session.py   one session as a sans-I/O state machine; server.py the asyncio shell; __main__ the reader
"""

SERVICES: dict[str, dict] = {
    "pop3-server": {
        "argv": ["{python}", "-m", "services.pop3", "serve", "--mail-dir", "{data}/mail"],
        "ready": ["tcp/110"],
        "about": "POP3 server for the Maildirs smtp-server fills (same node): args --accounts FILE",
    },
}
