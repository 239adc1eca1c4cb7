"""UDPServer / TCPServer from the textbook: receive a sentence, send it back in upper case.

    python -m services.sockets.server --udp [--port 12000]
    python -m services.sockets.server --tcp [--port 12000]

The loops are the textbook's, blocking, in a thread; around them runs the daemons' shared shell
(services.daemon: SIGTERM stops, --quiet, exit status 2 when the port cannot be had).
"""

from __future__ import annotations

import argparse
import socket
import threading

from .. import daemon


def udp_socket(port: int) -> socket.socket:
    server_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server_socket.bind(("", port))
    return server_socket


def udp_server(server_socket: socket.socket) -> None:
    print(f"The UDP server is ready to receive on port {server_socket.getsockname()[1]}", flush=True)
    while True:
        try:
            message, client_address = server_socket.recvfrom(2048)
            server_socket.sendto(message.decode(errors="replace").upper().encode(), client_address)
        except OSError:
            if server_socket.fileno() == -1:
                return  # closed at shutdown, under the blocked call


def tcp_socket(port: int) -> socket.socket:
    server_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server_socket.bind(("", port))
    server_socket.listen(16)
    return server_socket


def _serve_connection(connection_socket: socket.socket) -> None:
    with connection_socket:
        connection_socket.settimeout(30)  # a client that connects and says nothing does not keep a thread
        try:
            sentence = connection_socket.recv(1024).decode(errors="replace")
            connection_socket.send(sentence.upper().encode())
        except OSError:
            pass


def tcp_server(server_socket: socket.socket) -> None:
    print(f"The TCP server is ready to receive on port {server_socket.getsockname()[1]}", flush=True)
    while True:
        try:
            connection_socket, _addr = server_socket.accept()
        except OSError:
            if server_socket.fileno() == -1:
                return  # closed at shutdown, under the blocked call
            continue
        # one thread a connection, so a slow client does not hold up the next (the textbook serves one at a time)
        threading.Thread(target=_serve_connection, args=(connection_socket,), daemon=True).start()


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m services.sockets.server", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--udp", action="store_true")
    mode.add_argument("--tcp", action="store_true")
    ap.add_argument("--port", type=int, default=12000)
    return ap


async def run(args: argparse.Namespace, d: daemon.Daemon) -> None:
    try:
        server_socket = (udp_socket if args.udp else tcp_socket)(args.port)
    except OSError as e:
        raise daemon.ConfigError(f"cannot listen on port {args.port}: {e.strerror}") from None
    serve = udp_server if args.udp else tcp_server
    threading.Thread(target=serve, args=(server_socket,), daemon=True).start()
    await d.stopped()
    server_socket.close()  # the serving thread is a daemon thread: it ends with the process


def main(argv: list[str] | None = None) -> None:
    daemon.main("uppercase server", build_parser, run, argv)


if __name__ == "__main__":
    main()
