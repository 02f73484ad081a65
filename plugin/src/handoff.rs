//! The audio thread ↔ worker handshake of one activation: every atomic access of the protocol,
//! in one place, so that the plugin and its loom model test (`plugin/tests/loom_handoff.rs`, run
//! with `RUSTFLAGS="--cfg loom"`) execute the same code. Under `cfg(loom)` the atomics are loom's.
//!
//! Beside [`Link`] run two `ringbuf` SPSC rings: events (audio → worker) and samples
//! (worker → audio). The protocol:
//! - Audio thread, per block: push the block's events, take samples, then
//!   [`Link::publish_consumed`] (epoch, stream position taken up to).
//! - Audio thread, on reset: new epoch, [`Link::publish_reset`] (position 0), send a `Reset`
//!   message, then [`Link::try_ack`] each block until the worker has started the epoch; it drops
//!   the samples the worker had pushed before (stale) and plays the rest.
//! - Worker, per turn: [`Link::consumed`] first, then pop every event (a `Reset` is answered
//!   with [`Link::ack_reset`], giving how many samples it had pushed), then push samples. Reading
//!   the position before the events means every event sent before those samples were taken is
//!   already in the queue (Release/Acquire on `consumed` orders the queue's write index too).
//! - Worker, at its end: [`Link::worker_ended`]; the audio thread stops waiting for it.
//!
//! All methods are lock-free and allocation-free (the audio thread calls them).

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Bits of the packed (epoch, position) that hold the stream position (the rest: the epoch).
const POS_BITS: u32 = 48;
/// Epochs count modulo this (16 bits beside the 48-bit position).
pub const EPOCH_MASK: u32 = 0xFFFF;

/// Packs an epoch and a stream position.
pub fn pack(epoch: u32, pos: u64) -> u64 {
    ((epoch & EPOCH_MASK) as u64) << POS_BITS | (pos & ((1 << POS_BITS) - 1))
}

/// Unpacks [`pack`].
pub fn unpack(v: u64) -> (u32, u64) {
    ((v >> POS_BITS) as u32, v & ((1 << POS_BITS) - 1))
}

/// The epoch after `epoch` (wrapping at 16 bits).
pub fn next_epoch(epoch: u32) -> u32 {
    (epoch + 1) & EPOCH_MASK
}

/// The audio thread ↔ worker handshake of one activation (see the module docs).
#[derive(Default)]
pub struct Link {
    /// Audio thread: (epoch, stream position it has taken input up to), packed.
    consumed: AtomicU64,
    /// Worker: the last reset epoch it has started...
    ack_epoch: AtomicU32,
    /// ...and how many samples it had pushed in total when it did (items before are stale).
    ack_items: AtomicU64,
    /// False once the worker thread has ended (shut down or crashed).
    worker_alive: AtomicBool,
}

impl Link {
    // --- audio thread ---

    /// After taking samples up to stream position `pos` of `epoch`.
    pub fn publish_consumed(&self, epoch: u32, pos: u64) {
        self.consumed.store(pack(epoch, pos), Ordering::Release);
    }

    /// On reset, before the `Reset` message is sent: the new epoch starts at position 0.
    pub fn publish_reset(&self, epoch: u32) {
        self.publish_consumed(epoch, 0);
    }

    /// The reset handshake: once the worker has started `epoch`, drops (with `skip`, which
    /// removes up to n samples from the ring and says how many) the samples it had pushed
    /// before, counting them in `items_popped`. True when every stale sample is gone: the
    /// samples in the ring from then on belong to `epoch`.
    pub fn try_ack(&self, epoch: u32, items_popped: &mut u64, mut skip: impl FnMut(usize) -> usize) -> bool {
        if self.ack_epoch.load(Ordering::Acquire) != epoch {
            return false;
        }
        let stale_until = self.ack_items.load(Ordering::Acquire);
        if *items_popped < stale_until {
            *items_popped += skip((stale_until - *items_popped) as usize) as u64;
        }
        *items_popped >= stale_until
    }

    /// Whether the worker thread still runs.
    pub fn worker_alive(&self) -> bool {
        self.worker_alive.load(Ordering::Acquire)
    }

    // --- worker ---

    /// Before the worker thread starts: epoch 0 acknowledged with nothing pushed, alive.
    pub fn start_worker(&self) {
        self.ack_epoch.store(0, Ordering::Release);
        self.ack_items.store(0, Ordering::Release);
        self.worker_alive.store(true, Ordering::Release);
    }

    /// The audio thread's (epoch, position), packed; read before popping the events.
    pub fn consumed(&self) -> u64 {
        self.consumed.load(Ordering::Acquire)
    }

    /// The worker has started `epoch` after pushing `items_pushed` samples in total.
    pub fn ack_reset(&self, epoch: u32, items_pushed: u64) {
        self.ack_items.store(items_pushed, Ordering::Release);
        self.ack_epoch.store(epoch, Ordering::Release);
    }

    /// The worker thread has ended (after its last push).
    pub fn worker_ended(&self) {
        self.worker_alive.store(false, Ordering::Release);
    }
}

/// The stream position the audio thread has reached in the worker's `epoch`, from a packed
/// [`Link::consumed`]: 0 while the audio thread is in another epoch (a reset not yet handled).
pub fn position_in(consumed: u64, epoch: u32) -> u64 {
    let (e, pos) = unpack(consumed);
    if e == epoch & EPOCH_MASK {
        pos
    } else {
        0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips() {
        assert_eq!(unpack(pack(3, 12345)), (3, 12345));
        assert_eq!(unpack(pack(0xFFFF, (1 << 48) - 1)), (0xFFFF, (1 << 48) - 1));
        // Epochs wrap at 16 bits.
        assert_eq!(unpack(pack(0x1_0002, 7)), (2, 7));
        assert_eq!(next_epoch(0xFFFF), 0);
    }

    #[test]
    fn position_is_zero_in_another_epoch() {
        assert_eq!(position_in(pack(2, 500), 2), 500);
        assert_eq!(position_in(pack(3, 500), 2), 0);
    }

    #[test]
    fn ack_drops_exactly_the_stale_samples() {
        let link = Link::default();
        link.start_worker();
        link.publish_reset(1);
        let mut popped = 2;
        assert!(!link.try_ack(1, &mut popped, |_| unreachable!()), "not acknowledged yet");
        link.ack_reset(1, 5);
        let mut skipped = Vec::new();
        assert!(link.try_ack(1, &mut popped, |n| {
            skipped.push(n);
            n
        }));
        assert_eq!((popped, skipped), (5, vec![3]));
        // A ring that gives fewer than asked: not yet.
        let mut popped = 0;
        assert!(!link.try_ack(1, &mut popped, |n| n - 1));
        assert!(link.try_ack(1, &mut popped, |n| n));
    }
}
