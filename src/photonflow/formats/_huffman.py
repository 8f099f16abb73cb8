"""Numba kernels for the Huffman byte stream of PZF (Basic Compression Library format).

The stream is what Marcus Geelnard's BCL ``Huffman_Compress`` writes and PYME reads: a pre-order tree (bit 1 = leaf
followed by its 8-bit symbol, bit 0 = internal node followed by child A then child B), then each input byte's code,
MSB first, zero-padded to a byte boundary. There is no length prefix: the caller knows the decoded length.

The encoder builds the tree the way BCL does (repeatedly join the two lightest live nodes, later nodes winning ties),
so our output is byte-identical to PYME's for ordinary inputs. Codes longer than :data:`MAX_CODE_BITS` (possible only
for pathological, Fibonacci-like histograms) are avoided by flattening the histogram and rebuilding; any prefix code in
this tree form is decodable by PYME.

The decoder is table driven: one lookup of :data:`TABLE_BITS` bits resolves every code up to that length, longer codes
continue bit by bit from the tree node the table points at. Corrupt input never reads or writes out of bounds; the
kernels return a negative status instead (see ``STATUS_*``), which the caller turns into an exception.

Only numpy, numba and math are imported here; every kernel is ``nogil`` and ``cache=True``.
"""

from __future__ import annotations

import numba
import numpy as np

MAX_CODE_BITS = 32
TABLE_BITS = 11

STATUS_OK = 0
STATUS_TREE_TRUNCATED = -1
STATUS_TREE_INVALID = -2
STATUS_DATA_TRUNCATED = -3

_MAX_NODES = 511


@numba.njit(cache=True, nogil=True)
def _histogram(data: np.ndarray) -> np.ndarray:
    # Four partial histograms break the store-to-load dependency on runs of equal bytes.
    h = np.zeros((4, 256), np.int64)
    n = data.shape[0]
    n4 = n - n % 4
    for i in range(0, n4, 4):
        h[0, data[i]] += 1
        h[1, data[i + 1]] += 1
        h[2, data[i + 2]] += 1
        h[3, data[i + 3]] += 1
    for i in range(n4, n):
        h[0, data[i]] += 1
    out = np.zeros(256, np.int64)
    for k in range(256):
        out[k] = h[0, k] + h[1, k] + h[2, k] + h[3, k]
    return out


@numba.njit(cache=True, nogil=True)
def _build_codes(hist: np.ndarray, codes: np.ndarray, lengths: np.ndarray, tree_bits: np.ndarray) -> int:
    """Build the BCL Huffman tree for ``hist``; fill ``codes``/``lengths`` per symbol and the serialized tree.

    Returns the number of tree bits written into ``tree_bits`` (one bit per uint8 element) or -1 if a code would be
    longer than ``MAX_CODE_BITS``.
    """
    count = np.zeros(_MAX_NODES, np.int64)
    sym = np.full(_MAX_NODES, -1, np.int64)
    child_a = np.full(_MAX_NODES, -1, np.int64)
    child_b = np.full(_MAX_NODES, -1, np.int64)
    nsym = 0
    for k in range(256):
        if hist[k] > 0:
            count[nsym] = hist[k]
            sym[nsym] = k
            nsym += 1
    next_idx = nsym
    left = nsym
    root = 0
    while left > 1:
        n1 = -1
        n2 = -1
        for k in range(next_idx):
            c = count[k]
            if c > 0:
                if n1 < 0 or c <= count[n1]:
                    n2 = n1
                    n1 = k
                elif n2 < 0 or c <= count[n2]:
                    n2 = k
        root = next_idx
        child_a[root] = n1
        child_b[root] = n2
        count[root] = count[n1] + count[n2]
        count[n1] = 0
        count[n2] = 0
        next_idx += 1
        left -= 1
    # Pre-order walk with an explicit stack (child A before child B).
    stack_node = np.empty(_MAX_NODES, np.int64)
    stack_code = np.empty(_MAX_NODES, np.uint64)
    stack_len = np.empty(_MAX_NODES, np.int64)
    top = 0
    stack_node[0] = root
    stack_code[0] = 0
    # A lone symbol gets a 1-bit code "0" (BCL's special case); the tree is just that leaf.
    stack_len[0] = 1 if nsym == 1 else 0
    nbits = 0
    while top >= 0:
        node = stack_node[top]
        code = stack_code[top]
        ln = stack_len[top]
        top -= 1
        if sym[node] >= 0:
            if ln > MAX_CODE_BITS:
                return -1
            tree_bits[nbits] = 1
            nbits += 1
            s = sym[node]
            for b in range(7, -1, -1):
                tree_bits[nbits] = (s >> b) & 1
                nbits += 1
            codes[s] = code
            lengths[s] = ln
        else:
            tree_bits[nbits] = 0
            nbits += 1
            top += 1
            stack_node[top] = child_b[node]
            stack_code[top] = (code << np.uint64(1)) | np.uint64(1)
            stack_len[top] = ln + 1
            top += 1
            stack_node[top] = child_a[node]
            stack_code[top] = code << np.uint64(1)
            stack_len[top] = ln + 1
    return nbits


@numba.njit(cache=True, nogil=True)
def _write_stream(data: np.ndarray, codes: np.ndarray, lengths: np.ndarray, tree_bits: np.ndarray, ntree: int,
                  out: np.ndarray) -> int:
    acc = np.uint64(0)
    nacc = 0
    pos = 0
    for i in range(ntree):
        acc = (acc << np.uint64(1)) | np.uint64(tree_bits[i])
        nacc += 1
        if nacc == 32:
            out[pos] = np.uint8((acc >> np.uint64(24)) & np.uint64(0xFF))
            out[pos + 1] = np.uint8((acc >> np.uint64(16)) & np.uint64(0xFF))
            out[pos + 2] = np.uint8((acc >> np.uint64(8)) & np.uint64(0xFF))
            out[pos + 3] = np.uint8(acc & np.uint64(0xFF))
            pos += 4
            nacc = 0
            acc = np.uint64(0)
    for i in range(data.shape[0]):
        s = data[i]
        ln = lengths[s]
        acc = (acc << np.uint64(ln)) | codes[s]
        nacc += ln
        if nacc >= 32:
            nacc -= 32
            w = acc >> np.uint64(nacc)
            out[pos] = np.uint8((w >> np.uint64(24)) & np.uint64(0xFF))
            out[pos + 1] = np.uint8((w >> np.uint64(16)) & np.uint64(0xFF))
            out[pos + 2] = np.uint8((w >> np.uint64(8)) & np.uint64(0xFF))
            out[pos + 3] = np.uint8(w & np.uint64(0xFF))
            pos += 4
            acc &= (np.uint64(1) << np.uint64(nacc)) - np.uint64(1)
    while nacc >= 8:
        nacc -= 8
        out[pos] = np.uint8((acc >> np.uint64(nacc)) & np.uint64(0xFF))
        pos += 1
    if nacc > 0:
        out[pos] = np.uint8((acc << np.uint64(8 - nacc)) & np.uint64(0xFF))
        pos += 1
    return pos


@numba.njit(cache=True, nogil=True)
def huffman_encode(data: np.ndarray) -> np.ndarray:
    """Huffman-code a 1-D uint8 array into a BCL stream (empty input gives an empty stream)."""
    n = data.shape[0]
    if n == 0:
        return np.empty(0, np.uint8)
    hist = _histogram(data)
    counts = hist.copy()
    codes = np.zeros(256, np.uint64)
    lengths = np.zeros(256, np.int64)
    tree_bits = np.zeros(256 * 9 + _MAX_NODES, np.uint8)
    ntree = _build_codes(hist, codes, lengths, tree_bits)
    while ntree < 0:
        # Flatten the histogram (keeping every used symbol) until all codes fit the bit writer.
        for k in range(256):
            if hist[k] > 0:
                hist[k] = (hist[k] >> 1) | 1
        codes[:] = 0
        lengths[:] = 0
        ntree = _build_codes(hist, codes, lengths, tree_bits)
    # The exact size is known up front: tree bits plus sum(count * length).
    total = ntree
    for k in range(256):
        total += counts[k] * lengths[k]
    out = np.empty((total + 7) // 8 + 4, np.uint8)
    nbytes = _write_stream(data, codes, lengths, tree_bits, ntree, out)
    return out[:nbytes]


@numba.njit(cache=True, nogil=True)
def huffman_decode(src: np.ndarray, out: np.ndarray) -> int:
    """Decode a BCL stream in ``src`` (uint8) into all of ``out`` (uint8). Returns a ``STATUS_*`` code."""
    nsrc = src.shape[0]
    total_bits = nsrc * 8
    nout = out.shape[0]
    if nout == 0:
        return STATUS_OK
    child0 = np.full(_MAX_NODES, -1, np.int64)
    child1 = np.full(_MAX_NODES, -1, np.int64)
    sym = np.full(_MAX_NODES, -1, np.int64)
    filled = np.zeros(_MAX_NODES, np.int64)
    stack = np.empty(_MAX_NODES, np.int64)
    # --- parse the tree ------------------------------------------------------------------------------------------
    bitpos = 0
    nnodes = 0
    nleaves = 0
    top = -1
    parent = -1
    while True:
        if top >= 0:
            parent = stack[top]
            if filled[parent] == 2:
                top -= 1
                continue
        elif nnodes > 0:
            break
        if nnodes >= _MAX_NODES:
            return STATUS_TREE_INVALID
        if bitpos >= total_bits:
            return STATUS_TREE_TRUNCATED
        bit = (src[bitpos >> 3] >> (7 - (bitpos & 7))) & 1
        bitpos += 1
        node = nnodes
        nnodes += 1
        if bit == 1:
            if bitpos + 8 > total_bits:
                return STATUS_TREE_TRUNCATED
            s = 0
            for _ in range(8):
                s = (s << 1) | ((src[bitpos >> 3] >> (7 - (bitpos & 7))) & 1)
                bitpos += 1
            sym[node] = s
            nleaves += 1
            if nleaves > 256:
                return STATUS_TREE_INVALID
        if top >= 0:
            if filled[parent] == 0:
                child0[parent] = node
            else:
                child1[parent] = node
            filled[parent] += 1
        if bit == 0:
            if top + 1 >= _MAX_NODES:
                return STATUS_TREE_INVALID
            top += 1
            stack[top] = node
    if sym[0] >= 0:
        # A lone leaf: every output byte is that symbol and no data bits are consumed.
        out[:] = sym[0]
        return STATUS_OK
    # --- lookup table: entry = symbol | length << 8 for short codes, or -(node + 1) to continue walking --------------
    tsize = 1 << TABLE_BITS
    table = np.zeros(tsize, np.int64)
    tnode = np.empty(_MAX_NODES, np.int64)
    tcode = np.empty(_MAX_NODES, np.int64)
    tdepth = np.empty(_MAX_NODES, np.int64)
    top = 0
    tnode[0] = 0
    tcode[0] = 0
    tdepth[0] = 0
    while top >= 0:
        node = tnode[top]
        code = tcode[top]
        depth = tdepth[top]
        top -= 1
        if sym[node] >= 0:
            start = code << (TABLE_BITS - depth)
            for j in range(start, start + (1 << (TABLE_BITS - depth))):
                table[j] = sym[node] | (depth << 8)
        elif depth == TABLE_BITS:
            table[code] = -(node + 1)
        else:
            top += 1
            tnode[top] = child0[node]
            tcode[top] = code << 1
            tdepth[top] = depth + 1
            top += 1
            tnode[top] = child1[node]
            tcode[top] = (code << 1) | 1
            tdepth[top] = depth + 1
    # --- decode -----------------------------------------------------------------------------------------------------
    # acc holds nacc valid bits, left-aligned. Bytes past the end read as zero; whether the stream really held every
    # bit consumed is checked once at the end (bits loaded minus bits still buffered).
    acc = np.uint64(0)
    nacc = 0
    bytepos = bitpos >> 3
    skip = bitpos & 7
    if bytepos < nsrc:
        acc = np.uint64(src[bytepos]) << np.uint64(56 + skip)
    nacc = 8 - skip
    bytepos += 1
    shift_t = np.uint64(64 - TABLE_BITS)
    i = 0
    while i < nout:
        while nacc <= 56:
            if bytepos < nsrc:
                acc |= np.uint64(src[bytepos]) << np.uint64(56 - nacc)
            bytepos += 1
            nacc += 8
        # Several table hits per refill: each needs at most TABLE_BITS buffered bits.
        while nacc >= TABLE_BITS and i < nout:
            e = table[np.int64(acc >> shift_t)]
            if e < 0:
                break
            ln = e >> 8
            out[i] = e & 0xFF
            i += 1
            acc <<= np.uint64(ln)
            nacc -= ln
        if i < nout and nacc >= TABLE_BITS:
            e = table[np.int64(acc >> shift_t)]
            node = -e - 1
            acc <<= np.uint64(TABLE_BITS)
            nacc -= TABLE_BITS
            while sym[node] < 0:
                if nacc == 0:
                    if bytepos < nsrc:
                        acc = np.uint64(src[bytepos]) << np.uint64(56)
                    bytepos += 1
                    nacc = 8
                    if bytepos > nsrc + 64:
                        return STATUS_DATA_TRUNCATED
                b = acc >> np.uint64(63)
                acc <<= np.uint64(1)
                nacc -= 1
                node = child1[node] if b else child0[node]
            out[i] = sym[node]
            i += 1
    if bytepos * 8 - nacc > total_bits:
        return STATUS_DATA_TRUNCATED
    return STATUS_OK
