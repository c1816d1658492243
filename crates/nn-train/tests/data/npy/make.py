"""Writes the .npy files the data-file tests read, with NumPy itself (NumPy 2.4.6 made the
committed ones). Run from this folder: python3 make.py"""
import numpy as np

x = np.array([[0.5, -1.0], [1.5, 2.0], [-0.25, 0.75], [3.0, -2.5], [0.0, 1.0], [2.25, -0.5]])
t = np.array([0, 2, 1, 1, 0, 2])
np.save("x_f64.npy", x)
np.save("x_f32.npy", x.astype(np.float32))
np.save("x_fortran.npy", np.asfortranarray(x))
np.save("x_big_endian.npy", x.astype(">f4"))
np.save("t_int64.npy", t)
np.save("t_int32.npy", t.astype(np.int32))
np.save("t_uint8.npy", t.astype(np.uint8))
np.save("t_column.npy", t.reshape(-1, 1))
np.save("t_onehot.npy", np.eye(3, dtype=np.float32)[t])
# Files the loader must refuse, each for one reason.
np.save("x_int.npy", x.astype(np.int64))
np.save("x_complex.npy", x.astype(np.complex64))
np.save("x_1d.npy", x[:, 0])
bad = x.copy(); bad[3, 1] = np.nan
np.save("x_nan.npy", bad)
np.save("t_negative.npy", np.array([0, 2, -1, 1, 0, 2]))
np.save("t_float.npy", t.astype(np.float64))
np.save("t_short.npy", t[:5])
onehot = np.eye(3)[t]; onehot[4, 1] = 1.0
np.save("t_not_onehot.npy", onehot)
with open("x_f64.npy", "rb") as f:
    whole = f.read()
with open("x_truncated.npy", "wb") as f:
    f.write(whole[:-20])
with open("not_npy.npy", "w") as f:
    f.write("0.5,-1.0\n1.5,2.0\n")
