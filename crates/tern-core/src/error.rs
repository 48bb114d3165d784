//! One flat error type for the whole core: every variant says what was wrong, without heap data,
//! so it works the same on a microcontroller and on a host.

use core::fmt;

/// What went wrong. Variants carry small `Copy` context (offsets, sizes, static names) only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The file does not start with the GGUF magic `GGUF`.
    BadMagic,
    /// A GGUF version other than 3.
    UnsupportedVersion(u32),
    /// The file ends before a field that must be there; `at` is the byte offset of the field.
    Truncated { at: usize, what: &'static str },
    /// A count (keys, tensors, array length, dimensions) that cannot fit in the file.
    BadCount { at: usize, what: &'static str },
    /// A metadata value type code that GGUF does not define.
    BadValueType { at: usize, code: u32 },
    /// A string that is not valid UTF-8.
    BadUtf8 { at: usize },
    /// `general.alignment` is zero, not a power of two, or too large.
    BadAlignment(u64),
    /// A tensor's element type is unknown or unsupported by this engine.
    BadTensorType { code: u32 },
    /// A tensor's data lies outside the data section, or is not aligned.
    BadTensorData { at: usize },
    /// A tensor has zero or more than four dimensions, or a dimension product overflows.
    BadShape { at: usize },
    /// The buffer holding the file is not aligned enough for zero-copy reads.
    MisalignedBuffer,
    /// A required metadata key is missing.
    MissingKey(&'static str),
    /// A metadata key has the wrong type.
    WrongKeyType(&'static str),
    /// A hyperparameter has a value the engine cannot run (zero, inconsistent, absurd).
    BadHyperparameter(&'static str),
    /// `general.architecture` names a model family this engine does not know.
    UnknownArchitecture,
    /// An activation function name the engine does not know.
    UnknownActivation,
    /// A required tensor is missing. The name is the table name with `{}` for the layer index.
    MissingTensor { name: &'static str, layer: u32 },
    /// A tensor has the wrong shape or type for the hyperparameters.
    TensorMismatch { name: &'static str, layer: u32 },
    /// The tokenizer data in the file is inconsistent.
    BadTokenizer(&'static str),
    /// The lexical shortlist in the file is inconsistent.
    BadShortlist(&'static str),
    /// The workspace given is smaller than the memory plan needs.
    WorkspaceTooSmall { needed: usize, given: usize },
    /// The input has more tokens than the plan allows (`max` tokens, including EOS).
    InputTooLong { tokens: usize, max: usize },
    /// A limit (beam size, lengths) is zero or beyond what the plan supports.
    BadLimit(&'static str),
    /// A caller-provided output buffer is too small.
    OutputTooSmall { needed: usize },
    /// The file's bytes do not match its `tern.checksum` (CRC-32): damaged in storage or
    /// transfer.
    ChecksumMismatch { stored: u32, computed: u32 },
    /// A language code the model's tokenizer does not have (the host lists the model's codes).
    UnknownLanguage,
    /// A multilingual model was asked to translate without a source or target language (the
    /// side named), and the file stores no default.
    MissingLanguage(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match *self {
            BadMagic => write!(f, "not a GGUF file (bad magic)"),
            UnsupportedVersion(v) => {
                write!(f, "unsupported GGUF version {v} (tern reads version 3)")
            }
            Truncated { at, what } => write!(f, "file truncated: {what} at byte {at} is cut off"),
            BadCount { at, what } => {
                write!(f, "impossible {what} at byte {at} (larger than the file)")
            }
            BadValueType { at, code } => {
                write!(f, "unknown metadata value type {code} at byte {at}")
            }
            BadUtf8 { at } => write!(f, "string at byte {at} is not valid UTF-8"),
            BadAlignment(a) => write!(
                f,
                "bad general.alignment {a} (must be a power of two, 8..=65536)"
            ),
            BadTensorType { code } => write!(f, "unsupported tensor type {code}"),
            BadTensorData { at } => write!(
                f,
                "tensor described at byte {at} has data outside the file or misaligned"
            ),
            BadShape { at } => write!(f, "tensor described at byte {at} has a bad shape"),
            MisalignedBuffer => write!(f, "model buffer is not aligned to 32 bytes"),
            MissingKey(k) => write!(f, "missing metadata key {k}"),
            WrongKeyType(k) => write!(f, "metadata key {k} has the wrong type"),
            BadHyperparameter(k) => write!(f, "hyperparameter {k} has an unusable value"),
            UnknownArchitecture => write!(f, "unknown general.architecture"),
            UnknownActivation => write!(f, "unknown activation function"),
            MissingTensor { name, layer } if name.contains("{}") => {
                write!(f, "missing tensor {name} (layer {layer})")
            }
            MissingTensor { name, .. } => write!(f, "missing tensor {name}"),
            TensorMismatch { name, layer } if name.contains("{}") => write!(
                f,
                "tensor {name} (layer {layer}) has the wrong shape or type"
            ),
            TensorMismatch { name, .. } => write!(f, "tensor {name} has the wrong shape or type"),
            BadTokenizer(what) => write!(f, "bad tokenizer data: {what}"),
            BadShortlist(what) => write!(f, "bad shortlist: {what}"),
            WorkspaceTooSmall { needed, given } => {
                write!(f, "workspace too small: need {needed} bytes, got {given}")
            }
            InputTooLong { tokens, max } => {
                write!(f, "input has {tokens} tokens, the plan allows {max}")
            }
            BadLimit(what) => write!(f, "bad limit: {what}"),
            OutputTooSmall { needed } => write!(f, "output buffer too small: need {needed} bytes"),
            ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch: the file says CRC-32 {stored:08x}, its bytes give {computed:08x} (damaged file)"
            ),
            UnknownLanguage => write!(f, "unknown language code for this model"),
            MissingLanguage(side) => write!(
                f,
                "this multilingual model needs a {side} language (e.g. --{side}-lang)"
            ),
        }
    }
}

#[cfg(feature = "std")]
extern crate std;
#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Result with the core's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
