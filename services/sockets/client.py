"""UDPClient / TCPClient from the textbook: send a sentence, print the server's upper-case answer.

    python -m services.sockets.client --udp SERVER [--port 12000] [SENTENCE]
    python -m services.sockets.client --tcp SERVER [--port 12000] [SENTENCE]

Without SENTENCE it asks for one, as the textbook's client does. Exits 1 when no answer comes.
"""

from __future__ import annotations

import argparse
import socket
import sys


def udp_client(server_name: str, port: int, message: str, timeout: float) -> str:
    client_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client_socket.settimeout(timeout)
    client_socket.sendto(message.encode(), (server_name, port))
    modified_message, _server_address = client_socket.recvfrom(2048)
    client_socket.close()
    return modified_message.decode()


def tcp_client(server_name: str, port: int, sentence: str, timeout: float) -> str:
    client_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client_socket.settimeout(timeout)
    client_socket.connect((server_name, port))
    client_socket.send(sentence.encode())
    modified_sentence = client_socket.recv(1024)
    client_socket.close()
    return modified_sentence.decode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--udp", action="store_true")
    mode.add_argument("--tcp", action="store_true")
    ap.add_argument("server")
    ap.add_argument("sentence", nargs="?")
    ap.add_argument("--port", type=int, default=12000)
    ap.add_argument("--timeout", type=float, default=5.0)
    a = ap.parse_args()
    sentence = a.sentence if a.sentence is not None else input("Input lowercase sentence: ")
    try:
        reply = (udp_client if a.udp else tcp_client)(a.server, a.port, sentence, a.timeout)
    except OSError as e:
        print(f"no answer from {a.server}:{a.port}: {e}", file=sys.stderr)
        return 1
    print(reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
