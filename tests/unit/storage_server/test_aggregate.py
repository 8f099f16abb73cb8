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


class _TableView:
    suffixes = (".h5r", ".hdf")

    def view(self, container, inner, query):
        from photonflow.storage.server._aggregate import ViewResponse

        if inner == "missing":
            raise KeyError(inner)
        return ViewResponse(200, f"{container}|{inner}|{query}".encode(), "text/json")


def test_container_views_are_matched_by_suffix_before_the_last_component():
    registry = Aggregators([], [_TableView()])
    view, index = registry.match_view(["r", "x.h5r", "FitResults.json"])
    assert isinstance(view, _TableView) and index == 1
    assert registry.match_view(["r", "x.h5r"]) is None  # the container itself is a plain file
    assert registry.match_view(["r", "x.txt", "y"]) is None


def test_container_view_served_through_the_server(tmp_path):
    import urllib.error
    import urllib.request

    from photonflow.storage.server import start_server

    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "x.h5r").write_bytes(b"not really hdf5")
    with start_server(tmp_path, cluster="v") as srv:
        srv._service.aggregators = Aggregators([TextAppend(fsync=False)], [_TableView()])
        got = urllib.request.urlopen(f"{srv.url}/r/x.h5r/FitResults.json?from=2", timeout=10).read().decode()
        assert got == f"{tmp_path / 'r' / 'x.h5r'}|FitResults.json|from=2"
        try:
            urllib.request.urlopen(f"{srv.url}/r/x.h5r/missing", timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
        else:
            raise AssertionError("missing part must be 404")
