"""The pyme-cluster:// fsspec file system against real data servers, used by fsspec, pandas, zarr and dask."""

from __future__ import annotations

import pickle

import fsspec
import numpy as np
import pytest

from photonflow.errors import AlreadyExistsError
from photonflow.storage.fsspec import ClusterFileSystem


@pytest.fixture
def cluster(dataserver):
    a, b = dataserver(), dataserver()
    opts = {"servers": [a.url, b.url], "registry": False, "zeroconf": False, "skip_instance_cache": True}
    return a, b, opts


def test_both_spellings_resolve_through_the_entry_points(cluster) -> None:
    _, _, opts = cluster
    for scheme in ("pyme-cluster", "PYME-CLUSTER"):
        fs, path = fsspec.core.url_to_fs(f"{scheme}://test/a/b.txt", **opts)
        assert isinstance(fs, ClusterFileSystem) and fs.cluster == "test" and path == "a/b.txt"


def test_write_once_read_ranges_list_info_exists(cluster) -> None:
    _, _, opts = cluster
    with fsspec.open("pyme-cluster://test/d/x.bin", "wb", **opts) as f:
        f.write(b"0123456789")
    fs = ClusterFileSystem("test", **opts)
    assert fs.cat_file("d/x.bin") == b"0123456789"
    assert fs.cat_file("pyme-cluster://test/d/x.bin", start=2, end=5) == b"234"
    assert fs.cat_file("d/x.bin", start=-3) == b"789"
    fs.pipe_file("d/y.bin", b"yy")
    assert fs.ls("d", detail=False) == ["d/x.bin", "d/y.bin"]
    assert fs.info("d/x.bin")["size"] == 10 and fs.info("d/x.bin")["type"] == "file"
    assert fs.info("d")["type"] == "directory" and fs.isdir("d")
    assert fs.exists("d/x.bin") and not fs.exists("d/nothing")
    assert fs.ls("", detail=True)[0]["type"] == "directory"
    with pytest.raises(FileNotFoundError):
        fs.info("d/nothing")
    with pytest.raises(AlreadyExistsError):
        fs.pipe_file("d/x.bin", b"again")
    with pytest.raises(FileExistsError):
        fs.open("d/x.bin", "wb")
    with pytest.raises(PermissionError):
        fs.rm("d/x.bin")
    with fsspec.open("PYME-CLUSTER://test/d/x.bin", "rb", **opts) as f:
        assert f.read() == b"0123456789"


def test_pickles_for_dask_workers(cluster) -> None:
    _, _, opts = cluster
    fs = ClusterFileSystem("test", **opts)
    fs.pipe_file("p/q.txt", b"hello")
    clone = pickle.loads(pickle.dumps(fs))
    assert clone.cat_file("p/q.txt") == b"hello"


def test_pandas_and_dask_read_cluster_csv(cluster, tmp_path) -> None:
    pd = pytest.importorskip("pandas")
    from dask.bytes import read_bytes

    _, _, opts = cluster
    df = pd.DataFrame({"x": np.arange(10.0), "y": np.arange(10) * 2})
    local = tmp_path / "t.csv"
    df.to_csv(local, index=False)
    fs = ClusterFileSystem("test", **opts)
    fs.put(str(local), "tables/t.csv")
    back = pd.read_csv("pyme-cluster://test/tables/t.csv", storage_options=opts)
    pd.testing.assert_frame_equal(back, df)
    _, blocks = read_bytes("pyme-cluster://test/tables/*.csv", delimiter=b"\n", blocksize=16, **opts)
    text = b"".join(block.compute() for block in blocks[0])
    assert text == local.read_bytes() and len(blocks[0]) > 1


def test_zarr_reads_and_writes_a_new_array(cluster) -> None:
    zarr = pytest.importorskip("zarr")
    _, _, opts = cluster
    data = np.arange(64, dtype=np.uint16).reshape(8, 8)
    store = zarr.storage.FsspecStore.from_url("pyme-cluster://test/z/a.zarr", storage_options=opts)
    arr = zarr.create_array(store, shape=data.shape, chunks=(4, 4), dtype=data.dtype)
    arr[:] = data
    store_ro = zarr.storage.FsspecStore.from_url("pyme-cluster://test/z/a.zarr", storage_options=opts,
                                                 read_only=True)
    np.testing.assert_array_equal(zarr.open_array(store_ro, mode="r")[:], data)
