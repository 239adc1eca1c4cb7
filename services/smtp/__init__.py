"""SMTP (RFC 5321): the project's mail server, a mail transfer agent with a durable queue, and a user agent.

    session.py   one server session as a sans-I/O state machine (one method per command)
    server.py    the asyncio shell: connections, idle timeout, 250 only once the message is queued
    queue.py     MailQueue: the spool on disk, group-committed with fsync
    delivery.py  the delivery agent: local Maildirs, relay to the MX, retries, bounces (bounce.py)
    mx.py        next hops from DNS; client.py the SMTP client side; agent.py the user agent's composer
"""

SERVICES: dict[str, dict] = {
    "smtp-server": {
        "argv": ["{python}", "-m", "services.smtp", "serve", "--queue-dir", "{data}/queue",
                 "--mail-dir", "{data}/mail"],
        "ready": ["tcp/25"],
        "about": "mail server (MTA): args --hostname NAME --domain DOMAIN --accounts FILE --relay-from CIDR",
    },
}
