"""Pure parts of the series writer, the pipelined-PUT response parser and the spool simulator (no sockets)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from photonflow.cli.spool import simulate_scmos_frames
from photonflow.errors import ProtocolError
from photonflow.formats.series import _event_list, frame_name
from photonflow.storage.client._pipeline import read_response
from photonflow.storage.fsspec import ClusterFileSystem
from photonflow.storage.streamer import Streamer


def test_frame_names_follow_pyme() -> None:
    assert frame_name(0) == "frame00000.pzf"
    assert frame_name(99999) == "frame99999.pzf"
    assert frame_name(100000) == "frame100000.pzf"


def test_events_from_tuples_and_pyme_structured_arrays() -> None:
    assert _event_list([("StartAq", "0", 1)]) == [("StartAq", "0", 1.0)]
    arr = np.array([(b"StartAq", b"0", 1.5), (b"Stop", b"", 2.0)],
                   dtype=[("EventName", "S32"), ("EventDescr", "S256"), ("Time", "f8")])
    assert _event_list(arr) == [("StartAq", "0", 1.5), ("Stop", "", 2.0)]
    with pytest.raises(ValueError):
        _event_list([("only-two", "fields")])


def test_response_parser_reads_pipelined_answers_in_order() -> None:
    wire = (b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            b"HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nexist"
            b"HTTP/1.1 507 Insufficient Storage\r\nContent-Length: 2\r\n\r\n{}")
    stream = io.BytesIO(wire)
    assert read_response(stream) == (200, "OK")
    assert read_response(stream) == (405, "Method Not Allowed")
    assert read_response(stream) == (507, "Insufficient Storage")
    with pytest.raises(ConnectionError):
        read_response(stream)


@pytest.mark.parametrize("wire", [b"garbage\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n"])
def test_response_parser_rejects_garbage(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        read_response(io.BytesIO(wire))


def test_response_parser_detects_a_cut_body() -> None:
    with pytest.raises(ConnectionError, match="inside a response body"):
        read_response(io.BytesIO(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"))


def test_streamer_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="at least one server"):
        Streamer([])
    with pytest.raises(ValueError, match="http://host:port"):
        Streamer(["ftp://example.org"])
    with pytest.raises(ValueError, match="at least 1"):
        Streamer(["http://127.0.0.1:1"], queue_size=0)
    streamer = Streamer(["http://127.0.0.1:1"])  # connects lazily: nothing is sent yet
    with pytest.raises(ValueError, match="out of range"):
        streamer.put("a", b"x", server=1)
    streamer.abort()


def test_uri_parsing_of_the_file_system() -> None:
    assert ClusterFileSystem._strip_protocol("pyme-cluster://lab/a/b.csv") == "a/b.csv"
    assert ClusterFileSystem._strip_protocol("PYME-CLUSTER:///a/b.csv") == "a/b.csv"
    assert ClusterFileSystem._get_kwargs_from_urls("PYME-CLUSTER://lab/a") == {"cluster": "lab"}
    assert ClusterFileSystem._strip_protocol("run1/x") == "run1/x"


def test_simulated_frames_look_like_an_scmos_camera() -> None:
    frames = list(simulate_scmos_frames(10, (128, 96), seed=1))
    assert len(frames) == 10 and frames[0].shape == (128, 96) and frames[0].dtype == np.uint16
    assert 100 < np.median(frames[0]) < 130  # offset + background
    assert frames[0].max() > 200  # emitters (peaks ≈ 140 ADU above the offset)
    assert not np.array_equal(frames[0], frames[1])
