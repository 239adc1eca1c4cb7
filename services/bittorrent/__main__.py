"""python -m services.bittorrent make|info|tracker|peer ...

  make     a .torrent for a file or a folder:  make FILE --announce URL [-o OUT.torrent]
  info     what a .torrent holds (name, size, pieces, info-hash, trackers)
  tracker  an HTTP tracker (announce + scrape) on --port (default 6969)
  peer     download a torrent into --dir and seed it (a seed is a peer whose --dir already holds the file)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
from pathlib import Path

from .. import daemon
from . import bencode, metainfo
from .peer import Client, Settings
from .tracker import Tracker
from .tracker_server import start

log = logging.getLogger("services.bittorrent")

_RATE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmg]?)(bit|b|)$", re.I)


def rate(text: str) -> float:
    """A rate in bytes/s from `2mbit`, `500kbit`, `1M` (bytes) or `0` (no cap)."""
    m = _RATE.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate; write it like 8mbit, 500kbit or 1M (bytes/s)")
    n = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()]
    return n / 8 if m.group(3).lower() == "bit" else n


def peer_addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not (port.isascii() and port.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r}: write a peer as HOST:PORT")
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m services.bittorrent", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    mk = sub.add_parser("make", help="make a .torrent for a file or folder")
    mk.add_argument("source")
    mk.add_argument("--announce", required=True, metavar="URL")
    mk.add_argument("-o", "--output", metavar="FILE", help="default: SOURCE.torrent")
    mk.add_argument("--piece-length", type=int, metavar="BYTES", help="default: about 1500 pieces")
    info = sub.add_parser("info", help="show what a .torrent holds")
    info.add_argument("torrent")
    tr = sub.add_parser("tracker", help="HTTP tracker")
    tr.add_argument("--listen", default="0.0.0.0", metavar="ADDR")
    tr.add_argument("--port", type=int, default=6969)
    tr.add_argument("--interval", type=int, default=30, metavar="SECONDS", help="how often peers re-announce")
    pr = sub.add_parser("peer", help="download and seed a torrent")
    pr.add_argument("torrent")
    pr.add_argument("--dir", default=".", help="download folder (a seed's holds the file already)")
    pr.add_argument("--listen", default="0.0.0.0", metavar="ADDR")
    pr.add_argument("--port", type=int, default=6881)
    pr.add_argument("--tracker", action="append", metavar="URL", help="use this tracker instead of the torrent's")
    pr.add_argument("--peer", action="append", type=peer_addr, default=[], metavar="HOST:PORT",
                    help="connect to this peer too (repeatable)")
    pr.add_argument("--upload-rate", type=rate, default=0.0, metavar="RATE", help="cap, e.g. 8mbit (default: none)")
    pr.add_argument("--download-rate", type=rate, default=0.0, metavar="RATE", help="cap (default: none)")
    pr.add_argument("--slots", type=int, default=8,
                    help="upload slots besides the optimistic one: at least these, more while the upload has room")
    pr.add_argument("--fixed-slots", action="store_true", help="exactly --slots upload slots, however fast the upload")
    pr.add_argument("--rechoke", type=float, default=10.0, metavar="SECONDS", help="choking round length")
    pr.add_argument("--exit-when-done", action="store_true", help="stop once the download is complete")
    return ap


async def run(args: argparse.Namespace, d: daemon.Daemon) -> None:
    if args.command == "make":
        out = Path(args.output or f"{Path(args.source).name}.torrent")
        out.write_bytes(metainfo.make(args.source, args.announce, args.piece_length))
        t = metainfo.load(out)
        print(f"{out}: {t.name}, {t.length} bytes, {t.num_pieces} pieces of {t.piece_length}, "
              f"info-hash {t.info_hash.hex()}")
        return
    if args.command == "info":
        t = metainfo.load(args.torrent)
        print(f"name {t.name}\nsize {t.length}\npieces {t.num_pieces} x {t.piece_length}\n"
              f"info-hash {t.info_hash.hex()}\ntrackers {' '.join(t.trackers()) or '-'}")
        for f in t.files:
            print(f"file {'/'.join(f.path)} {f.length}")
        return
    if args.command == "tracker":
        try:
            server = await start(Tracker(args.interval), args.listen, args.port)
        except OSError as e:
            raise daemon.ConfigError(f"cannot listen on {args.listen}:{args.port}: {e.strerror}") from None
        log.info("tracker on %s:%d, interval %d s", args.listen, args.port, args.interval)
        await d.stopped()
        server.close()
        return
    torrent = metainfo.load(args.torrent)
    settings = Settings(port=args.port, host=args.listen, upload_rate=args.upload_rate,
                        download_rate=args.download_rate, slots=args.slots, rate_based_slots=not args.fixed_slots,
                        rechoke_interval=args.rechoke)
    client = Client(torrent, args.dir, settings, trackers=args.tracker, peers=args.peer)
    try:
        await client.start()
    except OSError as e:
        raise daemon.ConfigError(f"cannot listen on {args.listen}:{args.port}: {e.strerror}") from None
    log.info("peer %s on port %d for %s (info-hash %s)", client.peer_id.decode(), settings.port, torrent.name,
             torrent.info_hash.hex())
    waits = [asyncio.ensure_future(d.stopped())]
    if args.exit_when_done:
        waits.append(asyncio.ensure_future(client.done.wait()))
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for w in waits:
        w.cancel()
    await client.stop()


if __name__ == "__main__":
    daemon.main("bittorrent", build_parser, run, errors=(metainfo.MetainfoError, bencode.BencodeError, OSError))
