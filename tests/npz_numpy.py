#!/usr/bin/python3
"""Cross-checks workers/npz.c against numpy.

  npz_numpy.py write DIR   writes DIR/np_*.npz with numpy.savez{,_compressed}
  npz_numpy.py check DIR   checks DIR/c_written.npz written by tests/test_npz
Run with /usr/bin/python3 (it has numpy)."""
import os
import sys
import zipfile

import numpy as np


def reference():
    return {
        "f32": (np.arange(12, dtype=np.float32) / 4).reshape(3, 4),
        "f64": np.array([1.5, -2.25, 1e300]),
        "i32": np.arange(-3, 3, dtype=np.int32),
        "i64": np.array([2**40, -5], dtype=np.int64),
        "u8": np.arange(256, dtype=np.uint8),
        "b": np.array([True, False, True]),
        "scalar": np.float64(3.25),
    }


def write(d):
    np.savez(os.path.join(d, "np_savez.npz"), **reference())
    np.savez_compressed(os.path.join(d, "np_savez_compressed.npz"), **reference())
    f = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert not f.flags.c_contiguous
    np.savez(os.path.join(d, "np_fortran.npz"), f=f)
    np.savez(os.path.join(d, "np_bigendian.npz"), be=np.arange(4, dtype=">f4"))


def check(d):
    path = os.path.join(d, "c_written.npz")
    want = {
        "w": (np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3),
        "s": np.array(3.25),
        "i": np.array([-2, -1, 0, 2147483647], dtype=np.int32),
        "l": (np.arange(8, dtype=np.int64) * 10000000000 - 3).reshape(2, 2, 2),
        "u": np.array([0, 1, 127, 128, 255], dtype=np.uint8),
        "meta": np.frombuffer(b"hello npz {'shape': ()}", dtype=np.uint8),
        "empty": np.zeros(0, dtype=np.float32),
    }
    with np.load(path, allow_pickle=False) as z:
        assert sorted(z.files) == sorted(want), z.files
        for k, v in want.items():
            got = z[k]
            assert got.dtype == v.dtype, (k, got.dtype, v.dtype)
            assert got.shape == v.shape, (k, got.shape, v.shape)
            assert np.array_equal(got, v), (k, got, v)
        assert bytes(z["meta"]).decode() == "hello npz {'shape': ()}"
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        for name in zf.namelist():
            raw = zf.read(name)
            assert raw[:8] == b"\x93NUMPY\x01\x00", name
            hlen = int.from_bytes(raw[8:10], "little")
            assert (10 + hlen) % 64 == 0, (name, hlen)
            assert raw[10 + hlen - 1:10 + hlen] == b"\n", name
    print("npz_numpy: %s matches numpy's view" % path)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "check"):
        sys.exit("usage: npz_numpy.py write|check DIR")
    (write if sys.argv[1] == "write" else check)(sys.argv[2])
