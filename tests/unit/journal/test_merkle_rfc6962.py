"""The journal's tiled Merkle tree checked against answers that do not come from it.

Three independent sources of truth:

* a minimal reference implementation written in this file from the text of RFC 6962
  section 2.1 (MTH, PATH, PROOF/SUBPROOF), recursive on plain lists of byte strings, and a
  proof verifier written from RFC 9162 sections 2.1.3.2 and 2.1.4.2;
* known answers computed by Google's independent implementation (the RFC 6962 test vectors
  of the certificate-transparency / transparency-dev projects, copied below as data);
* properties over random sizes and random batchings of `extend` on an in-memory store.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coffre.journal.merkle import TILE_WIDTH, Tree, extend, verify_consistency, verify_inclusion

examples = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------------------------------
# Reference implementation, straight from RFC 6962 section 2.1
# ---------------------------------------------------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def largest_power_of_two_smaller_than(n: int) -> int:
    # "For n > 1, let k be the largest power of two smaller than n (i.e., k < n <= 2k)."
    k = 1
    while 2 * k < n:
        k *= 2
    assert k < n <= 2 * k
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """RFC 6962 2.1, the Merkle Tree Hash of the list of inputs `d`."""
    n = len(d)
    if n == 0:
        # "The hash of an empty list is the hash of an empty string:  MTH({}) = SHA-256()."
        return sha256(b"")
    if n == 1:
        # "The hash of a list with one entry (also known as a leaf hash) is:
        #  MTH({d(0)}) = SHA-256(0x00 || d(0))."
        return sha256(b"\x00" + d[0])
    # "For n > 1, let k be the largest power of two smaller than n (i.e., k < n <= 2k).
    #  The Merkle Tree Hash of an n-element list D[n] is then defined recursively as
    #  MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))"
    k = largest_power_of_two_smaller_than(n)
    return sha256(b"\x01" + mth(d[0:k]) + mth(d[k:n]))


def rfc_leaf_hash(entry: bytes) -> bytes:
    return mth([entry])


def rfc_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 2.1.1, PATH(m, D[n]): the audit path of leaf d(m)."""
    n = len(d)
    assert 0 <= m < n
    if n == 1:
        # "The path for the single leaf in a tree with a one-element input list
        #  D[1] = {d(0)} is empty:  PATH(0, {d(0)}) = {}"
        return []
    # "For n > 1, let k be the largest power of two smaller than n.  The path for the
    #  (m+1)th element d(m) in a list of n > m elements is then defined recursively as
    #  PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) for m < k; and
    #  PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k]) for m >= k,
    #  where : is concatenation of lists"
    k = largest_power_of_two_smaller_than(n)
    if m < k:
        return [*rfc_path(m, d[0:k]), mth(d[k:n])]
    return [*rfc_path(m - k, d[k:n]), mth(d[0:k])]


def rfc_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 2.1.2, PROOF(m, D[n]): the consistency proof from MTH(D[0:m])."""
    # "the Merkle consistency proof PROOF(m, D[n]) for a previous Merkle Tree Hash
    #  MTH(D[0:m]), 0 < m < n, is defined as:  PROOF(m, D[n]) = SUBPROOF(m, D[n], true)"
    # (m == n is allowed here too: SUBPROOF(m, D[m], true) = {} below.)
    assert 0 < m <= len(d)
    return rfc_subproof(m, d, True)


def rfc_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        # "The subproof for m = n is empty if m is the value for which PROOF was
        #  originally requested (meaning that the subtree Merkle Tree Hash MTH(D[0:m]) is
        #  known):  SUBPROOF(m, D[m], true) = {}
        #  The subproof for m = n is the Merkle Tree Hash committing inputs D[0:m];
        #  otherwise:  SUBPROOF(m, D[m], false) = {MTH(D[m])}"
        return [] if b else [mth(d)]
    # "For m < n, let k be the largest power of two smaller than n.  The subproof is
    #  then defined recursively."
    k = largest_power_of_two_smaller_than(n)
    if m <= k:
        # "If m <= k, the right subtree entries D[k:n] only exist in the current tree.
        #  We prove that the left subtree entries D[0:k] are consistent and add a
        #  commitment to D[k:n]:  SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])"
        return [*rfc_subproof(m, d[0:k], b), mth(d[k:n])]
    # "If m > k, the left subtree entries D[0:k] are identical in both trees.  We prove
    #  that the right subtree entries D[k:n] are consistent and add a commitment to
    #  D[0:k].  SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])"
    return [*rfc_subproof(m - k, d[k:n], False), mth(d[0:k])]


def path_length(m: int, n: int) -> int:
    """len(PATH(m, D[n])), from the same recursion with the hashes left out."""
    if n == 1:
        return 0
    k = largest_power_of_two_smaller_than(n)
    return 1 + (path_length(m, k) if m < k else path_length(m - k, n - k))


def proof_length(m: int, n: int, b: bool = True) -> int:
    """len(SUBPROOF(m, D[n], b)), from the same recursion with the hashes left out."""
    if m == n:
        return 0 if b else 1
    k = largest_power_of_two_smaller_than(n)
    return 1 + (proof_length(m, k, b) if m <= k else proof_length(m - k, n - k, False))


# ---------------------------------------------------------------------------------------
# Independent verifier, straight from RFC 9162 sections 2.1.3.2 and 2.1.4.2
# ---------------------------------------------------------------------------------------


def rfc_node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def lsb(x: int) -> bool:
    return x & 1 == 1


def rfc_verify_inclusion(
    leaf_index: int, tree_size: int, hash_: bytes, inclusion_path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2, Verifying an Inclusion Proof."""
    if leaf_index < 0 or tree_size < 0:  # the RFC's integers are unsigned
        return False
    # "1. Compare leaf_index from the inclusion_proof_v2 structure against tree_size.  If
    #     leaf_index is greater than or equal to tree_size, then fail the proof
    #     verification."
    if leaf_index >= tree_size:
        return False
    # "2. Set fn to leaf_index and sn to tree_size - 1."
    fn, sn = leaf_index, tree_size - 1
    # "3. Set r to hash."
    r = hash_
    # "4. For each value p in the inclusion_path array:"
    for p in inclusion_path:
        # "a. If sn is 0, then stop the iteration and fail the proof verification."
        if sn == 0:
            return False
        # "b. If LSB(fn) is set, or if fn is equal to sn, then:"
        if lsb(fn) or fn == sn:
            # "i. Set r to HASH(0x01 || p || r)."
            r = rfc_node(p, r)
            # "ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            #      either LSB(fn) is set or fn is 0."
            if not lsb(fn):
                while not (lsb(fn) or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            # "Otherwise:  i. Set r to HASH(0x01 || r || p)."
            r = rfc_node(r, p)
        # "c. Finally, right-shift both fn and sn one time."
        fn, sn = fn >> 1, sn >> 1
    # "5. Compare sn to 0.  Compare r against the root_hash.  If sn is equal to 0 and r and
    #     the root_hash are equal, then the log has proven the inclusion of hash.
    #     Otherwise, fail the proof verification."
    return sn == 0 and r == root


def rfc_verify_consistency(
    first: int,
    second: int,
    first_hash: bytes,
    second_hash: bytes,
    consistency_path: Sequence[bytes],
) -> bool:
    """RFC 9162 2.1.4.2, Verifying Consistency between Two Tree Heads."""
    if first == second:
        # Outside the algorithm, which is for "0 < first < second": by RFC 6962 2.1.2
        # PROOF(n, D[n]) = SUBPROOF(n, D[n], true) = {}, and the two heads must be equal.
        return first >= 0 and first_hash == second_hash and not consistency_path
    if not 0 < first < second:
        return False
    # "1. If consistency_path is an empty array, stop and fail the proof verification."
    if not consistency_path:
        return False
    path = list(consistency_path)
    # "2. If first is an exact power of 2, then prepend first_hash to the
    #     consistency_path array."
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    # "3. Set fn to first - 1 and sn to second - 1."
    fn, sn = first - 1, second - 1
    # "4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not
    #     set."
    while lsb(fn):
        fn, sn = fn >> 1, sn >> 1
    # "5. Set both fr and sr to the first value in the consistency_path array."
    fr = sr = path[0]
    # "6. For each subsequent value c in the consistency_path array:"
    for c in path[1:]:
        # "a. If sn is 0, then stop the iteration and fail the proof verification."
        if sn == 0:
            return False
        # "b. If LSB(fn) is set, or if fn is equal to sn, then:"
        if lsb(fn) or fn == sn:
            # "i. Set fr to HASH(0x01 || c || fr).  ii. Set sr to HASH(0x01 || c || sr)."
            fr = rfc_node(c, fr)
            sr = rfc_node(c, sr)
            # "iii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            #       either LSB(fn) is set or fn is 0."
            if not lsb(fn):
                while not (lsb(fn) or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            # "Otherwise:  i. Set sr to HASH(0x01 || sr || c)."
            sr = rfc_node(sr, c)
        # "c. Finally, right-shift both fn and sn one time."
        fn, sn = fn >> 1, sn >> 1
    # "7. After completing iterating through the consistency_path array as described
    #     above, verify that the fr calculated is equal to the first_hash supplied, that
    #     the sr calculated is equal to the second_hash supplied, and that sn is 0."
    return fr == first_hash and sr == second_hash and sn == 0


def both_verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """The module's verdict, after checking that the independent verifier agrees."""
    ours = rfc_verify_inclusion(index, size, leaf, path, root)
    theirs = verify_inclusion(index, size, leaf, list(path), root)
    assert ours == theirs, f"verifiers disagree on inclusion ({index}, {size}): rfc={ours}"
    return theirs


def both_verify_consistency(
    old_size: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]
) -> bool:
    ours = rfc_verify_consistency(old_size, size, old_root, root, proof)
    theirs = verify_consistency(old_size, size, old_root, root, list(proof))
    assert ours == theirs, f"verifiers disagree on consistency ({old_size}, {size}): rfc={ours}"
    return theirs


# ---------------------------------------------------------------------------------------
# An in-memory HashStore, and a journal built on it with extend()
# ---------------------------------------------------------------------------------------


class MemoryStore:
    """Tiles in a dict, entries in a list; leaf hashes computed from the entries."""

    def __init__(self) -> None:
        self.entries: list[bytes] = []
        self.tiles: dict[tuple[int, int], bytes] = {}
        self.calls: Counter[str] = Counter()
        self.leaves_hashed = 0

    def get_tiles(self, level: int, first: int, last: int) -> dict[int, bytes]:
        self.calls["get_tiles"] += 1
        return {i: h for (lv, i), h in self.tiles.items() if lv == level and first <= i <= last}

    def put_tile(self, level: int, index: int, hashes: bytes) -> None:
        self.calls["put_tile"] += 1
        assert len(hashes) % 32 == 0 and 0 < len(hashes) <= 32 * TILE_WIDTH
        self.tiles[(level, index)] = hashes

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        self.calls["leaf_hashes"] += 1
        if not 0 <= start <= end <= len(self.entries):
            raise LookupError(f"no entries [{start}, {end}) in a store of {len(self.entries)}")
        self.leaves_hashed += end - start
        return [rfc_leaf_hash(e) for e in self.entries[start:end]]

    def append(self, batch: Sequence[bytes]) -> None:
        """What the journal service does: store the entries, then extend the tree."""
        old_size = len(self.entries)
        self.entries.extend(batch)
        extend(self, old_size, [rfc_leaf_hash(e) for e in batch])


def make_entries(count: int, seed: int) -> list[bytes]:
    """Distinct entries of varied lengths (distinct, so no two subtrees hash alike)."""
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(0, 40)) + i.to_bytes(4, "big") for i in range(count)]


def build(entries: Sequence[bytes], cuts: Sequence[int] = ()) -> MemoryStore:
    store = MemoryStore()
    bounds = [0, *sorted(cuts), len(entries)]
    for lo, hi in itertools.pairwise(bounds):
        store.append(entries[lo:hi])
    return store


def flip(h: bytes, at: int = 0) -> bytes:
    return h[:at] + bytes([h[at] ^ 0x01]) + h[at + 1 :]


# ---------------------------------------------------------------------------------------
# Known answers from Google's independent implementation
#
# Leaf inputs, node hashes and roots: transparency-dev/merkle, testonly/constants.go
# (LeafInputs, NodeHashes, RootHashes, EmptyRootHash). Inclusion and consistency proofs:
# transparency-dev/merkle, proof/verify_test.go (inclusionProofs, consistencyProofs; leaf
# numbers there are 1-based). The same vectors, minus the (6, 7) consistency proof, are in
# google/certificate-transparency-go, merkletree/merkle_verifier_test.go.
# ---------------------------------------------------------------------------------------

KAT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]

KAT_EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# KAT_ROOTS[n - 1] is the root of the tree of the first n leaves.
KAT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# KAT_NODES[level][index]: the complete subtrees of the 8-leaf tree.
KAT_NODES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

# (1-based leaf number, tree size, audit path)
KAT_INCLUSION = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

# (old size, new size, consistency proof)
KAT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

KAT_SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def hexes(hashes: Sequence[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


@pytest.fixture(scope="module")
def kat_store() -> MemoryStore:
    store = MemoryStore()
    for entry in KAT_LEAVES:  # one extend per leaf
        store.append([entry])
    return store


def test_the_reference_implementation_reproduces_the_known_answers() -> None:
    assert mth([]).hex() == KAT_EMPTY_ROOT
    for n, root in enumerate(KAT_ROOTS, start=1):
        assert mth(KAT_LEAVES[:n]).hex() == root
    for level, nodes in enumerate(KAT_NODES):
        for index, node in enumerate(nodes):
            width = 1 << level
            assert mth(KAT_LEAVES[index * width : (index + 1) * width]).hex() == node
    for leaf, size, path in KAT_INCLUSION:
        assert hexes(rfc_path(leaf - 1, KAT_LEAVES[:size])) == path
    for old_size, size, proof in KAT_CONSISTENCY:
        assert hexes(rfc_proof(old_size, KAT_LEAVES[:size])) == proof


def test_the_empty_tree_root_is_the_known_answer() -> None:
    assert Tree(MemoryStore(), 0).root().hex() == KAT_EMPTY_ROOT
    assert Tree(MemoryStore(), 0).root() == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("batches", [[8], [1] * 8, [3, 5], [2, 0, 6]])
def test_roots_of_every_size_are_the_known_answers(batches: list[int]) -> None:
    store = MemoryStore()
    for count in batches:
        store.append(KAT_LEAVES[len(store.entries) : len(store.entries) + count])
        for n in range(1, len(store.entries) + 1):
            assert Tree(store, n).root().hex() == KAT_ROOTS[n - 1]


def test_leaf_and_node_hashes_are_the_known_answers(kat_store: MemoryStore) -> None:
    tree = Tree(kat_store, 8)
    for index, node in enumerate(KAT_NODES[0]):
        assert tree.leaf(index).hex() == node
    for level, nodes in enumerate(KAT_NODES):
        for index, node in enumerate(nodes):
            assert tree.subtree(level, index).hex() == node
            width = 1 << level
            assert tree.range_hash(index * width, (index + 1) * width).hex() == node


@pytest.mark.parametrize(("leaf", "size", "path"), KAT_INCLUSION)
def test_inclusion_proofs_are_the_known_answers(
    kat_store: MemoryStore, leaf: int, size: int, path: list[str]
) -> None:
    index = leaf - 1
    proof = Tree(kat_store, size).inclusion_proof(index)
    assert hexes(proof) == path
    leaf_hash = bytes.fromhex(KAT_NODES[0][index])
    root = bytes.fromhex(KAT_ROOTS[size - 1])
    assert both_verify_inclusion(index, size, leaf_hash, proof, root)
    # The corruptions transparency-dev/merkle's proof/verify_test.go tries (corruptInclusionProof).
    probes = [
        (index - 1, size, root, leaf_hash, proof),
        (index + 1, size, root, leaf_hash, proof),
        (index ^ 2, size, root, leaf_hash, proof),
        (index, size * 2, root, leaf_hash, proof),
        (index, size // 2, root, leaf_hash, proof),
        (index, size, root, b"WrongLeaf", proof),
        (index, size, bytes.fromhex(KAT_EMPTY_ROOT), leaf_hash, proof),
        (index, size, KAT_SOME_HASH, leaf_hash, proof),
        (index, size, root, leaf_hash, [*proof, b""]),
        (index, size, root, leaf_hash, [*proof, root]),
        (index, size, root, leaf_hash, [b"", *proof]),
        (index, size, root, leaf_hash, [root, *proof]),
    ]
    probes += [
        (index, size, root, leaf_hash, [*proof[:i], flip(proof[i]), *proof[i + 1 :]])
        for i in range(len(proof))
    ]
    if proof:
        probes.append((index, size, root, leaf_hash, proof[:-1]))
    if len(proof) > 1:
        probes.append((index, size, root, leaf_hash, [proof[0], KAT_SOME_HASH, *proof[1:]]))
    for i, n, r, h, p in probes:
        assert not both_verify_inclusion(i, n, h, p, r), (i, n, r.hex(), h.hex(), hexes(p))


@pytest.mark.parametrize(("old_size", "size", "proof_hex"), KAT_CONSISTENCY)
def test_consistency_proofs_are_the_known_answers(
    kat_store: MemoryStore, old_size: int, size: int, proof_hex: list[str]
) -> None:
    proof = Tree(kat_store, size).consistency_proof(old_size)
    assert hexes(proof) == proof_hex
    old_root = bytes.fromhex(KAT_ROOTS[old_size - 1])
    root = bytes.fromhex(KAT_ROOTS[size - 1])
    assert both_verify_consistency(old_size, size, old_root, root, proof)
    if not proof:
        return
    # The corruptions of transparency-dev/merkle's proof/verify_test.go (corruptConsistencyProof).
    probes = [
        (old_size - 1, size, old_root, root, proof),
        (old_size + 1, size, old_root, root, proof),
        (old_size ^ 2, size, old_root, root, proof),
        (old_size, size * 2, old_root, root, proof),
        (old_size, size // 2, old_root, root, proof),
        (old_size, size, b"WrongRoot", root, proof),
        (old_size, size, old_root, b"WrongRoot", proof),
        (old_size, size, root, old_root, proof),
        (old_size, size, old_root, root, []),
        (old_size, size, old_root, root, [*proof, b""]),
        (old_size, size, old_root, root, [*proof, old_root]),
        (old_size, size, old_root, root, [*proof, root]),
        (old_size, size, old_root, root, [b"", *proof]),
        (old_size, size, old_root, root, [old_root, *proof]),
        (old_size, size, old_root, root, [root, *proof]),
        (old_size, size, old_root, root, [proof[0], *proof]),
        (old_size, size, old_root, root, proof[:-1]),
    ]
    probes += [
        (old_size, size, old_root, root, [*proof[:i], flip(proof[i]), *proof[i + 1 :]])
        for i in range(len(proof))
    ]
    for m, n, r1, r2, p in probes:
        assert not both_verify_consistency(m, n, r1, r2, p), (m, n, r1.hex(), r2.hex(), hexes(p))


def test_verifiers_on_degenerate_inputs() -> None:
    # From the degenerate cases of transparency-dev/merkle's proof/verify_test.go.
    empty = bytes.fromhex(KAT_EMPTY_ROOT)
    for index, size in [(0, 0), (0, 1), (1, 0), (2, 1)]:
        assert not both_verify_inclusion(index, size, KAT_SOME_HASH, [], b"")
        assert not both_verify_inclusion(index, size, b"", [], empty)
        assert not both_verify_inclusion(index, size, KAT_SOME_HASH, [], empty)
    leaf = rfc_leaf_hash(b"data")
    assert both_verify_inclusion(0, 1, leaf, [], leaf)
    assert not both_verify_inclusion(0, 1, b"", [], leaf)
    assert not both_verify_inclusion(0, 1, leaf, [], b"")
    assert both_verify_consistency(1, 1, KAT_SOME_HASH, KAT_SOME_HASH, [])
    assert not both_verify_consistency(1, 1, KAT_SOME_HASH, empty, [])
    assert not both_verify_consistency(1, 1, empty, empty, [empty])
    assert not both_verify_consistency(1, 0, KAT_SOME_HASH, empty, [])  # time travel
    assert not both_verify_consistency(2, 1, KAT_SOME_HASH, empty, [])
    assert not both_verify_consistency(1, 2, KAT_SOME_HASH, empty, [])  # empty proof
    assert both_verify_consistency(0, 0, empty, empty, [])
    assert not both_verify_consistency(0, 0, empty, empty, [empty])
    # From the empty tree: outside RFC 9162's "0 < first < second"; transparency-dev
    # accepts it with an empty proof, this module refuses it (as it refuses to make such a
    # proof). Only agreement between the two verifiers is required here.
    both_verify_consistency(0, 1, empty, KAT_SOME_HASH, [])


# ---------------------------------------------------------------------------------------
# Properties: random sizes and random batchings of extend()
# ---------------------------------------------------------------------------------------

BOUNDARY_SIZES = [1, 2, 255, 256, 257, 511, 512, 513, 768, 1023, 1024, 1025, 1792, 2000]


@st.composite
def journals(draw: st.DrawFn, min_size: int = 0) -> tuple[list[bytes], MemoryStore, list[int]]:
    """(entries, store built by extend in random batches, the batch boundaries)."""
    n = draw(
        st.one_of(
            st.integers(min_size, 2000),
            st.integers(min_size, 300),
            st.sampled_from([s for s in BOUNDARY_SIZES if s >= min_size]),
        )
    )
    cuts = draw(st.lists(st.integers(0, n), max_size=8))
    entries = make_entries(n, draw(st.integers(0, 2**32)))
    return entries, build(entries, cuts), sorted(cuts)


def interesting_indices(n: int) -> list[int]:
    """First and last leaves, and the leaves around tile edges."""
    picks = {0, n - 1, n // 2}
    for edge in range(TILE_WIDTH, n + 1, TILE_WIDTH):
        picks.update({edge - 1, edge})
    return sorted(i for i in picks if 0 <= i < n)


@examples
@given(data=st.data())
def test_roots_match_mth_after_every_extend_and_for_every_prefix(data: st.DataObject) -> None:
    n = data.draw(st.one_of(st.integers(0, 2000), st.sampled_from(BOUNDARY_SIZES)), label="n")
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=8), label="cuts"))
    entries = make_entries(n, data.draw(st.integers(0, 2**32), label="seed"))
    store = MemoryStore()
    done = 0
    for cut in [*cuts, n]:
        store.append(entries[done:cut])
        done = cut
        # (a fresh Tree each time: a Tree caches what it reads)
        assert Tree(store, done).root() == mth(entries[:done])
    prefixes = data.draw(st.lists(st.integers(0, n), max_size=10), label="prefixes")
    for m in [*prefixes, 0, n, *(s for s in BOUNDARY_SIZES if s <= n)]:
        assert Tree(store, m).root() == mth(entries[:m]), m
    # One tree answering for many ranges, aligned or not, to exercise its caches.
    tree = Tree(store, n)
    for m in prefixes:
        if m:
            assert tree.range_hash(0, m) == mth(entries[:m])
    bounds = st.tuples(st.integers(0, n), st.integers(0, n))
    ranges = data.draw(st.lists(bounds, max_size=20), label="ranges")
    for a, b in ranges:
        start, end = min(a, b), max(a, b)
        if start < end:
            assert tree.range_hash(start, end) == mth(entries[start:end]), (start, end)


@examples
@given(journal=journals())
def test_stored_tiles_hold_the_subtree_hashes_of_the_layout(
    journal: tuple[list[bytes], MemoryStore, list[int]],
) -> None:
    entries, store, _ = journal
    n = len(entries)
    # Level 0: only complete tiles, each the 256 leaf hashes.
    level0 = sorted(i for (lv, i) in store.tiles if lv == 0)
    assert level0 == list(range(n // TILE_WIDTH))
    for t in level0:
        expected = b"".join(rfc_leaf_hash(e) for e in entries[t * 256 : (t + 1) * 256])
        assert store.tiles[(0, t)] == expected
    # Level 1 (tree level 8): the hashes of every complete 256-leaf subtree.
    if n >= TILE_WIDTH:
        expected = b"".join(mth(entries[i * 256 : (i + 1) * 256]) for i in range(n // 256))
        assert store.tiles[(1, 0)] == expected
    assert set(store.tiles) <= {(0, t) for t in level0} | {(1, 0)}


@examples
@given(journal=journals(min_size=1), data=st.data())
def test_inclusion_proofs_are_rfc_paths_and_verify(
    journal: tuple[list[bytes], MemoryStore, list[int]], data: st.DataObject
) -> None:
    entries, store, _ = journal
    n = len(entries)
    size = data.draw(st.one_of(st.just(n), st.integers(1, n)), label="size")
    tree = Tree(store, size)
    root = mth(entries[:size])
    assert tree.root() == root
    drawn = data.draw(st.lists(st.integers(0, size - 1), max_size=6), label="indices")
    for index in sorted({*drawn, *interesting_indices(size)}):
        proof = tree.inclusion_proof(index)
        assert proof == rfc_path(index, entries[:size]), index
        leaf = rfc_leaf_hash(entries[index])
        assert both_verify_inclusion(index, size, leaf, proof, root)
        check_inclusion_tampering(entries, index, size, leaf, proof, root)


def check_inclusion_tampering(
    entries: list[bytes], index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes
) -> None:
    def rejected(i: int, n: int, h: bytes, p: Sequence[bytes], r: bytes) -> bool:
        return not both_verify_inclusion(i, n, h, p, r)

    for at in range(len(proof)):
        byte = at % 32
        assert rejected(
            index, size, leaf, [*proof[:at], flip(proof[at], byte), *proof[at + 1 :]], root
        )
    if proof:
        assert rejected(index, size, leaf, proof[:-1], root)
        assert rejected(index, size, leaf, proof[1:], root)
    assert rejected(index, size, leaf, [*proof, root], root)
    assert rejected(index, size, leaf, [root, *proof], root)
    assert rejected(index, size, leaf, [*proof, proof[-1] if proof else leaf], root)
    # Another leaf or index: the entries are distinct, so no other leaf has this proof.
    for other in {index - 1, index + 1, index ^ 1, index ^ 2, size, -1}:
        if other != index:
            assert rejected(other, size, leaf, proof, root), other
    if size > 1:
        other_leaf = rfc_leaf_hash(entries[index - 1 if index else 1])
        assert rejected(index, size, other_leaf, proof, root)
    assert rejected(index, size, flip(leaf), proof, root)
    # Another root: a flipped one, the empty tree's, and the previous tree's.
    assert rejected(index, size, leaf, proof, flip(root, 31))
    assert rejected(index, size, leaf, proof, mth([]))
    if size > 1 and index < size - 1:
        assert rejected(index, size, leaf, proof, mth(entries[: size - 1]))
    # Another size: rejected whenever the RFC path for it has another length (a proof for
    # the same index with the same shape, e.g. leaf 0 in trees of 5 and 6, legitimately
    # computes the same root); both verifiers must agree in every case.
    for other in {size - 1, size + 1, size * 2, size // 2, size + TILE_WIDTH}:
        if other == size:
            continue
        verdict = both_verify_inclusion(index, other, leaf, proof, root)
        if not 0 <= index < other or path_length(index, other) != len(proof):
            assert not verdict, other


@examples
@given(journal=journals(min_size=1), data=st.data())
def test_consistency_proofs_are_rfc_proofs_and_verify(
    journal: tuple[list[bytes], MemoryStore, list[int]], data: st.DataObject
) -> None:
    entries, store, cuts = journal
    n = len(entries)
    size = data.draw(st.one_of(st.just(n), st.integers(1, n)), label="size")
    tree = Tree(store, size)
    root = mth(entries[:size])
    drawn = data.draw(st.lists(st.integers(1, size), max_size=6), label="old sizes")
    olds = {*drawn, *(c for c in cuts if 0 < c <= size), 1, size}
    olds |= {i + 1 for i in interesting_indices(size)}
    for old_size in sorted(olds):
        proof = tree.consistency_proof(old_size)
        assert proof == rfc_proof(old_size, entries[:size]), old_size
        old_root = mth(entries[:old_size])
        assert both_verify_consistency(old_size, size, old_root, root, proof)
        check_consistency_tampering(entries, old_size, size, old_root, root, proof)


def check_consistency_tampering(
    entries: list[bytes], old_size: int, size: int, old_root: bytes, root: bytes, proof: list[bytes]
) -> None:
    def rejected(m: int, n: int, r1: bytes, r2: bytes, p: Sequence[bytes]) -> bool:
        return not both_verify_consistency(m, n, r1, r2, p)

    if old_size == size:
        assert proof == []
        assert rejected(old_size, size, old_root, root, [root])
        assert rejected(old_size, size, old_root, flip(root), [])
        if size > 1:
            assert rejected(old_size - 1, size, mth(entries[: size - 1]), root, proof)
        return
    for at in range(len(proof)):
        byte = (7 * at) % 32
        tampered = [*proof[:at], flip(proof[at], byte), *proof[at + 1 :]]
        assert rejected(old_size, size, old_root, root, tampered)
    assert rejected(old_size, size, old_root, root, [])
    assert rejected(old_size, size, old_root, root, proof[:-1])
    assert rejected(old_size, size, old_root, root, proof[1:])
    assert rejected(old_size, size, old_root, root, [*proof, root])
    assert rejected(old_size, size, old_root, root, [old_root, *proof])
    assert rejected(old_size, size, old_root, root, [proof[0], *proof])
    # Wrong roots.
    assert rejected(old_size, size, flip(old_root), root, proof)
    assert rejected(old_size, size, old_root, flip(root, 31), proof)
    assert rejected(old_size, size, root, old_root, proof)
    if old_size > 1:
        assert rejected(old_size, size, mth(entries[: old_size - 1]), root, proof)
    assert rejected(old_size, size, mth(entries[: old_size + 1]), root, proof)
    # Wrong sizes: rejected whenever the RFC proof for them has another length (or they
    # are out of range); otherwise only agreement between the verifiers is required.
    for m, n in {
        (old_size - 1, size),
        (old_size + 1, size),
        (old_size ^ 2, size),
        (old_size, size + 1),
        (old_size, size - 1),
        (old_size, size * 2),
        (old_size, size // 2),
    }:
        if (m, n) == (old_size, size):
            continue
        verdict = both_verify_consistency(m, n, old_root, root, proof)
        if not 0 < m <= n or m == n or proof_length(m, n) != len(proof):
            assert not verdict, (m, n)


@pytest.mark.parametrize("n", [*range(1, 41), 64, 65, 100])
def test_small_trees_exhaustively(n: int) -> None:
    """Every root, inclusion proof and consistency proof of small trees, each batching."""
    entries = make_entries(n, n)
    for cuts in ([], list(range(1, n)), [n // 3, n // 2]):
        store = build(entries, cuts)
        tree = Tree(store, n)
        root = mth(entries)
        assert tree.root() == root
        for index in range(n):
            proof = tree.inclusion_proof(index)
            assert proof == rfc_path(index, entries)
            assert both_verify_inclusion(index, n, rfc_leaf_hash(entries[index]), proof, root)
        for old_size in range(1, n + 1):
            proof = tree.consistency_proof(old_size)
            assert proof == rfc_proof(old_size, entries)
            assert both_verify_consistency(old_size, n, mth(entries[:old_size]), root, proof)


def test_range_hash_is_mth_of_every_range_of_a_small_tree() -> None:
    entries = make_entries(21, 21)
    tree = Tree(build(entries, [5, 13]), 21)
    for start in range(21):
        for end in range(start + 1, 22):
            assert tree.range_hash(start, end) == mth(entries[start:end]), (start, end)


# ---------------------------------------------------------------------------------------
# A large tree: proofs come from tiles, not from rehashing the log
# ---------------------------------------------------------------------------------------

LARGE = 70_000


@pytest.fixture(scope="module")
def large() -> tuple[list[bytes], MemoryStore]:
    entries = [i.to_bytes(8, "big") for i in range(LARGE)]
    rng = random.Random(6962)
    cuts = [*sorted(rng.sample(range(1, LARGE), 40)), 65_535, 65_536, 65_537]
    return entries, build(entries, cuts)


def test_a_large_tree_has_a_second_tile_stratum(large: tuple[list[bytes], MemoryStore]) -> None:
    entries, store = large
    assert store.tiles[(2, 0)] == mth(entries[:65_536])  # the level-16 node over 65,536 leaves
    assert len(store.tiles[(1, 0)]) == 32 * 256
    assert len(store.tiles[(1, 1)]) == 32 * ((LARGE - 65_536) // 256)


def test_a_large_tree_root_is_mth(large: tuple[list[bytes], MemoryStore]) -> None:
    entries, store = large
    assert Tree(store, LARGE).root() == mth(entries)
    assert Tree(store, 65_536).root() == mth(entries[:65_536])


@pytest.mark.parametrize("index", [0, 12_345, 65_535, 65_536, 69_887, 69_888, LARGE - 1])
def test_an_inclusion_proof_in_a_large_tree_reads_few_tiles(
    large: tuple[list[bytes], MemoryStore], index: int
) -> None:
    entries, store = large
    store.calls.clear()
    store.leaves_hashed = 0
    proof = Tree(store, LARGE).inclusion_proof(index)
    reads = store.calls["get_tiles"] + store.calls["leaf_hashes"]
    assert reads <= 16, store.calls
    assert store.leaves_hashed < TILE_WIDTH  # at most the partial last tile
    assert store.calls["put_tile"] == 0
    assert proof == rfc_path(index, entries)
    assert both_verify_inclusion(index, LARGE, rfc_leaf_hash(entries[index]), proof, mth(entries))


@pytest.mark.parametrize("old_size", [1, 1000, 65_536, 65_537, 69_999])
def test_a_consistency_proof_in_a_large_tree_reads_few_tiles(
    large: tuple[list[bytes], MemoryStore], old_size: int
) -> None:
    entries, store = large
    store.calls.clear()
    store.leaves_hashed = 0
    proof = Tree(store, LARGE).consistency_proof(old_size)
    assert store.calls["get_tiles"] + store.calls["leaf_hashes"] <= 16, store.calls
    assert store.leaves_hashed < TILE_WIDTH
    assert proof == rfc_proof(old_size, entries)
    old_root = mth(entries[:old_size])
    assert both_verify_consistency(old_size, LARGE, old_root, mth(entries), proof)


# ---------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 5, 256, 300])
def test_an_inclusion_proof_out_of_range_is_refused(size: int) -> None:
    tree = Tree(build(make_entries(size, 1)), size)
    for index in (-1, size, size + 1):
        with pytest.raises(ValueError, match="not in a tree"):
            tree.inclusion_proof(index)


@pytest.mark.parametrize("size", [0, 1, 5, 256, 300])
def test_a_consistency_proof_from_zero_or_beyond_the_tree_is_refused(size: int) -> None:
    tree = Tree(build(make_entries(size, 2)), size)
    for old_size in (-1, 0, size + 1):
        with pytest.raises(ValueError, match="no consistency proof"):
            tree.consistency_proof(old_size)


def test_a_consistency_proof_to_the_same_size_is_empty() -> None:
    entries = make_entries(300, 3)
    tree = Tree(build(entries), 300)
    assert tree.consistency_proof(300) == []
    assert both_verify_consistency(300, 300, mth(entries), tree.root(), [])


def test_the_empty_tree_root_is_the_hash_of_nothing() -> None:
    assert Tree(MemoryStore(), 0).root() == hashlib.sha256(b"").digest()
    store = build(make_entries(10, 4))
    assert Tree(store, 0).root() == hashlib.sha256(b"").digest()


def test_extending_with_nothing_stores_nothing() -> None:
    store = MemoryStore()
    store.append([])
    assert store.tiles == {}
    store = build(make_entries(256, 5))
    before = dict(store.tiles)
    store.append([])
    assert store.tiles == before


def test_extend_refuses_to_leave_a_gap_when_a_tile_is_missing() -> None:
    """The entries of the first 256 leaves are there but their tiles never were stored."""
    entries = make_entries(512, 6)
    store = MemoryStore()
    store.entries.extend(entries)  # entries stored, extend() never called for the first 256
    with pytest.raises(ValueError, match="gap"):
        extend(store, 256, [rfc_leaf_hash(e) for e in entries[256:]])


def test_extend_refuses_to_leave_a_gap_when_old_size_is_past_the_stored_tree() -> None:
    entries = make_entries(768, 7)
    store = build(entries[:256])
    store.entries.extend(entries[256:])
    with pytest.raises(ValueError, match="gap"):
        extend(store, 512, [rfc_leaf_hash(e) for e in entries[512:]])


def test_extend_refuses_to_store_the_same_leaves_twice() -> None:
    entries = make_entries(256, 8)
    store = build(entries)
    with pytest.raises(ValueError, match="gap"):
        extend(store, 0, [rfc_leaf_hash(e) for e in entries])


def test_a_prefix_tree_refuses_leaves_and_subtrees_beyond_its_size() -> None:
    """The store holds 300 entries; the tree of the first 5 must not reach past them."""
    entries = make_entries(300, 9)
    tree = Tree(build(entries), 5)
    with pytest.raises(ValueError, match="not complete"):
        tree.leaf(5)
    with pytest.raises(ValueError, match="not complete"):
        tree.subtree(3, 0)  # leaves 0..7
    with pytest.raises(ValueError, match="not complete"):
        tree.range_hash(0, 6)
    assert tree.subtree(2, 0) == mth(entries[:4])
    assert tree.root() == mth(entries[:5])


@pytest.mark.parametrize("start", [0, 3])
def test_range_hash_of_an_empty_range_is_the_empty_mth_or_refused(start: int) -> None:
    tree = Tree(build(make_entries(8, 10)), 8)
    try:
        got = tree.range_hash(start, start)
    except ValueError:
        return
    assert got == mth([])


@pytest.mark.parametrize("lost", ["all tiles", "the level-1 tile"])
def test_a_missing_higher_tile_is_recomputed_from_below(lost: str) -> None:
    """Entries are there but the tile holding the level-8 node over leaves 0..255 is not."""
    entries = make_entries(300, 11)
    store = build(entries)
    if lost == "all tiles":
        store.tiles.clear()
    else:
        del store.tiles[(1, 0)]
    assert Tree(store, 300).root() == mth(entries)
