//! What differs between QEMU and a real board: the log transport, the panic handler, and how
//! the run ends.

#[cfg(feature = "qemu")]
mod qemu {
    use defmt_semihosting as _;
    use panic_semihosting as _;

    /// Ends QEMU with status 0 or 1 (semihosting exit).
    pub fn exit(ok: bool) -> ! {
        use cortex_m_semihosting::debug;
        debug::exit(if ok {
            debug::EXIT_SUCCESS
        } else {
            debug::EXIT_FAILURE
        });
        loop {
            cortex_m::asm::wfi();
        }
    }
}
#[cfg(feature = "qemu")]
pub use qemu::exit;

#[cfg(not(feature = "qemu"))]
mod hardware {
    use defmt_rtt as _;
    use panic_probe as _;

    /// Stops at a breakpoint: `probe-rs run` ends there (status 0); a failure also panics,
    /// which probe-rs reports as an error.
    pub fn exit(ok: bool) -> ! {
        if !ok {
            defmt::panic!("translations differ from the host engine's");
        }
        loop {
            cortex_m::asm::bkpt();
        }
    }
}
#[cfg(not(feature = "qemu"))]
pub use hardware::exit;
