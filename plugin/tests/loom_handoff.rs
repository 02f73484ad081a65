//! Model check of the audio thread ↔ worker handoff with loom: every interleaving (and every
//! outcome the memory orderings allow) of the protocol's steps, on the plugin's own [`Link`]
//! (`plugin/src/handoff.rs`, whose atomics are loom's under `cfg(loom)`).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release -p sackbut-plugin --test loom_handoff`
//! (scripts/loom.sh, in its own target directory). Without `--cfg loom` this file is empty.
//!
//! The two SPSC rings are `ringbuf` in the plugin, which loom cannot see into; [`Ring`] mirrors
//! ringbuf 0.4's `SharedRb` faithfully for this purpose: a slot array and two monotonic indices,
//! each side loading both indices with `Acquire` and storing its own with `Release`, and `skip`
//! dropping items in place. Its slots are loom `UnsafeCell`s, so loom also checks that a slot is
//! never read while written. The audio and worker steps below are those of `audio.rs`
//! (`reset`, `try_ack`, `render`, the offline wait) and `worker.rs` (`run`, `handle`): the same
//! `Link` calls in the same order, with samples tagged by the epoch they were generated in.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use sackbut_plugin::handoff::{next_epoch, position_in, Link};

/// ringbuf's SPSC ring, mirrored (see the module docs). `T: Copy` stands in for the plugin's
/// `f32` samples and `Msg` events.
struct Ring<T> {
    slots: Vec<UnsafeCell<T>>,
    read: AtomicUsize,
    write: AtomicUsize,
}

// SAFETY: one producer and one consumer; a slot is written only while outside `read..write`
// (producer) and read only while inside it (consumer), ordered by the Release/Acquire indices.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T: Copy + Default> Ring<T> {
    fn new(capacity: usize) -> Ring<T> {
        Ring {
            slots: (0..capacity).map(|_| UnsafeCell::new(T::default())).collect(),
            read: AtomicUsize::new(0),
            write: AtomicUsize::new(0),
        }
    }

    /// Producer: `try_push`.
    fn push(&self, v: T) -> bool {
        let (r, w) = (self.read.load(Ordering::Acquire), self.write.load(Ordering::Acquire));
        if w - r == self.slots.len() {
            return false;
        }
        // SAFETY: slot `w` is outside `read..write`: the consumer does not touch it.
        self.slots[w % self.slots.len()].with_mut(|p| unsafe { *p = v });
        self.write.store(w + 1, Ordering::Release);
        true
    }

    /// Consumer: `try_pop`.
    fn pop(&self) -> Option<T> {
        let (r, w) = (self.read.load(Ordering::Acquire), self.write.load(Ordering::Acquire));
        if r == w {
            return None;
        }
        // SAFETY: slot `r` is inside `read..write`: the producer has finished writing it.
        let v = self.slots[r % self.slots.len()].with(|p| unsafe { *p });
        self.read.store(r + 1, Ordering::Release);
        Some(v)
    }

    /// Consumer: `skip(n)`, dropping up to `n` items in place.
    fn skip(&self, n: usize) -> usize {
        let (r, w) = (self.read.load(Ordering::Acquire), self.write.load(Ordering::Acquire));
        let k = n.min(w - r);
        for i in r..r + k {
            // SAFETY: as in `pop`; dropping an item is a write.
            self.slots[i % self.slots.len()].with_mut(|p| unsafe { *p = T::default() });
        }
        self.read.store(r + k, Ordering::Release);
        k
    }
}

/// The audio thread → worker messages that matter here.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum Msg {
    /// A key event (its stream time).
    Key(u64),
    /// The host reset the plugin.
    Reset(u32),
    #[default]
    Empty,
}

/// Everything one activation shares.
struct Shared {
    link: Link,
    events: Ring<Msg>,
    /// Samples, tagged with the worker's epoch when it generated them.
    samples: Ring<u32>,
}

fn shared(sample_capacity: usize) -> Arc<Shared> {
    let s = Shared { link: Link::default(), events: Ring::new(4), samples: Ring::new(sample_capacity) };
    s.link.start_worker(); // WorkerHandle::spawn, before the thread starts
    Arc::new(s)
}

/// The worker of `worker.rs`: per turn, the audio thread's position first, then the events,
/// then one sample (a frame) if there is room.
struct Worker {
    epoch: u32,
    items_pushed: u64,
    keys: Vec<u64>,
}

impl Worker {
    fn new() -> Worker {
        Worker { epoch: 0, items_pushed: 0, keys: Vec::new() }
    }

    /// One turn; returns the audio thread's position in the worker's epoch, as read first.
    fn turn(&mut self, s: &Shared) -> u64 {
        let consumed = s.link.consumed();
        while let Some(msg) = s.events.pop() {
            match msg {
                Msg::Key(t) => self.keys.push(t),
                Msg::Reset(epoch) => {
                    self.epoch = epoch;
                    s.link.ack_reset(epoch, self.items_pushed);
                }
                Msg::Empty => unreachable!("an empty slot was popped"),
            }
        }
        let pos = position_in(consumed, self.epoch);
        if s.samples.push(self.epoch) {
            self.items_pushed += 1;
        }
        pos
    }
}

/// The audio side of `audio.rs`: its epoch and handshake state.
struct Audio {
    epoch: u32,
    awaiting_ack: bool,
    items_popped: u64,
    model_pos: u64,
}

impl Audio {
    fn new() -> Audio {
        Audio { epoch: 0, awaiting_ack: false, items_popped: 0, model_pos: 0 }
    }

    /// `AudioSide::reset`: the new epoch is published before the message is sent.
    fn reset(&mut self, s: &Shared) {
        self.epoch = next_epoch(self.epoch);
        self.model_pos = 0;
        self.awaiting_ack = true;
        s.link.publish_reset(self.epoch);
        assert!(s.events.push(Msg::Reset(self.epoch)), "the event ring of the model is large enough");
    }

    /// `AudioSide::try_ack`. Once the worker's acknowledgement is seen, the stale samples it
    /// counts must all be in the ring already (else the audio thread would stall a block).
    fn try_ack(&mut self, s: &Shared) -> bool {
        if !self.awaiting_ack {
            return true;
        }
        let acked = s.link.try_ack(self.epoch, &mut self.items_popped, |n| {
            let k = s.samples.skip(n);
            assert_eq!(k, n, "samples counted as stale by the worker are not yet visible in the ring");
            k
        });
        if acked {
            self.awaiting_ack = false;
        }
        acked
    }

    /// `AudioSide::render` for a block of one sample: a played sample must belong to the
    /// audio thread's current epoch.
    fn block(&mut self, s: &Shared) -> Option<u32> {
        if !self.try_ack(s) {
            return None; // silence until the worker has started the stream
        }
        let got = s.samples.pop();
        if let Some(tag) = got {
            assert_eq!(tag, self.epoch, "a sample generated before the reset was played after it");
            self.items_popped += 1;
        }
        self.model_pos += 1;
        s.link.publish_consumed(self.epoch, self.model_pos);
        got
    }
}

/// Explores the interleavings of `f` with at most 2 preemptions per execution (loom's usual
/// bound, which finds the bugs of 2-thread protocols; `LOOM_MAX_PREEMPTIONS` overrides it).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

#[test]
fn a_reset_drops_every_stale_sample_and_only_those() {
    model(|| {
        let s = shared(2);
        let w = s.clone();
        let worker = thread::spawn(move || {
            let mut worker = Worker::new();
            for _ in 0..3 {
                worker.turn(&w);
            }
            worker.items_pushed
        });
        let mut audio = Audio::new();
        audio.block(&s);
        audio.reset(&s);
        let played: Vec<u32> = (0..3).filter_map(|_| audio.block(&s)).collect();
        let pushed = worker.join().unwrap();
        // Whatever was not played is still in the ring or was dropped as stale: none is lost.
        let mut left = 0;
        while s.samples.pop().is_some() {
            left += 1;
        }
        assert_eq!(audio.items_popped + left, pushed, "played {played:?}");
    });
}

#[test]
fn two_resets_in_a_row_play_only_the_last_epoch() {
    model(|| {
        let s = shared(2);
        let w = s.clone();
        let worker = thread::spawn(move || {
            let mut worker = Worker::new();
            for _ in 0..3 {
                worker.turn(&w);
            }
        });
        let mut audio = Audio::new();
        audio.reset(&s);
        audio.block(&s);
        audio.reset(&s);
        for _ in 0..2 {
            audio.block(&s);
        }
        worker.join().unwrap();
        assert_eq!(audio.epoch, 2);
    });
}

#[test]
fn events_sent_before_the_position_are_seen_with_it() {
    model(|| {
        let s = shared(2);
        let w = s.clone();
        let worker = thread::spawn(move || {
            let mut worker = Worker::new();
            for _ in 0..2 {
                let pos = worker.turn(&w);
                // A block's events are sent before its samples are taken: a worker that sees
                // the position has the events too.
                if pos >= 1 {
                    assert_eq!(worker.keys, [7], "the position arrived before the block's event");
                }
            }
        });
        let mut audio = Audio::new();
        assert!(s.events.push(Msg::Key(7)));
        audio.block(&s);
        worker.join().unwrap();
    });
}

#[test]
fn an_ended_worker_has_published_all_it_pushed() {
    model(|| {
        let s = shared(2);
        let w = s.clone();
        let worker = thread::spawn(move || {
            let mut worker = Worker::new();
            worker.turn(&w);
            worker.turn(&w);
            w.link.worker_ended();
        });
        // The offline wait of `AudioSide::render`: pop until the block is full or the worker is
        // gone. Once it is seen gone, everything it pushed is in the ring.
        let mut got = 0;
        while got < 2 && s.link.worker_alive() {
            if s.samples.pop().is_some() {
                got += 1;
            } else {
                thread::yield_now();
            }
        }
        while s.samples.pop().is_some() {
            got += 1;
        }
        assert_eq!(got, 2);
        worker.join().unwrap();
    });
}
