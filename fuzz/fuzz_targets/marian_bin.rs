//! Any bytes as a Marian `.bin` model, `.npy` array or binary shortlist: `convert`'s readers
//! must return an error naming what is wrong, never panic or allocate from an unchecked count.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = tern_convert::marian_bin::MarianBin::parse(data) {
        for item in &m.items {
            let _ = item.f32s();
            let _ = item.intgemm8();
            let _ = item.scalar();
        }
        let _ = m.config_yaml();
    }
    let _ = tern_convert::marian_npz::parse_npy("W", data);
    let _ = tern_convert::shortlist::parse(data);
});
