"""BitTorrent for wirelab labs (BEP 3, 23, 48): bencoding, .torrent files, an HTTP tracker and a peer,
each a sans-I/O core with a thin asyncio shell.

    bencode.py         the encoder and a strict decoder
    metainfo.py        .torrent files (single and multi-file), the info-hash, making one
    tracker.py         the tracker's core: announce and scrape, compact peer lists, expiry
    tracker_server.py  its HTTP listener
    announce.py        the peer's side: announce URLs and replies
    wire.py            the peer wire messages, bytes in, messages out
    picker.py          which blocks to ask for: rarest first, random first piece, end-game
    choker.py          whom to upload to: tit-for-tat with an optimistic unchoke
    store.py           the pieces on disk, SHA-1 checked, resumable
    rate.py            rate meters and caps
    peer.py            the peer: connections, the loops, the status line
"""

# The services this package offers to labs (entry point `wirelab.services`, read by topology.registry).
SERVICES: dict[str, dict] = {
    "bt-tracker": {
        "argv": ["{python}", "-m", "services.bittorrent", "tracker"],
        "ready": ["tcp/6969"],
        "about": "BitTorrent HTTP tracker (announce + scrape): args --interval SECONDS",
    },
    "bt-peer": {
        "argv": ["{python}", "-m", "services.bittorrent", "peer"],
        "ready": ["tcp/6881"],
        "about": "BitTorrent peer that downloads and seeds: args TORRENT --dir DIR [--upload-rate 8mbit]",
    },
}
