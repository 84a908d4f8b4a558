"""Bit-exact numpy port of src/core/rng.c (Philox4x32-10 counter RNG).

A stream is keyed by (seed, step, purpose, stream id); element i of the stream is
word (i & 3) of the Philox block whose counter is
    (i >> 2, step_lo32, purpose ^ (step_hi32 << 8), stream)
under the key (seed_lo32, seed_hi32).  Everything is vectorised over the element
index; the 32x32->64 bit products are done in uint64.

Run `/usr/bin/python3 tests/reference/philox.py` to check the port against values
printed by the C implementation.
"""
import numpy as np

RNG_INIT = 1
RNG_DROPOUT = 2
RNG_PROBSPARSE = 3
RNG_SHUFFLE = 4
RNG_CROP = 5
RNG_SYNTH = 6

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = 0x9E3779B9
_W1 = 0xBB67AE85
_MASK32 = np.uint64(0xFFFFFFFF)
_SH32 = np.uint64(32)


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """One Philox4x32-10 block for every element of the (broadcast) counter arrays.

    c0..c3: counter words (arrays or scalars, values < 2^32); k0, k1: python ints.
    Returns four uint32 arrays.
    """
    c0, c1, c2, c3 = np.broadcast_arrays(*(np.asarray(c, dtype=np.uint64) for c in (c0, c1, c2, c3)))
    c0, c1, c2, c3 = (c.copy() for c in (c0, c1, c2, c3))
    k0 = int(k0) & 0xFFFFFFFF
    k1 = int(k1) & 0xFFFFFFFF
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        hi0, lo0 = p0 >> _SH32, p0 & _MASK32
        hi1, lo1 = p1 >> _SH32, p1 & _MASK32
        c0 = hi1 ^ c1 ^ np.uint64(k0)
        c1 = lo1
        c2 = hi0 ^ c3 ^ np.uint64(k1)
        c3 = lo0
        k0 = (k0 + _W0) & 0xFFFFFFFF
        k1 = (k1 + _W1) & 0xFFFFFFFF
    return tuple(c.astype(np.uint32) for c in (c0, c1, c2, c3))


class AmRng:
    """Mirror of the C struct: key[2] and ctr[3] (step, purpose word, stream)."""

    __slots__ = ("key", "ctr")

    def __init__(self, key, ctr):
        self.key = tuple(int(k) for k in key)
        self.ctr = tuple(int(c) for c in ctr)

    def __repr__(self):
        return "AmRng(key=%r, ctr=%r)" % (self.key, self.ctr)


def am_rng(seed, step, purpose, stream):
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    step = int(step) & 0xFFFFFFFFFFFFFFFF
    key = (seed & 0xFFFFFFFF, seed >> 32)
    ctr = (step & 0xFFFFFFFF,
           (int(purpose) ^ (((step >> 32) << 8) & 0xFFFFFFFF)) & 0xFFFFFFFF,
           int(stream) & 0xFFFFFFFF)
    return AmRng(key, ctr)


def u32(rng, idx):
    """am_rng_u32 for an array (or scalar) of element indices -> uint32 array."""
    idx = np.asarray(idx, dtype=np.uint64)
    blk = (idx >> np.uint64(2)) & _MASK32
    words = philox4x32_10(blk, rng.ctr[0], rng.ctr[1], rng.ctr[2], rng.key[0], rng.key[1])
    lane = (idx & np.uint64(3)).astype(np.intp)
    out = np.choose(lane, words)
    return out.astype(np.uint32)


def u32_range(rng, n, offset=0):
    """Elements offset .. offset+n-1 of the stream (uint32), computing each block once."""
    n = int(n)
    offset = int(offset)
    if n <= 0:
        return np.zeros(0, dtype=np.uint32)
    b0 = offset >> 2
    b1 = (offset + n - 1) >> 2
    blocks = np.arange(b0, b1 + 1, dtype=np.uint64)
    words = philox4x32_10(blocks, rng.ctr[0], rng.ctr[1], rng.ctr[2], rng.key[0], rng.key[1])
    flat = np.stack(words, axis=1).reshape(-1)  # element 4*b + j
    start = offset - 4 * b0
    return flat[start:start + n].copy()


def uniform(rng, n, offset=0):
    """am_rng_fill_uniform: float32 uniforms in [0,1) with 24 bits, elements offset..offset+n-1."""
    w = u32_range(rng, n, offset)
    return ((w >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)).astype(np.float32)


def uniform_at(rng, idx):
    """am_rng_uniform for an array of element indices."""
    w = u32(rng, idx)
    return ((w >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)).astype(np.float32)


def below(rng, idx, n):
    """am_rng_below: integer in [0, n) by multiply-shift."""
    w = u32(rng, idx).astype(np.uint64)
    return ((w * np.uint64(n)) >> _SH32).astype(np.uint32)


def probsparse_sample_keys(rng, L_Q, L_K, n_sample):
    """probsparse_sample_keys: sample_idx[i, j] = below(rng, i*n_sample + j, L_K)."""
    idx = np.arange(L_Q * n_sample, dtype=np.uint64)
    return below(rng, idx, L_K).astype(np.int32).reshape(L_Q, n_sample)


# ----------------------------------------------------------------- self-test
# Values printed by a throwaway C program linked against src/core/rng.c:
#   am_rng_u32(&r, i) for i = 0..5, then i = 1000003 and 2^33 + 5,
#   am_rng_fill_uniform(&r, 3, f, 5), am_rng_below(&r, k, 200) for k = 0..3.
_EXPECTED = [
    ((0, 0, 1, 0),
     [0x844515e1, 0xf08d6eaa, 0x0f19c053, 0x83f875f0, 0xca7cf69e, 0xd9c77ded],
     [0x77028ad5, 0x7ffdbe50],
     [0.515509903, 0.790969253, 0.8507002, 0.493756831, 0.427330911],
     [103, 187, 11, 103]),
    ((1234, 0, 1, 0),
     [0xd115a128, 0x52fc7c75, 0xc7f33f17, 0x0f1539db, 0x07129e5f, 0x653d7a73],
     [0x1ebcf59f, 0x4b59e2f5],
     [0.058917582, 0.0276278257, 0.395469308, 0.115283072, 0.527328849],
     [163, 64, 156, 11]),
    ((1234, 0, 1, 7),
     [0x5777d1b0, 0xa9f73e1e, 0x4bb3fd1d, 0xa44800e3, 0xd901bcd6, 0xbbe02064],
     [0x00d4c583, 0x1d6fc097],
     [0.641723633, 0.847682714, 0.733888626, 0.9651106, 0.0585457683],
     [68, 132, 59, 128]),
    ((42, 5, 2, 3),
     [0x4277c5c5, 0xff56584d, 0xc7ebc488, 0x39da8df9, 0x3eb812f9, 0x46b8a5cb],
     [0xc1c5b968, 0xc1a4d1d8],
     [0.22599107, 0.24499619, 0.276254952, 0.656401753, 0.403880656],
     [51, 199, 156, 45]),
    ((0xDEADBEEFCAFE, (1 << 33) + 17, 3, 11),
     [0xe9573b02, 0x5db4beaa, 0x5242c794, 0x99c918f7, 0xd7ad9f22, 0x7c73eb23],
     [0xed95f773, 0xad9a08e0],
     [0.600724697, 0.842492998, 0.486143768, 0.551653624, 0.0918206573],
     [182, 73, 64, 120]),
    ((2025, 0, 1, 150),
     [0xe8f7ebe6, 0x72b46f92, 0xbab95ae3, 0xbcc64dfa, 0x199b9a74, 0xf2b4d6b0],
     [0x4a071488, 0x787e6244],
     [0.73740083, 0.100030541, 0.948071837, 0.464188278, 0.813621283],
     [182, 89, 145, 147]),
]

# Raw block known answers (the first is the Random123 published KAT for Philox4x32-10).
_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
    ((0xffffffff,) * 4, (0xffffffff, 0xffffffff), (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
    ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
     (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
]


def self_test(verbose=True):
    for ctr, key, want in _KAT:
        got = tuple(int(w) for w in philox4x32_10(*ctr, *key))
        assert got == want, (ctr, key, [hex(g) for g in got])
    for args, first, big, unif, bel in _EXPECTED:
        r = am_rng(*args)
        got = [int(x) for x in u32(r, np.arange(6))]
        assert got == first, (args, [hex(g) for g in got])
        got = [int(x) for x in u32_range(r, 6)]
        assert got == first, (args, "u32_range", [hex(g) for g in got])
        got = [int(x) for x in u32(r, np.array([1000003, (1 << 33) + 5], dtype=np.uint64))]
        assert got == big, (args, [hex(g) for g in got])
        f = uniform(r, 5, offset=3)
        want = np.array(unif, dtype=np.float32)  # %.9g round-trips float32 exactly
        assert np.array_equal(f, want), (args, f, want)
        assert np.array_equal(uniform_at(r, np.arange(3, 8)), want)
        got = [int(x) for x in below(r, np.arange(4), 200)]
        assert got == bel, (args, got)
    if verbose:
        print("philox.py: %d KATs and %d streams match the C implementation"
              % (len(_KAT), len(_EXPECTED)))


if __name__ == "__main__":
    self_test()
