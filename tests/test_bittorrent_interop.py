"""Our tracker and peers with standard clients on loopback: aria2c and ctorrent download from our
seed and upload to our peers in one swarm, they use our tracker, our peers use opentracker, and we
download from their seeds. ctorrent takes any peer on its own IP for itself, so our peers listen on
127.0.0.2 and up (the whole 127/8 is loopback)."""

import asyncio
import os
import shutil

import pytest

from services.bittorrent import metainfo
from services.bittorrent.peer import Client, Settings
from services.bittorrent.tracker import Tracker
from services.bittorrent.tracker_server import start

ARIA2 = ["aria2c", "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
         "--enable-peer-exchange=false", "--file-allocation=none", "--summary-interval=0",
         "--console-log-level=warn", "--bt-tracker-connect-timeout=5"]

needs_aria2 = pytest.mark.skipif(not shutil.which("aria2c"), reason="aria2c is not installed (make setup)")
needs_ctorrent = pytest.mark.skipif(not shutil.which("ctorrent"), reason="ctorrent is not installed (make setup)")
needs_opentracker = pytest.mark.skipif(not shutil.which("opentracker"), reason="opentracker is not installed (make setup)")


def content(tmp_path, size, piece=64 * 1024):
    seed_dir = tmp_path / "seed"
    seed_dir.mkdir()
    data = os.urandom(size)
    (seed_dir / "file.bin").write_bytes(data)
    return seed_dir, data, piece


def torrent(tmp_path, seed_dir, url, piece):
    path = tmp_path / "file.torrent"
    path.write_bytes(metainfo.make(seed_dir / "file.bin", url, piece_length=piece))
    return path, metainfo.load(path)


async def our_tracker():
    server = await start(Tracker(interval=2), "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/announce"


def ours(t, folder, host, **kw):
    return Client(t, folder, Settings(port=0, host=host, rechoke_interval=1.0, **kw))


async def run_tool(argv, cwd, timeout):
    proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        raise AssertionError(f"{argv[0]} did not finish in {timeout} s: {out.decode(errors='replace')[-800:]}") from None
    return proc.returncode, out.decode(errors="replace")


async def background(argv, cwd):
    return await asyncio.create_subprocess_exec(*argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def end(proc):
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 5)
    except TimeoutError:
        proc.kill()
        await proc.wait()


@needs_aria2
@needs_ctorrent
def test_mixed_swarm_with_aria2c_and_ctorrent_on_our_tracker(tmp_path):
    seed_dir, data, piece = content(tmp_path, 2 * 1024 * 1024)

    async def go():
        server, url = await our_tracker()
        path, t = torrent(tmp_path, seed_dir, url, piece)
        seed = ours(t, seed_dir, "127.0.0.2", upload_rate=300_000)  # slow: the swarm must share
        leecher = ours(t, tmp_path / "ours", "127.0.0.3")
        await seed.start()
        await leecher.start()
        (tmp_path / "aria").mkdir()
        (tmp_path / "ct").mkdir()
        results = await asyncio.gather(
            run_tool([*ARIA2, "--seed-time=0", "--listen-port=16931", "--dir", str(tmp_path / "aria"), str(path)],
                     tmp_path, 90),
            run_tool(["ctorrent", "-e", "0", "-p", "16932", "-s", "file.bin", str(path)], tmp_path / "ct", 90),
            asyncio.wait_for(leecher.done.wait(), 90))
        traded = dict(leecher.traded)
        for c in (leecher, seed):
            await c.stop()
        server.close()
        return results, traded, seed.peer_id

    ((aria_rc, aria_out), (ct_rc, _), _), traded, seed_id = asyncio.run(go())
    assert aria_rc == 0, aria_out
    assert (tmp_path / "aria" / "file.bin").read_bytes() == data
    assert (tmp_path / "ct" / "file.bin").read_bytes() == data
    assert (tmp_path / "ours" / "file.bin").read_bytes() == data
    standard = {pid: v for pid, v in traded.items() if pid.startswith((b"A2-", b"-CD"))}
    assert sum(up for _, up in standard.values()) > 0  # we uploaded to standard clients
    assert sum(down for down, _ in standard.values()) > 0  # and downloaded from them


@needs_aria2
def test_we_download_from_an_aria2c_seed_via_our_tracker(tmp_path):
    seed_dir, data, piece = content(tmp_path, 2 * 1024 * 1024)

    async def go():
        server, url = await our_tracker()
        path, t = torrent(tmp_path, seed_dir, url, piece)
        aria = await background([*ARIA2, "--check-integrity=true", "--seed-ratio=0.0", "--seed-time=5",
                                 "--listen-port=16933", "--dir", str(seed_dir), str(path)], tmp_path)
        try:
            leecher = ours(t, tmp_path / "dl", "127.0.0.4")
            await leecher.start()
            await asyncio.wait_for(leecher.done.wait(), 60)
            traded = dict(leecher.traded)
            await leecher.stop()
        finally:
            await end(aria)
        server.close()
        return traded

    traded = asyncio.run(go())
    assert (tmp_path / "dl" / "file.bin").read_bytes() == data
    assert [pid[:3] for pid in traded] == [b"A2-"]


@needs_ctorrent
def test_we_download_from_a_ctorrent_seed(tmp_path):
    seed_dir, data, piece = content(tmp_path, 1024 * 1024)

    async def go():
        server, url = await our_tracker()
        path, t = torrent(tmp_path, seed_dir, url, piece)
        ct = await background(["ctorrent", "-e", "1", "-p", "16934", "-s", "file.bin", str(path)], seed_dir)
        try:
            leecher = ours(t, tmp_path / "dl", "127.0.0.5")
            await leecher.start()
            await asyncio.wait_for(leecher.done.wait(), 60)
            traded = dict(leecher.traded)
            await leecher.stop()
        finally:
            await end(ct)
        server.close()
        return traded

    traded = asyncio.run(go())
    assert (tmp_path / "dl" / "file.bin").read_bytes() == data
    assert [pid[:3] for pid in traded] == [b"-CD"]


@needs_opentracker
def test_our_peers_use_opentracker(tmp_path):
    seed_dir, data, piece = content(tmp_path, 1024 * 1024)
    port = 16971
    url = f"http://127.0.0.1:{port}/announce"
    path, t = torrent(tmp_path, seed_dir, url, piece)
    # Debian builds opentracker with a whitelist: the torrent must be listed. It chroots into -d and
    # reads the list as `nobody`, so that folder must be readable by all (pytest's are 0700).
    jail = tmp_path / "opentracker"
    jail.mkdir(mode=0o755)
    jail.chmod(0o755)
    (jail / "whitelist").write_text(t.info_hash.hex() + "\n")

    async def go():
        ot = await background(["opentracker", "-i", "127.0.0.1", "-p", str(port), "-P", str(port),
                               "-d", str(jail), "-w", "whitelist"], jail)
        for _ in range(100):  # ready when it accepts
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        try:
            seed = ours(t, seed_dir, "127.0.0.6")
            leecher = ours(t, tmp_path / "dl", "127.0.0.7")
            await seed.start()
            await leecher.start()
            await asyncio.wait_for(leecher.done.wait(), 60)
            ids = set(leecher.traded)
            for c in (leecher, seed):
                await c.stop()
        finally:
            await end(ot)
        return ids, seed.peer_id

    ids, seed_id = asyncio.run(go())
    assert ids == {seed_id}  # found through opentracker: no peer address was given
    assert (tmp_path / "dl" / "file.bin").read_bytes() == data
