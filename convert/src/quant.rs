//! Weight encodings the converter writes: f32, f16, or symmetric int8 with one f32 scale per row.
//!
//! Why per-row int8 (CTranslate2's scheme) rather than ggml's Q8_0 blocks: a row's dot product
//! accumulates in one integer register and is scaled once, which is what the SIMD GEMV wants
//! (no per-32-element float conversions), and Bergamot's per-tensor multipliers map onto it
//! losslessly (every row gets the tensor's scale). See docs/gguf-format.md for measurements.

use tern_core::gguf::write::GgufWriter;
use tern_core::gguf::TensorType;
use tern_core::model::names::{SCALE, WEIGHT};

/// How matrices are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    F16,
    Int8,
}

/// Quantizes one row: scale = max|w| / 127, q = round(w / scale).
pub fn quantize_row(row: &[f32], q: &mut Vec<u8>) -> f32 {
    let amax = row.iter().fold(0f32, |a, v| a.max(v.abs()));
    let scale = if amax > 0.0 { amax / 127.0 } else { 1.0 };
    q.extend(
        row.iter()
            .map(|v| ((v / scale).round().clamp(-127.0, 127.0) as i8) as u8),
    );
    scale
}

/// Writes a `rows x cols` matrix named `base` (+ `.weight`, and `.scale` for int8).
pub fn write_matrix(
    w: &mut GgufWriter,
    base: &str,
    rows: usize,
    cols: usize,
    data: &[f32],
    p: Precision,
) {
    let dims = [cols as u64, rows as u64];
    let name = format!("{base}{WEIGHT}");
    match p {
        Precision::F32 => w.tensor_f32(&name, &dims, data),
        Precision::F16 => {
            let bytes: Vec<u8> = data
                .iter()
                .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
                .collect();
            w.tensor_bytes(&name, &dims, TensorType::F16, &bytes);
        }
        Precision::Int8 => {
            let mut q = Vec::with_capacity(rows * cols);
            let scales: Vec<f32> = data
                .chunks_exact(cols)
                .map(|r| quantize_row(r, &mut q))
                .collect();
            w.tensor_bytes(&name, &dims, TensorType::I8, &q);
            w.tensor_f32(&format!("{base}{SCALE}"), &[rows as u64], &scales);
        }
    }
}
