//! A file written by `convert` loads in gguf-py (the ggml project's Python reader), which lists
//! the same metadata and tensors tern reads.

use std::process::Command;
use tern_convert::Precision;

const LIST: &str = r#"
import sys
from gguf import GGUFReader
r = GGUFReader(sys.argv[1])
for k, f in r.fields.items():
    print("KV", k)
for t in r.tensors:
    print("T", t.name, t.tensor_type.name, ",".join(str(int(d)) for d in t.shape), int(t.n_bytes))
"#;

#[test]
fn gguf_py_reads_converted_files() {
    let python = tern_e2e::python();
    let fixture = &tern_e2e::marian_fixtures()[0];
    for precision in [Precision::F32, Precision::F16, Precision::Int8] {
        let bytes = tern_e2e::convert(fixture, precision);
        let path = tern_e2e::scratch().join(format!("gguf-py-{precision:?}.gguf"));
        std::fs::write(&path, &bytes).unwrap();
        let out = Command::new(&python)
            .args(["-c", LIST])
            .arg(&path)
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "gguf-py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = String::from_utf8(out.stdout).unwrap();

        let t = tern::Translator::from_bytes(&bytes).unwrap();
        let g = &t.engine().gguf;
        for (k, _) in g.metadata() {
            assert!(
                listing.lines().any(|l| l == format!("KV {k}")),
                "gguf-py does not list key {k}"
            );
        }
        let tensors: Vec<&str> = listing.lines().filter(|l| l.starts_with("T ")).collect();
        assert_eq!(tensors.len(), g.n_tensors());
        for (line, ours) in tensors.iter().zip(g.tensors()) {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f[1], ours.name);
            let want_type = match ours.ty.name() {
                "f32" => "F32",
                "f16" => "F16",
                "i8" => "I8",
                "i32" => "I32",
                other => other,
            };
            assert_eq!(f[2], want_type, "type of {}", ours.name);
            let dims: Vec<String> = ours.dims[..ours.n_dims]
                .iter()
                .map(|d| d.to_string())
                .collect();
            assert_eq!(f[3], dims.join(","), "shape of {}", ours.name);
            assert_eq!(
                f[4].parse::<usize>().unwrap(),
                ours.data.len(),
                "bytes of {}",
                ours.name
            );
        }
    }
}
