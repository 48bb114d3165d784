"""Makes a split-vocabulary Marian float model (the layout Firefox uses for CJK pairs:
`srcvocab*.spm` and `trgvocab*.spm`, `encoder_Wemb` and `decoder_Wemb`, `tied-embeddings-all:
false`) from a shared-vocabulary float .npz (as written by models/marian_bin_to_npz.py), that must
translate exactly as the original does.

Both vocabularies are the original's pieces in another order (a seeded permutation; the target's
first `first` ids, which the shortlist always allows, stay in place), and the target gets a few
extra pieces it can never produce (bias -1e4, never in the shortlist), so the two vocabularies
differ in order and in size. Embedding rows, the output bias and the shortlist are permuted to
match; the shortlist also lists each source word's own piece, which Marian adds by itself only
when the vocabulary is shared.

usage: python models/marian_split_variant.py FLOAT_DIR OUT_DIR
"""
import glob, os, re, shutil, struct, sys
import numpy as np

EXTRA = int(os.environ.get("EXTRA", 5))

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
for f in glob.glob(os.path.join(out, "*")):
    os.remove(f)
m = dict(np.load(glob.glob(os.path.join(src, "model*.npz"))[0]))
yml = bytes(m["special:model.yml"].astype(np.uint8)).split(b"\0")[0].decode()


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def put_varint(v):
    o = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        o.append(c | (0x80 if v else 0))
        if not v:
            return bytes(o)


def fields(b):
    """Top-level protobuf fields of `b` as (number, raw bytes of the whole field)."""
    i, res = 0, []
    while i < len(b):
        start = i
        key, i = varint(b, i)
        wire = key & 7
        if wire == 0:
            _, i = varint(b, i)
        elif wire == 1:
            i += 8
        elif wire == 2:
            n, i = varint(b, i)
            i += n
        elif wire == 5:
            i += 4
        else:
            sys.exit(f"unexpected wire type {wire}")
        res.append((key >> 3, b[start:i]))
    return res


def piece_field(text, score):
    """ModelProto.pieces entry: piece (1), score (2), type NORMAL (3 = 1)."""
    t = text.encode()
    body = b"\x0a" + put_varint(len(t)) + t + b"\x15" + struct.pack("<f", score) + b"\x18\x01"
    return b"\x0a" + put_varint(len(body)) + body


spm_path = glob.glob(os.path.join(src, "vocab*.spm"))[0]
spm = open(spm_path, "rb").read()
top = fields(spm)
pieces = [raw for num, raw in top if num == 1]
rest = [raw for num, raw in top if num != 1]
V = len(pieces)
assert re.search(r"^dim-vocabs:", yml, re.M)

lex_path = glob.glob(os.path.join(src, "lex*.bin"))[0]
lex = open(lex_path, "rb").read()
magic, _, first, best, n_off, n_words = struct.unpack_from("<6Q", lex, 0)
offsets = np.frombuffer(lex, dtype="<u8", count=n_off, offset=48)
words = np.frombuffer(lex, dtype="<u4", count=n_words, offset=48 + 8 * n_off)
assert n_off == V + 1

rng = np.random.default_rng(1234)
# new id of each old id
src_new = rng.permutation(V) if os.environ.get("PERM", "1") in ("1", "src") else np.arange(V)
tgt_new = np.concatenate([np.arange(first), first + rng.permutation(V - first)]) if os.environ.get("PERM", "1") in ("1", "tgt") else np.arange(V)
T = V + EXTRA

# Vocabularies.
src_pieces = [None] * V
for old, new in enumerate(src_new):
    src_pieces[new] = pieces[old]
tgt_pieces = [None] * T
for old, new in enumerate(tgt_new):
    tgt_pieces[new] = pieces[old]
for k in range(EXTRA):
    tgt_pieces[V + k] = piece_field(f"\u2581ternextra{k}", -1e4)
tag = os.path.basename(spm_path)[len("vocab"):]
open(os.path.join(out, "srcvocab" + tag), "wb").write(b"".join(src_pieces + rest))
open(os.path.join(out, "trgvocab" + tag), "wb").write(b"".join(tgt_pieces + rest))

# Embeddings and the output bias.
W = m.pop("Wemb")
enc = np.empty_like(W)
enc[src_new] = W
dec = np.zeros((T, W.shape[1]), dtype=W.dtype)
dec[tgt_new] = W
m["encoder_Wemb"], m["decoder_Wemb"] = enc, dec
b = m["decoder_ff_logit_out_b"].reshape(-1)
nb = np.full(T, -1e4, dtype=b.dtype)
nb[tgt_new] = b
m["decoder_ff_logit_out_b"] = nb.reshape(1, T)

yml = re.sub(r"^tied-embeddings-all:.*$", "tied-embeddings-all: false", yml, flags=re.M)
for key, value in (("tied-embeddings", "true"), ("tied-embeddings-src", "false")):
    if re.search(rf"^{key}:", yml, re.M):
        yml = re.sub(rf"^{key}:.*$", f"{key}: {value}", yml, flags=re.M)
    else:
        yml += f"\n{key}: {value}\n"
yml = re.sub(r"^dim-vocabs:.*(\n\s+-.*)*", f"dim-vocabs:\n  - {V}\n  - {T}", yml, flags=re.M)
m["special:model.yml"] = np.frombuffer(yml.encode() + b"\0", dtype=np.int8)
np.savez(os.path.join(out, "model.float.npz"), **m)

# The shortlist, indexed by new source ids, listing new target ids (each source word's own
# piece added, as Marian does for shared vocabularies).
entries = [None] * V
for old in range(V):
    ws = {int(tgt_new[w]) for w in words[offsets[old]:offsets[old + 1]]}
    ws.add(int(tgt_new[old]))
    entries[src_new[old]] = sorted(ws)
new_offsets = np.zeros(V + 1, dtype="<u8")
new_offsets[1:] = np.cumsum([len(e) for e in entries])
new_words = np.array([w for e in entries for w in e], dtype="<u4")
body = struct.pack("<QQQ", first, best, V + 1) + struct.pack("<Q", len(new_words))
body += new_offsets.tobytes() + new_words.tobytes()
seed = 0
mask = (1 << 64) - 1
for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8]):
    seed ^= (v + 0x9E3779B9 + (seed << 6) + (seed >> 2)) & mask
open(os.path.join(out, "lex" + tag.replace(".spm", ".s2t.bin")), "wb").write(
    struct.pack("<QQ", magic, seed) + body)
for f in glob.glob(os.path.join(src, "config*.yml")):
    shutil.copy(f, out)
sys.stderr.write(f"split vocabularies: source {V}, target {T} pieces in {out}\n")
