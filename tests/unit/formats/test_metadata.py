"""PYME metadata: JSON exactly as PYME writes it, numpy value normalisation, analysis helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photonflow.errors import FormatError
from photonflow.formats.metadata import CameraParameters, Metadata, series_metadata

PYME_WRITTEN = """{
  "Camera.ADOffset": 100,
  "Camera.ElectronsPerCount": 0.45,
  "Camera.ReadNoise": 1.6,
  "DimOrder": "XYCZT",
  "SizeT": -1,
  "Spooler.Version": "0.2",
  "imageID": "abc\\u00b5",
  "voxelsize.x": 0.107
}"""


def test_to_json_is_pymes_layout() -> None:
    md = Metadata.from_json(PYME_WRITTEN)
    assert md.to_json() == PYME_WRITTEN
    assert md["imageID"] == "abcµ"


def test_numpy_values_encoded_as_pyme_does() -> None:
    md = Metadata()
    md["Camera.ADOffset"] = np.float32(100.5)
    md["Camera.ROIWidth"] = np.int64(2048)
    md["Flag"] = np.bool_(True)
    md["Analysis.BGRange"] = np.array([-30, 0])
    md["Tuple"] = (1, np.uint16(2))
    text = md.to_json()
    assert json.loads(text) == {
        "Analysis.BGRange": [-30, 0],
        "Camera.ADOffset": 100.5,
        "Camera.ROIWidth": 2048,
        "Flag": True,
        "Tuple": [1, 2],
    }
    assert type(md["Camera.ROIWidth"]) is int
    assert Metadata.from_json(text) == md


def test_objects_with_to_json_and_rejections() -> None:
    class Thing:
        def to_JSON(self) -> dict[str, int]:
            return {"a": 1}

    md = Metadata({"X.y": Thing()})
    assert md["X.y"] == {"a": 1}
    with pytest.raises(TypeError):
        md["bad"] = object()
    for key in ("", "a..b", ".a", "a."):
        with pytest.raises(KeyError):
            md[key] = 1


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
_keys = st.lists(st.text("abcXYZ_0123", min_size=1, max_size=6), min_size=1, max_size=3).map(".".join)


@settings(max_examples=100, deadline=None)
@given(entries=st.dictionaries(_keys, _values, max_size=10))
def test_json_round_trip_property(entries: dict) -> None:
    md = Metadata(entries)
    text = md.to_json()
    back = Metadata.from_json(text)
    assert back == md
    assert back.to_json() == text
    assert text == json.dumps(entries, indent=2, sort_keys=True)


def test_from_json_errors() -> None:
    with pytest.raises(FormatError, match="not valid JSON"):
        Metadata.from_json("{nope")
    with pytest.raises(FormatError, match="object"):
        Metadata.from_json("[1, 2]")


def test_analysis_helpers() -> None:
    md = Metadata.from_json(PYME_WRITTEN)
    with pytest.raises(FormatError, match=r"voxelsize\.y"):
        _ = md.voxelsize_nm
    md.set_pixel_size_nm(65.0, 70.0, z=100.0)
    assert md.voxelsize_nm == pytest.approx((65.0, 70.0, 100.0))
    cam = md.camera
    assert cam == CameraParameters(ad_offset=100.0, electrons_per_count=0.45, read_noise=1.6)
    assert md.roi_origin == (0, 0)
    md["Camera.ROIPosX"], md["Camera.ROIPosY"] = 11, 21
    assert md.roi_origin == (10, 20)
    md["Camera.ROIOriginX"], md["Camera.ROIOriginY"] = 3, 4
    assert md.roi_origin == (3, 4)
    assert md.section("Camera")["ReadNoise"] == 1.6
    del md["Camera.ReadNoise"]
    with pytest.raises(FormatError, match=r"Camera\.ReadNoise"):
        _ = md.camera
    md["Camera.ReadNoise"] = "loud"
    with pytest.raises(FormatError, match="number"):
        _ = md.camera


def test_series_metadata_defaults() -> None:
    cam = CameraParameters(ad_offset=100, electrons_per_count=0.45, read_noise=1.6)
    md = series_metadata(image_id="id1", pixel_size_nm=100.0, camera=cam, extra={"SizeT": 500})
    assert md["DimOrder"] == "XYCZT" and (md["SizeC"], md["SizeZ"], md["SizeT"]) == (1, 1, 500)
    assert md.camera == cam
    assert md.pixel_size_nm == (100.0, 100.0)
