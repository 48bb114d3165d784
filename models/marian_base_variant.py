"""Makes a Marian float model of the shape of Firefox's larger "base" students (dim-emb 512,
transformer-dim-ffn 2048, 8 heads, 6 encoder layers, 2 SSRU decoder layers) from a tiny float
.npz (as written by models/marian_bin_to_npz.py): same vocabulary, shortlist and settings, seeded
random weights. Its text is meaningless; the point is that a base-shaped model converts and
runs as Bergamot runs it (models/record_bergamot.py records Bergamot's output).

usage: python models/marian_base_variant.py FLOAT_DIR OUT_DIR
"""
import glob, os, re, shutil, sys
import numpy as np

D, FFN, HEADS = 512, 2048, 8

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
m = dict(np.load(glob.glob(os.path.join(src, "model*.npz"))[0]))
yml = bytes(m.pop("special:model.yml").astype(np.uint8)).split(b"\0")[0].decode()
d0 = int(re.search(r"^dim-emb: (\d+)", yml, re.M).group(1))
f0 = int(re.search(r"^transformer-dim-ffn: (\d+)", yml, re.M).group(1))
for key, value in (("dim-emb", D), ("transformer-dim-ffn", FFN), ("transformer-heads", HEADS)):
    yml = re.sub(rf"^{key}: .*$", f"{key}: {value}", yml, flags=re.M)

rng = np.random.default_rng(2024)
new = {}
for name in sorted(m):
    shape = tuple(D if s == d0 else FFN if s == f0 else s for s in m[name].shape)
    if name.endswith("_ln_scale"):
        a = 1.0 + 0.1 * rng.standard_normal(shape)
    elif name.endswith("_ln_bias"):
        a = 0.1 * rng.standard_normal(shape)
    elif name == "Wemb":
        a = 0.5 * rng.standard_normal(shape)
    elif shape[0] == 1:  # biases
        a = 0.1 * rng.standard_normal(shape)
    else:  # Marian's float layout: inputs x outputs
        a = rng.standard_normal(shape) / np.sqrt(shape[0])
    new[name] = a.astype(np.float32)
new["special:model.yml"] = np.frombuffer(yml.encode() + b"\0", dtype=np.int8)
np.savez(os.path.join(out, "model.float.npz"), **new)
for pattern in ("vocab*.spm", "lex*.bin", "config*.yml"):
    for f in glob.glob(os.path.join(src, pattern)):
        shutil.copy(f, out)
sys.stderr.write(f"wrote a base-shaped model ({D}/{FFN}/{HEADS} heads) to {out}/model.float.npz\n")
