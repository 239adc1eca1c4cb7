"""Metainfo: making and reading .torrent files, single and multi-file, the info-hash, unsafe input;
torrents made by mktorrent are read, and ours are read by aria2c."""

import hashlib
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.bittorrent import bencode, metainfo
from services.bittorrent.metainfo import MetainfoError


def test_single_file(tmp_path):
    f = tmp_path / "data.bin"
    f.write_bytes(bytes(range(256)) * 300)  # 76800 bytes: 4 pieces of 16 KiB and a short one
    raw = metainfo.make(f, "http://t.example/announce", piece_length=16384)
    t = metainfo.parse(raw)
    assert (t.name, t.length, t.num_pieces, t.multi_file) == ("data.bin", 76800, 5, False)
    assert t.piece_size(4) == 76800 - 4 * 16384
    assert t.hashes[0] == hashlib.sha1(f.read_bytes()[:16384]).digest()
    info = bencode.decode(raw)[b"info"]
    assert t.info_hash == hashlib.sha1(bencode.encode(info)).digest()
    assert t.trackers() == ["http://t.example/announce"]


def test_multi_file_pieces_span_files(tmp_path):
    d = tmp_path / "album"
    (d / "cd1").mkdir(parents=True)
    (d / "cd1" / "a.txt").write_bytes(b"a" * 20000)
    (d / "b.txt").write_bytes(b"b" * 13000)
    t = metainfo.parse(metainfo.make(d, "http://t/announce", piece_length=16384))
    assert t.multi_file and t.name == "album"
    assert [(f.path, f.length, f.offset) for f in t.files] == [(("b.txt",), 13000, 0),
                                                               (("cd1", "a.txt"), 20000, 13000)]
    joined = b"b" * 13000 + b"a" * 20000
    assert t.hashes[1] == hashlib.sha1(joined[16384:32768]).digest()


def test_info_hash_covers_the_bytes_as_sent_even_with_tricky_comment():
    info = {"name": "x", "piece length": 16384, "pieces": b"\0" * 20, "length": 5}
    raw = bencode.encode({"announce": "http://t/a", "comment": "4:infod trap", "info": info})
    assert metainfo.parse(raw).info_hash == hashlib.sha1(bencode.encode(info)).digest()


@pytest.mark.parametrize("info, why", [
    ({"name": "../etc", "piece length": 16384, "pieces": b"\0" * 20, "length": 5}, "unsafe"),
    ({"name": "x", "piece length": 16384, "pieces": b"\0" * 20,
      "files": [{"length": 5, "path": ["..", "p"]}]}, "unsafe"),
    ({"name": "x", "piece length": 0, "pieces": b"\0" * 20, "length": 5}, "piece length"),
    ({"name": "x", "piece length": 16384, "pieces": b"\0" * 19, "length": 5}, "20-byte"),
    ({"name": "x", "piece length": 16384, "pieces": b"\0" * 40, "length": 5}, "holds 2 hashes"),
    ({"name": "x", "piece length": 16384, "pieces": b"\0" * 20}, "length"),
])
def test_unusable_torrents_are_refused(info, why):
    with pytest.raises(MetainfoError, match=why):
        metainfo.parse(bencode.encode({"announce": "http://t/a", "info": info}))


def test_cli_make_and_bad_torrent_is_one_line(tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(b"x" * 50000)
    out = tmp_path / "f.torrent"
    py = [sys.executable, "-m", "services.bittorrent"]
    r = subprocess.run([*py, "make", str(f), "--announce", "http://t/a", "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0 and metainfo.load(out).length == 50000
    (tmp_path / "bad.torrent").write_bytes(b"d4:infoi1ee")
    r = subprocess.run([*py, "peer", str(tmp_path / "bad.torrent")], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["bittorrent: a torrent is a dictionary with an `info` dictionary"]


@pytest.mark.skipif(not shutil.which("mktorrent"), reason="mktorrent is not installed (make setup installs it)")
@pytest.mark.parametrize("multi", [False, True])
def test_mktorrent_made_torrents_are_read(tmp_path, multi):
    src = tmp_path / "src"
    if multi:
        (src / "sub").mkdir(parents=True)
        (src / "sub" / "one").write_bytes(b"1" * 70000)
        (src / "two").write_bytes(b"2" * 30000)
    else:
        src.write_bytes(b"z" * 100000)
    out = tmp_path / "m.torrent"
    subprocess.run(["mktorrent", "-l", "15", "-a", "http://t/announce", "-o", str(out), str(src)],
                   check=True, capture_output=True)
    t = metainfo.load(out)
    ours = metainfo.parse(metainfo.make(src, "http://t/announce", piece_length=1 << 15))
    assert t.multi_file == multi and t.length == 100000
    assert t.hashes == ours.hashes  # same content, same pieces, whoever cut them
    assert sorted(f.path for f in t.files) == sorted(f.path for f in ours.files)


@pytest.mark.skipif(not shutil.which("aria2c"), reason="aria2c is not installed (make setup installs it)")
def test_aria2c_reads_our_torrents(tmp_path):
    d = tmp_path / "pack"
    d.mkdir()
    (d / "a").write_bytes(b"a" * 40000)
    (d / "b").write_bytes(b"b" * 9)
    out = tmp_path / "p.torrent"
    out.write_bytes(metainfo.make(d, "http://t.example/announce"))
    shown = subprocess.run(["aria2c", "-S", str(out)], capture_output=True, text=True, check=True).stdout
    assert f"Info Hash: {metainfo.load(out).info_hash.hex()}" in shown
    assert "pack/a" in shown and "pack/b" in shown


_GOOD = bencode.encode({"announce": "http://t/a", "info": {"name": "x", "piece length": 16384,
                                                            "pieces": b"\1" * 40, "length": 20000}})


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=len(_GOOD) - 1), st.binary(min_size=1, max_size=4))
def test_fuzz_damaged_torrents_fail_cleanly(at, junk):
    try:
        metainfo.parse(_GOOD[:at] + junk + _GOOD[at + 1:])
    except (MetainfoError, bencode.BencodeError):
        pass
