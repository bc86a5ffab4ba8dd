"""The journal's Merkle tree, exactly as RFC 6962 section 2.1 defines it, over stored tiles.

Hashes:  leaf = SHA-256(0x00 || entry bytes),  node = SHA-256(0x01 || left || right),
         the empty tree = SHA-256("").

Storage: the hashes of complete subtrees are kept in *tiles* of height 8, as in the C2SP
tlog-tiles layout: tile (level l, index i) holds up to 256 consecutive hashes of the tree's
level 8*l, those of nodes i*256 ... i*256+255. Level-0 tiles (leaf hashes) are stored once
complete; higher tiles are stored as they grow. Any subtree hash is then at most 255 hash
operations away from stored hashes, so proofs cost O(log n) tile reads, whatever the size
of the journal. Leaves not yet in a complete tile are hashed from their entries.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Sequence
from typing import Protocol

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


_digest = operator.methodcaller("digest")
_sha256 = hashlib.sha256


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_hashes(entries: Sequence[bytes]) -> list[bytes]:
    """SHA-256(0x00 || e) of each entry; iterated in C, with no Python call per entry."""
    return list(map(_digest, map(_sha256, map(b"\x00".__add__, entries))))


def pair_up(level: Sequence[bytes]) -> list[bytes]:
    """The parents of consecutive pairs of nodes (an even count), iterated in C."""
    pairs = map(bytes.__add__, level[0::2], level[1::2])
    return list(map(_digest, map(_sha256, map(b"\x01".__add__, pairs))))


def fold(hashes: Sequence[bytes]) -> bytes:
    """The root of a perfect subtree over `hashes` (a power-of-two count)."""
    level = list(hashes)
    while len(level) > 1:
        level = pair_up(level)
    return level[0]


def split(blob: bytes) -> list[bytes]:
    return [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


def largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class HashStore(Protocol):
    """Where tiles live, and how leaves outside complete tiles are hashed."""

    def get_tiles(self, level: int, first: int, last: int) -> dict[int, bytes]:
        """Stored tiles of `level` with index in [first, last], as concatenated hashes."""
        ...

    def put_tile(self, level: int, index: int, hashes: bytes) -> None:
        """Store (insert or replace) a tile."""
        ...

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes of entries [start, end), computed from the entries themselves."""
        ...


class Tree:
    """The tree of the first `size` leaves of a store; caches what it reads."""

    def __init__(self, store: HashStore, size: int) -> None:
        self.store = store
        self.size = size
        self._tiles: dict[tuple[int, int], list[bytes]] = {}
        self._nodes: dict[tuple[int, int], bytes] = {}

    # hashes of the tree's levels 0, 8, 16, … ---------------------------------------

    def _stratum(self, stratum: int, start: int, end: int) -> list[bytes]:
        """Hashes at tree level 8*stratum for node indices [start, end)."""
        first, last = start // TILE_WIDTH, (end - 1) // TILE_WIDTH
        wanted = [t for t in range(first, last + 1) if (stratum, t) not in self._tiles]
        if wanted:
            found = self.store.get_tiles(stratum, wanted[0], wanted[-1])
            for t in wanted:
                self._tiles[(stratum, t)] = split(found.get(t, b""))
        hashes: list[bytes] = []
        for t in range(first, last + 1):
            tile = self._tiles[(stratum, t)]
            lo = max(start, t * TILE_WIDTH) - t * TILE_WIDTH
            hi = min(end, (t + 1) * TILE_WIDTH) - t * TILE_WIDTH
            if hi > len(tile):
                tile.extend(self._missing(stratum, t * TILE_WIDTH + len(tile), t * TILE_WIDTH + hi))
            hashes.extend(tile[lo:hi])
        return hashes

    def _missing(self, stratum: int, start: int, end: int) -> list[bytes]:
        """Hashes not in stored tiles: leaves from their entries, higher nodes from below."""
        if stratum == 0:
            return self.store.leaf_hashes(start, end)
        return [
            fold(self._stratum(stratum - 1, index * TILE_WIDTH, (index + 1) * TILE_WIDTH))
            for index in range(start, end)
        ]

    # subtrees and ranges ---------------------------------------------------------

    def subtree(self, level: int, index: int) -> bytes:
        """The hash of the perfect subtree of height `level` covering leaves
        [index * 2**level, (index + 1) * 2**level); they must all exist."""
        key = (level, index)
        cached = self._nodes.get(key)
        if cached is not None:
            return cached
        if (index + 1) << level > self.size:
            raise ValueError(f"subtree ({level}, {index}) is not complete in a tree of {self.size}")
        stratum, rest = divmod(level, TILE_HEIGHT)
        if rest == 0:
            value = self._stratum(stratum, index, index + 1)[0]
        else:
            # Fold the part of the stratum below in one go, caching every node on the way.
            width = 1 << rest
            level_hashes = self._stratum(stratum, index * width, (index + 1) * width)
            base_level, base_index = stratum * TILE_HEIGHT, index * width
            while len(level_hashes) > 1:
                level_hashes = [
                    node_hash(level_hashes[i], level_hashes[i + 1])
                    for i in range(0, len(level_hashes), 2)
                ]
                base_level += 1
                base_index //= 2
                for offset, value in enumerate(level_hashes):
                    self._nodes[(base_level, base_index + offset)] = value
            value = level_hashes[0]
        self._nodes[key] = value
        return value

    def leaf(self, index: int) -> bytes:
        return self.subtree(0, index)

    def range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) as RFC 6962 defines it for the leaves in that range."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return self.leaf(start)
        if n & (n - 1) == 0 and start % n == 0:
            return self.subtree(n.bit_length() - 1, start // n)
        k = largest_power_of_two_below(n)
        return node_hash(self.range_hash(start, start + k), self.range_hash(start + k, end))

    def root(self) -> bytes:
        return EMPTY_ROOT if self.size == 0 else self.range_hash(0, self.size)

    # proofs (RFC 6962 2.1.1 and 2.1.2) ---------------------------------------------

    def inclusion_proof(self, index: int) -> list[bytes]:
        """PATH(m, D[n]) for leaf `index` in this tree, nearest sibling first."""
        if not 0 <= index < self.size:
            raise ValueError(f"leaf {index} is not in a tree of {self.size}")
        path: list[bytes] = []
        start, end, m = 0, self.size, index
        while end - start > 1:
            k = largest_power_of_two_below(end - start)
            if m < k:
                path.append(self.range_hash(start + k, end))
                end = start + k
            else:
                path.append(self.range_hash(start, start + k))
                start, m = start + k, m - k
        return path[::-1]

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """PROOF(m, D[n]) between the first `old_size` leaves and this tree."""
        if not 0 < old_size <= self.size:
            raise ValueError(f"no consistency proof from {old_size} to {self.size}")
        proof: list[bytes] = []
        start, end, m, complete = 0, self.size, old_size, True
        while m != end - start:
            k = largest_power_of_two_below(end - start)
            if m <= k:
                proof.append(self.range_hash(start + k, end))
                end = start + k
            else:
                proof.append(self.range_hash(start, start + k))
                start, m, complete = start + k, m - k, False
        if not complete:
            proof.append(self.range_hash(start, end))
        return proof[::-1]


def extend(store: HashStore, old_size: int, new_leaves: Sequence[bytes]) -> None:
    """Store the tiles that the leaves [old_size, old_size + len(new_leaves)) complete or grow."""
    start = old_size
    # Level 0: only complete tiles are stored.
    pending: list[tuple[int, bytes]] = []  # (node index at level 8, hash) to push up
    end = old_size + len(new_leaves)
    first_tile = old_size // TILE_WIDTH
    for tile in range(first_tile, end // TILE_WIDTH):
        lo, hi = tile * TILE_WIDTH, (tile + 1) * TILE_WIDTH
        earlier = store.leaf_hashes(lo, start) if lo < start else []
        leaves = earlier + list(new_leaves[max(lo, start) - old_size : hi - old_size])
        store.put_tile(0, tile, b"".join(leaves))
        pending.append((tile, fold(leaves)))
    stratum = 1
    while pending:
        pushed: list[tuple[int, bytes]] = []
        by_tile: dict[int, list[tuple[int, bytes]]] = {}
        for index, value in pending:
            by_tile.setdefault(index // TILE_WIDTH, []).append((index, value))
        stored = store.get_tiles(stratum, min(by_tile), max(by_tile))
        for tile, nodes in sorted(by_tile.items()):
            hashes = split(stored.get(tile, b""))
            for index, value in nodes:
                if index - tile * TILE_WIDTH != len(hashes):
                    raise ValueError(f"tile ({stratum}, {tile}) would get a gap at node {index}")
                hashes.append(value)
            store.put_tile(stratum, tile, b"".join(hashes))
            if len(hashes) == TILE_WIDTH:
                pushed.append((tile, fold(hashes)))
        pending, stratum = pushed, stratum + 1


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does `path` prove leaf `index` with hash `leaf` in tree (size, root)?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: does `proof` show tree (old_size, old_root) is a prefix of (size, root)?"""
    if old_size == size:
        return old_root == root and not proof
    if not 0 < old_size < size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == root
