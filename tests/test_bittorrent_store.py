"""The piece store alone: SHA-1 checks, pieces across files, resume from a partial download."""

from services.bittorrent import metainfo
from services.bittorrent.store import PieceStore

P = 16384


def make(tmp_path, multi=False):
    src = tmp_path / "src"
    if multi:
        src.mkdir()
        (src / "a").write_bytes(bytes([1]) * 20000)
        (src / "b").write_bytes(bytes([2]) * 30000)
    else:
        src.write_bytes(bytes(range(256)) * 200)
    return metainfo.parse(metainfo.make(src, "http://t/a", piece_length=P)), src


def content(src):
    return src.read_bytes() if src.is_file() else b"".join(p.read_bytes() for p in sorted(src.iterdir()))


def test_good_piece_is_written_bad_one_is_not(tmp_path):
    t, src = make(tmp_path)
    data = content(src)
    s = PieceStore(t, tmp_path / "dl")
    s.add_block(0, 0, data[:P], "alice")
    assert s.finish(0) == (True, {"alice"})
    s.add_block(1, 0, b"\xff" * P, "mallory")
    assert s.finish(1) == (False, {"mallory"})
    assert s.read(0, 0, P) == data[:P]
    assert s.read(1, 0, P) == bytes(P)  # nothing bad was written
    assert s.check_all() == {0}


def test_pieces_across_files(tmp_path):
    t, src = make(tmp_path, multi=True)
    data = content(src)
    s = PieceStore(t, tmp_path / "dl")
    for i in range(t.num_pieces):
        s.add_block(i, 0, data[i * P:(i + 1) * P], "x")
        assert s.finish(i)[0]
    s.close()
    assert (tmp_path / "dl" / "src" / "a").read_bytes() == bytes([1]) * 20000
    assert (tmp_path / "dl" / "src" / "b").read_bytes() == bytes([2]) * 30000


def test_resume_from_a_partial_file(tmp_path):
    t, src = make(tmp_path)
    (tmp_path / "dl").mkdir()
    partial = bytearray(content(src))
    partial[P + 5] ^= 1  # piece 1 damaged
    (tmp_path / "dl" / "src").write_bytes(bytes(partial[: 3 * P + 100]))  # pieces 3 onwards missing
    s = PieceStore(t, tmp_path / "dl")
    assert s.check_all() == {0, 2}
