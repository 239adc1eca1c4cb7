"""UDPServer / TCPServer from the textbook: receive a sentence, send it back in upper case.

    python -m services.sockets.server --udp [--port 12000]
    python -m services.sockets.server --tcp [--port 12000]
"""

from __future__ import annotations

import argparse
import socket
import threading


def udp_server(port: int) -> None:
    server_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server_socket.bind(("", port))
    print(f"The UDP server is ready to receive on port {port}", flush=True)
    while True:
        message, client_address = server_socket.recvfrom(2048)
        server_socket.sendto(message.decode(errors="replace").upper().encode(), client_address)


def _serve_connection(connection_socket: socket.socket) -> None:
    with connection_socket:
        sentence = connection_socket.recv(1024).decode(errors="replace")
        connection_socket.send(sentence.upper().encode())


def tcp_server(port: int) -> None:
    server_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server_socket.bind(("", port))
    server_socket.listen(16)
    print(f"The TCP server is ready to receive on port {port}", flush=True)
    while True:
        connection_socket, _addr = server_socket.accept()
        # one thread a connection, so a slow client does not hold up the next (the textbook serves one at a time)
        threading.Thread(target=_serve_connection, args=(connection_socket,), daemon=True).start()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--udp", action="store_true")
    mode.add_argument("--tcp", action="store_true")
    ap.add_argument("--port", type=int, default=12000)
    a = ap.parse_args()
    (udp_server if a.udp else tcp_server)(a.port)


if __name__ == "__main__":
    main()
