"""The aggregate-handler registry."""

from __future__ import annotations

from photonflow.storage.server._aggregate import Aggregators, TextAppend, default_aggregators


class _Recorder:
    kind = "h5r"

    def __init__(self):
        self.calls = []

    def append(self, target, body, *, rel):
        self.calls.append((target, body, rel))


def test_dispatch_is_on_the_whole_first_component():
    rec = _Recorder()
    registry = Aggregators([TextAppend(fsync=False), rec])
    handler, rest = registry.match("__aggregate_h5r/r/x.h5r/FitResults")
    assert handler is rec and rest == "r/x.h5r/FitResults"
    assert registry.match("__aggregate_h5/s.h5/frame0") is None
    assert registry.match("__aggregate_nope/x") is None
    assert registry.match("plain/path") is None


def test_text_append(tmp_path):
    handler, rest = default_aggregators(fsync=True).match("__aggregate_txt/logs/x.log")
    target = tmp_path / "x.log"
    handler.append(str(target), b"line1\n", rel=rest)
    handler.append(str(target), b"line2\n", rel=rest)
    assert target.read_bytes() == b"line1\nline2\n"
