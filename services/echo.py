"""Echo servers (RFC 862), UDP and TCP: the simplest service a lab can run and a scenario can observe."""

from __future__ import annotations

import argparse
import asyncio


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


async def serve(udp: bool, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    if udp:
        await loop.create_datagram_endpoint(_EchoUDP, local_addr=(host, port))
        await asyncio.Event().wait()
    else:
        server = await asyncio.start_server(_echo_tcp, host, port)
        async with server:
            await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--udp", action="store_true")
    mode.add_argument("--tcp", action="store_true")
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=7)
    a = ap.parse_args()
    asyncio.run(serve(a.udp, a.host, a.port))


if __name__ == "__main__":
    main()
