"""SSH for wirelab labs, on paramiko (its transport, keys and SFTP server interface): the project's part
is the policy around it.

    hostkeys.py  the node's host keys, made once under its data folder and kept
    auth.py      password and public-key logins against the lab's accounts (shared with Telnet)
    sftp.py      SFTP jailed to the user's home folder
    server.py    the listener, sessions (shell and exec, on a pty when the client asks for one)
"""

# The services this package offers to labs (entry point `wirelab.services`, read by topology.registry).
SERVICES: dict[str, dict] = {
    "ssh-server": {
        "argv": ["{python}", "-m", "services.ssh", "server", "--host-keys", "{data}/ssh", "--homes", "{data}/home"],
        "ready": ["tcp/22"],
        "about": "SSH server on paramiko: args --accounts FILE; password and key logins, shell, exec, SFTP",
    },
}
