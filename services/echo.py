"""Echo servers (RFC 862), UDP and TCP: the simplest service a lab can run and a scenario can observe."""

from __future__ import annotations

import argparse
import asyncio
import logging

from . import daemon

log = logging.getLogger("services.echo")


# The services this module offers to labs (entry point `wirelab.services`, read by topology.registry).
SERVICES: dict[str, dict] = {
    "echo-udp": {
        "argv": ["{python}", "-m", "services.echo", "--udp", "--port", "7"],
        "ready": ["udp/7"],
        "about": "UDP echo server (RFC 862) on port 7",
    },
    "echo-tcp": {
        "argv": ["{python}", "-m", "services.echo", "--tcp", "--port", "7"],
        "ready": ["tcp/7"],
        "about": "TCP echo server (RFC 862) on port 7",
    },
}


class _EchoUDP(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.transport.sendto(data, addr)


async def _echo_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def run(args: argparse.Namespace, d: daemon.Daemon) -> None:
    loop = asyncio.get_running_loop()
    try:
        if args.udp:
            transport, _ = await loop.create_datagram_endpoint(_EchoUDP, local_addr=(args.host, args.port))
        else:
            server = await asyncio.start_server(_echo_tcp, args.host, args.port)
    except OSError as e:
        raise daemon.ConfigError(f"cannot listen on {args.host} port {args.port}: {e.strerror}") from None
    log.info("%s echo on %s port %d", "UDP" if args.udp else "TCP", args.host, args.port)
    await d.stopped()
    if args.udp:
        transport.close()
    else:
        server.close()


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m services.echo", description=__doc__)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--udp", action="store_true")
    mode.add_argument("--tcp", action="store_true")
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=7)
    return ap


def main(argv: list[str] | None = None) -> None:
    daemon.main("echo", build_parser, run, argv)


if __name__ == "__main__":
    main()
