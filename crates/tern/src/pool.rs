//! Threads for one sentence: a session's workers, started once and kept, over which the
//! kernels' int8 products split their rows ([`tern_core::kernels::FanOut`]).
//!
//! A product is a few microseconds, so handing out its parts must cost far less: nothing is
//! allocated or locked per product. The caller publishes the work in a ticket (generation, next
//! part, parts); every thread, the caller too, claims parts from it by compare-and-swap; the
//! caller spins until each part reports done. Idle workers spin for a short while (the next
//! product of a step comes within microseconds), then sleep until the next sentence.
//!
//! A session installs its pool on the calling thread for the duration of a call ([`install`]);
//! the kernel table's `fan_out` ([`fan_out`]) finds it there, and runs serially where none is.

use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle worker spins before it sleeps.
const SPIN: Duration = Duration::from_micros(300);

/// The work of one fan-out, as the caller's stack holds it.
type Work<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// A ticket packs the generation (high 32 bits), the next unclaimed part (16) and the number
/// of parts (16), so that a claim is one compare-and-swap that fails on a stale generation.
fn ticket(generation: u32, next: usize, parts: usize) -> u64 {
    (u64::from(generation) << 32) | ((next as u64) << 16) | parts as u64
}

fn generation(t: u64) -> u32 {
    (t >> 32) as u32
}

fn next_part(t: u64) -> usize {
    (t >> 16) as usize & 0xffff
}

fn parts(t: u64) -> usize {
    t as usize & 0xffff
}

struct Shared {
    ticket: AtomicU64,
    /// The current generation's work: a pointer to the caller's `Work`.
    work: AtomicPtr<()>,
    /// Parts of the current generation finished.
    done: AtomicUsize,
    /// A part panicked (the caller panics in turn once all are done).
    panicked: AtomicBool,
    stop: AtomicBool,
    /// Workers asleep (read by the caller without a lock), and where they sleep.
    sleepers: AtomicUsize,
    bed: Mutex<()>,
    wake: Condvar,
}

impl Shared {
    /// Claims and runs parts of generation `g` until none is left.
    fn run_parts(&self, g: u32) {
        loop {
            let t = self.ticket.load(Ordering::Acquire);
            if generation(t) != g || next_part(t) >= parts(t) {
                return;
            }
            let claimed = self
                .ticket
                .compare_exchange_weak(t, t + (1 << 16), Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if !claimed {
                continue;
            }
            // SAFETY: the pointer was stored before generation `g` was published (release,
            // read here by the acquire above), and the caller keeps the `Work` it points to
            // alive until every part of `g` is done; this one is not done yet.
            let work: Work<'_> = unsafe { *(self.work.load(Ordering::Acquire) as *const Work<'_>) };
            if catch_unwind(AssertUnwindSafe(|| work(next_part(t), parts(t)))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }

    fn worker(&self) {
        let mut seen = 0u32;
        loop {
            let started = Instant::now();
            let mut spins = 0u32;
            let g = loop {
                let g = generation(self.ticket.load(Ordering::Acquire));
                if g != seen {
                    break g;
                }
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
                spins = spins.wrapping_add(1);
                if !spins.is_multiple_of(1024) || started.elapsed() < SPIN {
                    std::hint::spin_loop();
                    continue;
                }
                // Counted before the ticket is read again (both SeqCst): a caller that publishes
                // after that read sees the count and wakes us; one that published before, we see.
                let mut bed = self.bed.lock().unwrap_or_else(|e| e.into_inner());
                self.sleepers.fetch_add(1, Ordering::SeqCst);
                while generation(self.ticket.load(Ordering::SeqCst)) == seen
                    && !self.stop.load(Ordering::SeqCst)
                {
                    bed = self.wake.wait(bed).unwrap_or_else(|e| e.into_inner());
                }
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
            };
            seen = g;
            self.run_parts(g);
        }
    }
}

/// A session's threads: `threads - 1` workers and the calling thread.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Generation of the last fan-out (only the installing thread fans out).
    generation: Cell<u32>,
}

impl Pool {
    /// A pool of `threads` threads, the caller's included (`threads - 1` are started; fewer
    /// if the system refuses some).
    pub fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            ticket: AtomicU64::new(0),
            work: AtomicPtr::new(std::ptr::null_mut()),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            bed: Mutex::new(()),
            wake: Condvar::new(),
        });
        let workers = (1..threads.clamp(1, 0xffff))
            .map_while(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("tern-intra-{i}"))
                    .spawn(move || shared.worker())
                    .ok()
            })
            .collect();
        Pool {
            shared,
            workers,
            generation: Cell::new(0),
        }
    }

    /// Threads that take parts, the caller's included.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `work(part, parts)` for every part, one per thread, and returns when all are done.
    fn fan_out(&self, work: Work<'_>) {
        let parts = self.threads();
        if parts == 1 {
            return tern_core::kernels::serial(work);
        }
        let s = &*self.shared;
        let g = self.generation.get().wrapping_add(1).max(1);
        self.generation.set(g);
        s.done.store(0, Ordering::Relaxed);
        s.work
            .store(&work as *const Work<'_> as *mut (), Ordering::Release);
        s.ticket.store(ticket(g, 0, parts), Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            // Under the lock: a worker between counting itself and waiting holds it.
            let _bed = s.bed.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        // Whatever happens here, `work` must outlive the parts the workers claimed.
        let mine = catch_unwind(AssertUnwindSafe(|| s.run_parts(g)));
        // A part still running after a long wait is on a thread the system has not scheduled
        // (more threads than cores): the core goes to it.
        let mut spins = 0u32;
        while s.done.load(Ordering::Acquire) < parts {
            spins = spins.wrapping_add(1);
            match spins > 1 << 14 {
                true => std::thread::yield_now(),
                false => std::hint::spin_loop(),
            }
        }
        if let Err(p) = mine {
            resume_unwind(p);
        }
        if s.panicked.swap(false, Ordering::Relaxed) {
            panic!("a part of a fanned-out product panicked");
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _bed = self.shared.bed.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

thread_local! {
    /// The pool installed on this thread, if any.
    static INSTALLED: Cell<*const Pool> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with `pool` installed on this thread (none: serial), as it was before afterwards.
pub fn install<R>(pool: Option<&Pool>, f: impl FnOnce() -> R) -> R {
    struct Restore(*const Pool);
    impl Drop for Restore {
        fn drop(&mut self) {
            INSTALLED.with(|c| c.set(self.0));
        }
    }
    let now = pool.map_or(std::ptr::null(), |p| p as *const Pool);
    let _restore = Restore(INSTALLED.with(|c| c.replace(now)));
    f()
}

/// The kernel table's [`FanOut`](tern_core::kernels::FanOut): the installed pool's, or one part
/// on this thread.
pub fn fan_out(work: &(dyn Fn(usize, usize) + Sync)) {
    let pool = INSTALLED.with(Cell::get);
    if pool.is_null() {
        return tern_core::kernels::serial(work);
    }
    // SAFETY: `install` keeps the pool borrowed, and installed only on its own thread, while
    // `f` runs; this call comes from within `f` (the kernels run on the caller's thread).
    unsafe { &*pool }.fan_out(work)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_once_on_each_fan_out() {
        let pool = Pool::new(3);
        let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
        install(Some(&pool), || {
            for round in 1..=2000 {
                fan_out(&|part, parts| {
                    assert_eq!(parts, 3);
                    hits[part].fetch_add(1, Ordering::Relaxed);
                });
                // Some rounds after the workers have gone to sleep.
                if round % 500 == 0 {
                    std::thread::sleep(SPIN * 3);
                }
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == round));
            }
        });
        // Not installed: one part, here.
        fan_out(&|part, parts| assert_eq!((part, parts), (0, 1)));
    }

    #[test]
    fn a_panicking_part_panics_the_caller_after_all_parts() {
        let pool = Pool::new(2);
        let done = AtomicUsize::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            install(Some(&pool), || {
                fan_out(&|part, _| {
                    done.fetch_add(1, Ordering::Relaxed);
                    assert!(part != 1, "part 1 fails");
                })
            })
        }));
        assert!(r.is_err());
        assert_eq!(done.load(Ordering::Relaxed), 2);
        // The pool still works, and the caller's thread has none installed.
        install(Some(&pool), || fan_out(&|_, parts| assert_eq!(parts, 2)));
        fan_out(&|_, parts| assert_eq!(parts, 1));
    }
}
