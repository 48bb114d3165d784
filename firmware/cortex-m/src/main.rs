//! tern on a Cortex-M: translates fixed sentences with a model linked into flash, read in
//! place, in a workspace sized at build time. Logs each translation with its cost (SysTick; on
//! QEMU with `-icount shift=0` that counts instructions) and exits 0 only if every translation
//! equals the host engine's (recorded by build.rs).
#![no_std]
#![no_main]

mod plan {
    use tern_core::plan::Limits;
    include!(concat!(env!("OUT_DIR"), "/plan.rs"));
}

mod board;

use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use defmt::{error, info, Display2Format};
use static_cell::ConstStaticCell;
use tern_core::engine::Engine;
use tern_core::kernels::Kernels;

/// Tensor data needs 32-byte alignment; GGUF offsets are relative to the file start.
#[repr(C, align(32))]
struct Aligned<T>(T);

/// The model file, in the board's weights region (flash, QSPI or DDR; see build.rs).
#[link_section = ".weights"]
static MODEL: Aligned<[u8; plan::MODEL_BYTES]> =
    Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.gguf")));

/// The whole run state: its size is the memory plan's, so it is in the link map, not a heap.
static WORKSPACE: ConstStaticCell<[u8; plan::WORKSPACE_BYTES]> =
    ConstStaticCell::new([0; plan::WORKSPACE_BYTES]);
static TEXT: ConstStaticCell<[u8; plan::MAX_OUT_BYTES]> =
    ConstStaticCell::new([0; plan::MAX_OUT_BYTES]);

/// SysTick wraps every 2^24 ticks; the exception counts wraps.
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

fn ticks() -> u64 {
    loop {
        let w = WRAPS.load(Ordering::Acquire);
        let below = 0x00FF_FFFF - cortex_m::peripheral::SYST::get_current();
        if WRAPS.load(Ordering::Acquire) == w {
            return (u64::from(w) << 24) | u64::from(below);
        }
    }
}

/// SysTick ticks to nanoseconds of (virtual) time; with `-icount shift=0`, instructions.
fn nanos(ticks: u64) -> u64 {
    (u128::from(ticks) * 1_000_000_000 / u128::from(plan::CPU_HZ)) as u64
}

#[entry]
fn main() -> ! {
    let Some(mut core) = cortex_m::Peripherals::take() else {
        board::exit(false)
    };
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(0x00FF_FFFF);
    core.SYST.clear_current();
    core.SYST.enable_interrupt();
    core.SYST.enable_counter();
    // The cleared counter reads 0 until its first reload; start timing after that.
    while cortex_m::peripheral::SYST::get_current() == 0 {}

    // Calibration: `delay(n)` runs exactly 2(n + 1) instructions (`subs` + `bne`); under
    // `-icount shift=0` the measurement must say so, or CPU_HZ is wrong for this board.
    let t0 = ticks();
    cortex_m::asm::delay(999_999);
    info!(
        "calibration: a 2000000-instruction loop measured {=u64}",
        nanos(ticks() - t0)
    );

    let kernels = Kernels::best();
    info!(
        "tern on {=str}: {=str} ({=usize} bytes in {=str}), workspace {=usize} bytes in {=str}, kernels {=str}",
        plan::BOARD,
        plan::MODEL_NAME,
        plan::MODEL_BYTES,
        plan::WEIGHTS_REGION,
        plan::WORKSPACE_BYTES,
        plan::RAM_REGION,
        kernels.name
    );
    // The table against the portable one on awkward shapes (tails, one row, several rows), on
    // this core, before it is trusted with a model.
    if let Err(m) = tern_core::kernels::check::compare_with_scalar(&kernels) {
        error!("kernels {=str}: {}", kernels.name, Display2Format(&m));
        board::exit(false)
    }
    let t0 = ticks();
    let engine = match Engine::load(&MODEL.0, kernels) {
        Ok(e) => e,
        Err(e) => {
            error!("the model does not load: {}", Display2Format(&e));
            board::exit(false)
        }
    };
    info!("loaded in {=u64} instructions", nanos(ticks() - t0));

    let ws = WORKSPACE.take();
    let text = TEXT.take();
    let opts = engine.options(&plan::LIMITS);
    let (mut all_same, mut all_ns, mut all_tokens) = (true, 0u64, 0u64);
    for (i, (source, expected)) in plan::SENTENCES.iter().enumerate() {
        let t0 = ticks();
        let result = engine.translate(ws, &plan::LIMITS, &opts, source, text);
        let ns = nanos(ticks() - t0);
        let t = match result {
            Ok(t) => t,
            Err(e) => {
                error!("{=usize}: {=str}: {}", i + 1, source, Display2Format(&e));
                all_same = false;
                continue;
            }
        };
        let got = core::str::from_utf8(&text[..t.text_len]).unwrap_or("<invalid UTF-8>");
        let same = got == *expected;
        all_same &= same;
        let tokens = t.tgt_tokens.max(1) as u64;
        all_ns += ns;
        all_tokens += tokens;
        info!(
            "{=usize}: {=str} -> {=str} [{=usize}+{=u64} tokens, {=u64} instructions, {=u64} per generated token]{=str}",
            i + 1,
            source,
            got,
            t.src_tokens,
            tokens,
            ns,
            ns / tokens,
            if same { "" } else { " DIFFERS from the host" }
        );
        if !same {
            error!("host engine: {=str}", expected);
        }
    }
    info!(
        "{=usize} sentences, {=u64} tokens generated, {=u64} instructions per generated token (kernels {=str}); {=str}",
        plan::SENTENCES.len(),
        all_tokens,
        all_ns / all_tokens.max(1),
        kernels.name,
        if all_same { "all equal to the host engine" } else { "MISMATCH" }
    );
    board::exit(all_same)
}
