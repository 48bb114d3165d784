"""Makes a Marian float model with other processing settings from a float .npz (as written by
models/marian_bin_to_npz.py), to check tern against Bergamot on configurations no released
model uses: pre-norm sublayers (`transformer-preprocess: n`, `-postprocess: da`), normed
embeddings (`-postprocess-emb: dn`) and a final norm per stack (`-postprocess-top: n`). The new
norms copy the trained post-norm parameters, so the model still produces varied text.

usage: python models/marian_variant.py FLOAT_DIR OUT_DIR
"""
import glob, os, re, shutil, sys
import numpy as np

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
m = dict(np.load(glob.glob(os.path.join(src, "model*.npz"))[0]))
yml = bytes(m["special:model.yml"].astype(np.uint8)).split(b"\0")[0].decode()
for key, value in (("transformer-preprocess", "n"), ("transformer-postprocess", "da"),
                   ("transformer-postprocess-emb", "dn"), ("transformer-postprocess-top", "n")):
    yml = re.sub(rf"^{key}:.*$", f"{key}: {value}", yml, flags=re.M)
m["special:model.yml"] = np.frombuffer(yml.encode() + b"\0", dtype=np.int8)
enc = int(re.search(r"^enc-depth: (\d+)", yml, re.M).group(1))
dec = int(re.search(r"^dec-depth: (\d+)", yml, re.M).group(1))
def copy(dst, srcname, suffix=""):
    for part in ("scale", "bias"):
        m[f"{dst}_ln_{part}{suffix}"] = m[f"{srcname}_ln_{part}"].copy()
for l in range(1, enc + 1):
    copy(f"encoder_l{l}_self_Wo", f"encoder_l{l}_self_Wo", "_pre")
    copy(f"encoder_l{l}_ffn_ffn", f"encoder_l{l}_ffn_ffn", "_pre")
for l in range(1, dec + 1):
    copy(f"decoder_l{l}_rnn", f"decoder_l{l}_rnn_ffn", "_pre")
    copy(f"decoder_l{l}_context_Wo", f"decoder_l{l}_context_Wo", "_pre")
    copy(f"decoder_l{l}_ffn_ffn", f"decoder_l{l}_ffn_ffn", "_pre")
copy("encoder_top", f"encoder_l{enc}_ffn_ffn")
copy("decoder_top", f"decoder_l{dec}_ffn_ffn")
copy("encoder_emb", "encoder_l1_self_Wo", "_pre")
copy("decoder_emb", "decoder_l1_rnn_ffn", "_pre")
np.savez(os.path.join(out, "model.float.npz"), **m)
for pattern in ("vocab*.spm", "lex*.bin", "config*.yml"):
    for f in glob.glob(os.path.join(src, pattern)):
        shutil.copy(f, out)
sys.stderr.write(f"wrote a pre-norm variant to {out}/model.float.npz\n")
