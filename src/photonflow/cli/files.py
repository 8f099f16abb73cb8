"""``photonflow ls | get | put | status``: browse and move files of a cluster."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photonflow._units import human_size
from photonflow.cli._common import add_cluster_options, config_from_args

if TYPE_CHECKING:
    from photonflow.storage import ClusterClient

__all__ = ["register"]

# put: files are sent in pipelined batches of at most this many files / bytes.
_BATCH_FILES = 256
_BATCH_BYTES = 32 << 20
# put/get: show a progress bar from this many files or bytes on.
_PROGRESS_FILES = 20
_PROGRESS_BYTES = 64 << 20


def register(subparsers: Any) -> None:
    """Add the ``ls``, ``get``, ``put`` and ``status`` commands."""
    ls = subparsers.add_parser("ls", help="list a cluster directory (merged over all servers)")
    ls.add_argument("path", nargs="?", default="", help="cluster path or PYME-CLUSTER:// URI (default: root)")
    ls.add_argument("-l", "--long", action="store_true", help="show type flags, size and servers")
    add_cluster_options(ls)
    ls.set_defaults(handler=_guarded(_ls))

    get = subparsers.add_parser("get", help="copy a cluster file (or directory with -r) to local disk")
    get.add_argument("path", help="cluster path or PYME-CLUSTER:// URI")
    get.add_argument("dest", nargs="?", help="local file/directory, '-' for stdout (default: the name, here)")
    get.add_argument("-r", "--recursive", action="store_true", help="copy a whole directory")
    add_cluster_options(get)
    get.set_defaults(handler=_guarded(_get))

    put = subparsers.add_parser("put", help="copy local files or directories into a cluster directory")
    put.add_argument("sources", nargs="+", type=Path, help="local files or directories")
    put.add_argument("dest", help="cluster directory to put them in")
    put.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    add_cluster_options(put)
    put.set_defaults(handler=_guarded(_put))

    status = subparsers.add_parser("status", help="show every data server of the cluster: free space, responsive")
    status.add_argument("--timeout", type=float, default=2.0, help="seconds a server has to answer (default 2)")
    add_cluster_options(status)
    status.set_defaults(handler=_guarded(_status))


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Report a bad path or URI (ValueError) like other user errors, without a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ValueError as exc:
            print(f"photonflow: error: {exc}", file=sys.stderr)
            return 2

    return run


def _cluster_path(text: str) -> str:
    from photonflow.storage import parse_uri
    from photonflow.storage.client import normalize_path

    return parse_uri(text).path if text.lower().startswith("pyme-cluster://") else normalize_path(text)


def _client(args: argparse.Namespace) -> ClusterClient:
    from photonflow.storage import ClusterClient

    return ClusterClient(config=config_from_args(args))


def _ls(args: argparse.Namespace) -> int:
    with _client(args) as client:
        listing = client.listdirectory(args.path)
        for name in sorted(listing):
            if args.long:
                entry = listing[name]
                servers = ",".join(listing.locations.get(name, ()))
                print(f"{entry.type:#04x} {entry.size:>14} {name}  {servers}")
            else:
                print(name)
        for url in listing.unavailable:
            print(f"photonflow: warning: {url} did not answer; its files are missing above", file=sys.stderr)
    return 0


def _get(args: argparse.Namespace) -> int:
    with _client(args) as client:
        path = _cluster_path(args.path)
        if not args.recursive:
            data = client.get_file(path)
            if args.dest == "-":
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
                return 0
            dest = Path(args.dest) if args.dest else Path(Path(path).name)
            if dest.is_dir():
                dest = dest / Path(path).name
            dest.write_bytes(data)
            return 0
        dest_root = Path(args.dest) if args.dest else Path(Path(path).name or "cluster")
        files = [
            (f"{top}/{name}" if top else name, dest_root / top[len(path) :].lstrip("/") / name)
            for top, _, names in client.walk(path)
            for name in names
        ]
        for remote, local in _progress(files, total=len(files), unit="file", show=len(files) >= _PROGRESS_FILES):
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(client.get_file(remote))
    return 0


def _local_files(sources: list[Path], dest: str) -> list[tuple[Path, str]]:
    """Pairs (local file, cluster path) for every file under the sources."""
    pairs: list[tuple[Path, str]] = []
    prefix = dest.strip("/")
    for source in sources:
        if source.is_dir():
            for file in sorted(p for p in source.rglob("*") if p.is_file()):
                rel = file.relative_to(source.parent).as_posix()
                pairs.append((file, f"{prefix}/{rel}" if prefix else rel))
        elif source.is_file():
            pairs.append((source, f"{prefix}/{source.name}" if prefix else source.name))
        else:
            raise FileNotFoundError(f"{source} is not a file or directory")
    return pairs


def _batches(pairs: list[tuple[Path, str]]) -> Iterator[list[tuple[Path, str, int]]]:
    batch: list[tuple[Path, str, int]] = []
    size = 0
    for local, remote in pairs:
        n = local.stat().st_size
        if batch and (len(batch) >= _BATCH_FILES or size + n > _BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((local, remote, n))
        size += n
    if batch:
        yield batch


def _progress(items: Any, *, total: int, unit: str, show: bool) -> Any:
    from tqdm import tqdm

    return tqdm(items, total=total, unit=unit, disable=not show, file=sys.stderr)


def _put(args: argparse.Namespace) -> int:
    try:
        pairs = _local_files(args.sources, args.dest)
    except FileNotFoundError as exc:
        print(f"photonflow: error: {exc}", file=sys.stderr)
        return 2
    total = sum(local.stat().st_size for local, _ in pairs)
    show = not args.no_progress and (len(pairs) >= _PROGRESS_FILES or total >= _PROGRESS_BYTES)
    from tqdm import tqdm

    with (
        _client(args) as client,
        tqdm(total=total, unit="B", unit_scale=True, disable=not show, file=sys.stderr) as bar,
    ):
        for batch in _batches(pairs):
            if len(batch) == 1:
                local, remote, _ = batch[0]
                client.put_file(remote, local.read_bytes())
            else:
                client.put_files([(remote, local.read_bytes()) for local, remote, _ in batch])
            bar.update(sum(n for _, _, n in batch))
    print(f"stored {len(pairs)} file(s), {human_size(total)}", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        statuses = client.status(timeout_s=args.timeout)
    rows = [("SERVER", "RESPONSIVE", "FREE", "TOTAL", "USED%", "NAME")]
    for s in statuses:
        used = f"{100 * s.used / s.total:.0f}" if s.used is not None and s.total else "-"
        rows.append((s.url, "yes" if s.responsive else "NO", human_size(s.free), human_size(s.total), used, s.name))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    down = sum(not s.responsive for s in statuses)
    if down:
        print(f"photonflow: warning: {down} of {len(statuses)} server(s) did not answer", file=sys.stderr)
    return 1 if down == len(statuses) else 0
