"""The course's socket-programming examples (Kurose & Ross 2.7): the "uppercase" UDP and TCP
client/server on port 12000, kept as close to the textbook's code as a reusable program allows."""

# The services this package offers to labs (entry point `wirelab.services`, read by topology.registry).
SERVICES: dict[str, dict] = {
    "uppercase-udp": {
        "argv": ["{python}", "-m", "services.sockets.server", "--udp", "--port", "12000"],
        "ready": ["udp/12000"],
        "about": "the course's UDPServer: answers each datagram in upper case (port 12000)",
    },
    "uppercase-tcp": {
        "argv": ["{python}", "-m", "services.sockets.server", "--tcp", "--port", "12000"],
        "ready": ["tcp/12000"],
        "about": "the course's TCPServer: answers each line in upper case (port 12000)",
    },
}
