//! int8 kernels for Cortex-M55 and other Armv8.1-M cores with Helium (MVE), written by hand.
//!
//! `VMLADAVA.S8` multiplies sixteen int8 pairs and adds all sixteen products to a 32-bit
//! general register in one instruction. A pass reads sixteen activations once and uses them for
//! four weight rows (as the NEON and AVX2 kernels do), in a low-overhead loop (`WLS`/`LE`): ten
//! instructions for 64 multiply-accumulates, and four outputs scaled and stored by seven vector
//! instructions. On the fixture's first sentence LLVM's vectorization of the scalar loop spent
//! 8.7 M instructions in the matrix products, a first version of this kernel 4.5 M (QEMU,
//! `-icount`). Sums are exact
//! integers, so the table gives the same text as the scalar one.
//!
//! `exp` (the softmax over the vocabulary: a quarter of a step on small models) is libm's
//! `expf` on four lanes, bit for bit, about ten instructions a value where the scalar one takes
//! forty; the other float kernels stay the scalar ones, which LLVM vectorizes well.
//!
//! Enabled by tern-core's `helium` feature, which needs the MVE instructions in the assembler:
//! build with `-C target-cpu=cortex-m55` (the firmware's `helium` feature does both).

use super::{scalar, Kernels};

/// The scalar table with the Helium int8 products laid over it.
pub const KERNELS: Kernels = Kernels {
    name: "helium",
    matmul_i8,
    dot_i8,
    gemv_rows_i8,
    exp,
    ..scalar::KERNELS
};

/// Sixteen-byte blocks per pass.
const BLOCK: usize = 16;

/// `acc[r] += sum x[i] * w[r][i]` over `blocks` blocks of sixteen bytes.
///
/// # Safety
/// `x` and each `w[r]` must be readable for `16 * blocks` bytes.
#[inline(always)]
unsafe fn dot4_blocks(x: *const i8, w: [*const i8; 4], blocks: usize, acc: &mut [i32; 4]) {
    // SAFETY: the caller guarantees the reads; every load is one of the 16-byte blocks and
    // post-increments its pointer. `VMLADAVA` takes an even accumulator register (r0, r2, r4,
    // r8 here). The loop count lives in lr (`WLS` skips the loop when it is 0); q0-q4 are
    // clobbered (they alias s0-s19); no stack, no flags.
    unsafe {
        core::arch::asm!(
            "wls lr, lr, 2f",
            "1:",
            "vldrb.8 q0, [{x}], #16",
            "vldrb.8 q1, [{w0}], #16",
            "vldrb.8 q2, [{w1}], #16",
            "vmladava.s8 r0, q0, q1",
            "vldrb.8 q3, [{w2}], #16",
            "vmladava.s8 r2, q0, q2",
            "vldrb.8 q4, [{w3}], #16",
            "vmladava.s8 r4, q0, q3",
            "vmladava.s8 r8, q0, q4",
            "le lr, 1b",
            "2:",
            x = inout(reg) x => _,
            w0 = inout(reg) w[0] => _,
            w1 = inout(reg) w[1] => _,
            w2 = inout(reg) w[2] => _,
            w3 = inout(reg) w[3] => _,
            inout("lr") blocks => _,
            inout("r0") acc[0],
            inout("r2") acc[1],
            inout("r4") acc[2],
            inout("r8") acc[3],
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
            out("s16") _, out("s17") _, out("s18") _, out("s19") _,
            options(nostack, readonly, preserves_flags),
        );
    }
}

/// `acc += sum a[i] * b[i]` over `blocks` blocks of sixteen bytes.
///
/// # Safety
/// `a` and `b` must be readable for `16 * blocks` bytes.
#[inline(always)]
unsafe fn dot1_blocks(a: *const i8, b: *const i8, blocks: usize, acc: &mut i32) {
    // SAFETY: as in `dot4_blocks`, with one row: q0 and q1 clobbered.
    unsafe {
        core::arch::asm!(
            "wls lr, lr, 2f",
            "1:",
            "vldrb.8 q0, [{a}], #16",
            "vldrb.8 q1, [{b}], #16",
            "vmladava.s8 r0, q0, q1",
            "le lr, 1b",
            "2:",
            a = inout(reg) a => _,
            b = inout(reg) b => _,
            inout("lr") blocks => _,
            inout("r0") *acc,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            options(nostack, readonly, preserves_flags),
        );
    }
}

/// Four dot products of `x` with `rows` (each at least `x.len()` long), exact.
fn dot4(x: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
    let k = x.len();
    let rows = rows.map(|r| &r[..k]);
    let blocks = k / BLOCK;
    let mut acc = [0i32; 4];
    // SAFETY: `x` and every row are `k` bytes long, and `16 * blocks <= k`.
    unsafe { dot4_blocks(x.as_ptr(), rows.map(<[i8]>::as_ptr), blocks, &mut acc) };
    let body = blocks * BLOCK;
    for (a, r) in acc.iter_mut().zip(rows) {
        *a += scalar::dot_i8(&x[body..], &r[body..]);
    }
    acc
}

/// Exact `sum a[i] * b[i]` over the shorter length.
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let blocks = n / BLOCK;
    let mut acc = 0;
    // SAFETY: both are at least `n >= 16 * blocks` bytes long.
    unsafe { dot1_blocks(a.as_ptr(), b.as_ptr(), blocks, &mut acc) };
    let body = blocks * BLOCK;
    acc + scalar::dot_i8(&a[body..n], &b[body..n])
}

/// `y[t] = acc[t] as f32 * (xs * ws[t])` for four outputs at once: the scalar epilogue's two
/// rounded products, in its order, on four lanes.
///
/// # Safety
/// `ws` must be readable and `y` writable for four floats.
#[inline(always)]
unsafe fn scale4(acc: [i32; 4], xs: f32, ws: *const f32, y: *mut f32) {
    // SAFETY: the caller guarantees the 16-byte read and write (f32 pointers: word-aligned, as
    // `VLDRW`/`VSTRW` need). q0 and q1 are clobbered (s0-s7). One lane per `VMOV`: QEMU and
    // LLVM's assembler disagree on which register goes to which lane in the two-lane form.
    // `VMUL` by a scalar multiplies each lane by `xs` exactly as the scalar code multiplies
    // `xs * ws[t]` (commutative in IEEE arithmetic), then the converted sums by that; no fused
    // multiply-add.
    unsafe {
        core::arch::asm!(
            "vmov.32 q0[0], {a0}",
            "vmov.32 q0[1], {a1}",
            "vmov.32 q0[2], {a2}",
            "vmov.32 q0[3], {a3}",
            "vcvt.f32.s32 q0, q0",
            "vldrw.u32 q1, [{ws}]",
            "vmul.f32 q1, q1, {xs}",
            "vmul.f32 q0, q0, q1",
            "vstrw.32 q0, [{y}]",
            a0 = in(reg) acc[0],
            a1 = in(reg) acc[1],
            a2 = in(reg) acc[2],
            a3 = in(reg) acc[3],
            xs = in(reg) xs.to_bits(),
            ws = in(reg) ws,
            y = in(reg) y,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            options(nostack, preserves_flags),
        );
    }
}

/// As [`scalar::matmul_i8`], same float operations in the same order. Four weight rows at a
/// time, each group used for every activation row while it is in cache.
#[allow(clippy::too_many_arguments)]
pub fn matmul_i8(
    xq: &[i8],
    xs: &[f32],
    wq: &[i8],
    ws: &[f32],
    y: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    let (xq, xs, wq, ws, y) = (
        &xq[..m * k],
        &xs[..m],
        &wq[..n * k],
        &ws[..n],
        &mut y[..m * n],
    );
    let groups = if k % BLOCK == 0 { n / 4 } else { 0 };
    let blocks = k / BLOCK;
    let (px, pw, pws, py) = (xq.as_ptr(), wq.as_ptr(), ws.as_ptr(), y.as_mut_ptr());
    for g in 0..groups {
        // SAFETY (all pointer offsets below): the slices above are exactly `m * k`, `n * k`,
        // `n` and `m * n` long; row `i < m` of `xq` is `k = 16 * blocks` bytes at `i * k`, the
        // group's four weight rows are `k` bytes each at `(4g + t) * k` with `4g + 3 < n`, and
        // its four outputs of row `i` are at `i * n + 4g` in `y`, their scales at `4g` in `ws`.
        unsafe {
            let w = pw.add(4 * g * k);
            let rows = [w, w.add(k), w.add(2 * k), w.add(3 * k)];
            for (i, &s) in xs.iter().enumerate() {
                let mut acc = [0i32; 4];
                dot4_blocks(px.add(i * k), rows, blocks, &mut acc);
                scale4(acc, s, pws.add(4 * g), py.add(i * n + 4 * g));
            }
        }
    }
    let row = |j: usize| &wq[j * k..(j + 1) * k];
    let mut j = 4 * groups;
    while j + 4 <= n {
        let rows = [row(j), row(j + 1), row(j + 2), row(j + 3)];
        for i in 0..m {
            let d = dot4(&xq[i * k..(i + 1) * k], rows);
            for (t, v) in d.into_iter().enumerate() {
                y[i * n + j + t] = v as f32 * (xs[i] * ws[j + t]);
            }
        }
        j += 4;
    }
    for j in j..n {
        for i in 0..m {
            y[i * n + j] = dot_i8(&xq[i * k..(i + 1) * k], row(j)) as f32 * (xs[i] * ws[j]);
        }
    }
}

/// As [`scalar::gemv_rows_with`]: the listed rows, four at a time.
fn gemv_rows_i8(xq: &[i8], xs: f32, wq: &[i8], ws: &[f32], rows: &[u32], y: &mut [f32]) {
    let k = xq.len();
    let n = rows.len().min(y.len());
    let (rows, y) = (&rows[..n], &mut y[..n]);
    let row = |r: u32| &wq[r as usize * k..(r as usize + 1) * k];
    let mut groups = rows.chunks_exact(4);
    let mut outs = y.chunks_exact_mut(4);
    for (g, o) in (&mut groups).zip(&mut outs) {
        let d = dot4(xq, [row(g[0]), row(g[1]), row(g[2]), row(g[3])]);
        for ((o, v), &r) in o.iter_mut().zip(d).zip(g) {
            *o = v as f32 * (xs * ws[r as usize]);
        }
    }
    scalar::gemv_rows_with(
        dot_i8,
        xq,
        xs,
        wq,
        ws,
        groups.remainder(),
        outs.into_remainder(),
    );
}

/// `libm::expf`'s constants and thresholds, in the order `exp4` loads them.
#[repr(C, align(4))]
struct ExpConstants([u32; 9]);

static EXP_CONSTANTS: ExpConstants = ExpConstants([
    0x42ae_ac50,                         // |x| from here on (or NaN): libm's other paths
    core::f32::consts::LOG2_E.to_bits(), // INV_LN2
    0x3f85_1592,                         // |x| > 1.5 ln2: k = trunc(x / ln2 +- 0.5)
    0x3eb1_7218,                         // |x| > 0.5 ln2: k = +-1; below, k = 0
    6.931_457_5e-1f32.to_bits(),         // LN2_HI
    1.428_606_8e-6f32.to_bits(),         // LN2_LO
    (-2.766_733_3e-3f32).to_bits(),      // P2
    1.666_662_5e-1f32.to_bits(),         // P1
    0x3900_0000,                         // |x| <= 2^-14: 1 + x
]);

/// `x = exp(x)` on the four floats at `x`, libm's operations in its order (see
/// [`scalar::exp`]'s lane function), unless a lane is at or past libm's special cases: then it
/// writes nothing and returns `false`.
///
/// # Safety
/// `x` must be valid for reading and writing four floats.
#[inline(always)]
unsafe fn exp4(x: *mut f32) -> bool {
    let largest: u32;
    // SAFETY: reads and writes the caller's four floats (word-aligned, as `VLDRW`/`VSTRW`
    // need) and reads the constant table; clobbers q0-q7 (s0-s31), two scratch registers and
    // the flags. `VCVT` to integer truncates (libm's `as i32`); the four divides are scalar
    // (`VDIV` on the lanes' S registers: MVE has no vector divide); every other step is the
    // same IEEE operation on four lanes, none fused.
    unsafe {
        core::arch::asm!(
            "vldrw.u32 q0, [{x}]",
            "vabs.f32 q1, q0",                 // hx
            "movs {m}, #0",
            "vmaxv.u32 {m}, q1",
            "ldr {t}, [{c}]",
            "cmp {m}, {t}",
            "bhs 2f",
            // k = |x| > 1.5 ln2 ? trunc(INV_LN2 * x +- 0.5) : |x| > 0.5 ln2 ? +-1 : 0
            "veor q2, q0, q1",                 // sign bits
            "vorr.i32 q2, #0x3f000000",        // +-0.5
            "ldr {t}, [{c}, #4]",
            "vmul.f32 q3, q0, {t}",
            "vadd.f32 q3, q3, q2",
            "vcvt.s32.f32 q3, q3",
            "vshr.s32 q2, q2, #31",
            "vorr.i32 q2, #1",                 // +-1
            "ldr {t}, [{c}, #8]",
            "vcmp.u32 hi, q1, {t}",
            "vpsel q3, q3, q2",
            "vmov.i32 q2, #0",
            "ldr {t}, [{c}, #12]",
            "vcmp.u32 hi, q1, {t}",
            "vpsel q3, q3, q2",                // k
            "vcvt.f32.s32 q2, q3",             // kf
            "ldr {t}, [{c}, #16]",
            "vmul.f32 q4, q2, {t}",
            "vsub.f32 q4, q0, q4",             // hi = x - kf * LN2_HI
            "ldr {t}, [{c}, #20]",
            "vmul.f32 q5, q2, {t}",            // lo = kf * LN2_LO
            "vsub.f32 q2, q4, q5",             // r = hi - lo
            "vmul.f32 q6, q2, q2",             // rr
            "ldr {t}, [{c}, #24]",
            "vmul.f32 q7, q6, {t}",
            "ldr {t}, [{c}, #28]",
            "vadd.f32 q7, q7, {t}",            // P1 + rr * P2
            "vmul.f32 q7, q6, q7",
            "vsub.f32 q7, q2, q7",             // c = r - rr * (P1 + rr * P2)
            "vmul.f32 q6, q2, q7",             // r * c
            "vmov.f32 q1, #2.0",
            "vsub.f32 q7, q1, q7",             // 2 - c
            "vdiv.f32 s24, s24, s28",
            "vdiv.f32 s25, s25, s29",
            "vdiv.f32 s26, s26, s30",
            "vdiv.f32 s27, s27, s31",
            "vsub.f32 q6, q6, q5",             // - lo
            "vadd.f32 q6, q6, q4",             // + hi
            "vmov.f32 q1, #1.0",
            "vadd.f32 q6, q1, q6",             // y = 1 + (...)
            "vmov.i32 q2, #127",
            "vadd.i32 q3, q3, q2",
            "vshl.i32 q3, q3, #23",            // 2^k, a normal float for |k| <= 126
            "vmul.f32 q6, q6, q3",             // scalbnf(y, k)
            "vabs.f32 q2, q0",
            "vadd.f32 q4, q1, q0",             // 1 + x
            "ldr {t}, [{c}, #32]",
            "vcmp.u32 hi, q2, {t}",
            "vpsel q6, q6, q4",
            "vstrw.32 q6, [{x}]",
            "2:",
            x = in(reg) x,
            c = in(reg) EXP_CONSTANTS.0.as_ptr(),
            m = out(reg) largest,
            t = out(reg) _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
            out("s16") _, out("s17") _, out("s18") _, out("s19") _,
            out("s20") _, out("s21") _, out("s22") _, out("s23") _,
            out("s24") _, out("s25") _, out("s26") _, out("s27") _,
            out("s28") _, out("s29") _, out("s30") _, out("s31") _,
            options(nostack),
        );
    }
    largest < EXP_CONSTANTS.0[0]
}

/// [`scalar::exp`] four lanes at a time through `exp4`.
fn exp(x: &mut [f32]) {
    // SAFETY: `exp_by_groups` hands over four floats at a time.
    scalar::exp_by_groups(x, |g| unsafe { exp4(g.as_mut_ptr()) })
}
