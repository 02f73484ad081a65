//! Ctrl-C (SIGINT) and SIGTERM during training: the first one asks the loop to save a
//! checkpoint at the end of the current step and stop; a second one ends the process at once
//! (the handler is installed with `SA_RESETHAND`, so the default action comes back).

use std::sync::atomic::{AtomicI32, Ordering};

/// The signal received, 0 if none.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    // Async-signal-safe: one atomic store.
    SIGNAL.store(sig, Ordering::SeqCst);
}

/// Installs the handler for SIGINT and SIGTERM (once per process is enough; again is harmless).
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `sa` is fully initialised (zeroed, then the handler, an empty mask and the
        // flags set); the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_RESETHAND | libc::SA_RESTART;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// The name of the signal received since [`install`], if any.
pub fn requested() -> Option<&'static str> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        libc::SIGINT => Some("Ctrl-C (SIGINT)"),
        libc::SIGTERM => Some("SIGTERM"),
        _ => Some("a signal"),
    }
}
