"""The cluster file system: data server, client, discovery (PYME-compatible HTTP protocol)."""
