"""Writes a float32 Marian .npz model from an int8 Marian .bin model (dequantized weights, no
activation scales): a float model of the kind Marian training produces, to test that `convert`
reads .npz models. Also copies the vocabulary, shortlist and run configuration.

usage: python models/marian_bin_to_npz.py MODEL_DIR OUT_DIR
"""
import glob, os, shutil, struct, sys
import numpy as np

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
path = glob.glob(os.path.join(src, "model*.bin"))[0]
buf = open(path, "rb").read()
version, n = struct.unpack_from("<QQ", buf, 0)
assert version == 1
off = 16
heads = [struct.unpack_from("<QQQQ", buf, off + 32 * i) for i in range(n)]
off += 32 * n
names = []
for name_len, *_ in heads:
    names.append(buf[off:off + name_len - 1].decode())
    off += name_len
shapes = []
for _, _, rank, _ in heads:
    shapes.append(struct.unpack_from("<%di" % rank, buf, off))
    off += 4 * rank
pad, = struct.unpack_from("<Q", buf, off)
off += 8 + pad
arrays = {}
for (_, ty, _, data_len), name, shape in zip(heads, names, shapes):
    data = buf[off:off + data_len]
    off += data_len
    count = int(np.prod(shape))
    if name.endswith("_QuantMultA"):
        continue  # float models have no activation scales
    if ty == 0x101:
        arrays[name] = np.frombuffer(data[:count], dtype=np.int8)
    elif ty == 0x404:
        arrays[name] = np.frombuffer(data[:4 * count], dtype="<f4").reshape(shape)
    elif ty == 0x4101:
        q = np.frombuffer(data[:count], dtype=np.int8).astype(np.float32)
        mult = np.frombuffer(data[count:count + 4], dtype="<f4")[0]
        if "Wemb" in name:
            arrays[name] = (q * (1 / mult)).reshape(shape)
        else:  # stored as B transposed: rows are outputs; Marian's float layout is inputs x outputs
            arrays[name] = np.ascontiguousarray((q * (1 / mult)).reshape(shape[1], shape[0]).T)
    else:
        sys.exit(f"{name}: unexpected type {ty:#x}")
np.savez(os.path.join(out, "model.float.npz"), **arrays)
for pattern in ("vocab*.spm", "lex*.bin", "config*.yml"):
    for f in glob.glob(os.path.join(src, pattern)):
        shutil.copy(f, out)
sys.stderr.write(f"wrote {len(arrays)} arrays to {out}/model.float.npz\n")
