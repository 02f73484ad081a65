//! Realtime load shedding: how many voices the worker can keep up with, decided from how long
//! each frame took to generate.
//!
//! [`SLOW_FRAMES_BEFORE_SHEDDING`] frames in a row that each took longer to make than they
//! last, with the ring less than half full, mean the worker cannot keep up with that many
//! voices. One slow frame alone is a scheduling hiccup the ring absorbs: measured here,
//! shedding on single slow frames stopped 7 of 8 voices of a chord that never underran. The
//! cap is then one voice fewer than were generated. When nothing sounds, or after
//! [`CALM_BEFORE_REGROW`] of frames made in under half their duration, the cap grows back.
//! Offline renders never shed: they wait for the worker and stay complete and repeatable.
//!
//! Pure logic over durations and instants given by the caller, so it is tested without clocks.

use std::time::{Duration, Instant};

/// Consecutive frames slower than real time (with the ring draining) before voices are shed.
pub const SLOW_FRAMES_BEFORE_SHEDDING: u32 = 3;
/// Frames made in under half their duration for this long let the cap grow by one.
pub const CALM_BEFORE_REGROW: Duration = Duration::from_secs(2);

/// What the worker should do after a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing changes.
    Keep,
    /// Stop the voices beyond this many (released first, then the oldest held) and play new
    /// notes with at most this many.
    Shed(u8),
    /// The polyphony may grow to this many again (`u8::MAX`: the user's own setting).
    Regrow(u8),
}

/// The voice cap and the evidence behind it.
#[derive(Clone, Copy, Debug)]
pub struct LoadGovernor {
    frame_duration: Duration,
    cap: u8,
    slow_frames: u32,
    calm_since: Option<Instant>,
}

impl LoadGovernor {
    /// For frames that last `frame_duration` of audio; no cap.
    pub fn new(frame_duration: Duration) -> LoadGovernor {
        LoadGovernor { frame_duration, cap: u8::MAX, slow_frames: 0, calm_since: None }
    }

    /// Most voices to play now (`u8::MAX`: no cap).
    pub fn cap(&self) -> u8 {
        self.cap
    }

    /// Forgets everything (a reset of the stream).
    pub fn reset(&mut self) {
        *self = LoadGovernor::new(self.frame_duration);
    }

    /// After a frame that took `cost` with `rows` voices, the ring less than half full when
    /// `draining`, at `now`; `user_polyphony` is the player's own setting.
    pub fn after_frame(&mut self, cost: Duration, rows: usize, draining: bool, now: Instant, user_polyphony: u8) -> Verdict {
        if rows == 0 {
            self.slow_frames = 0;
            self.calm_since = None;
            return self.set_cap(u8::MAX, Verdict::Regrow(u8::MAX));
        }
        if cost > self.frame_duration {
            self.calm_since = None;
            self.slow_frames += 1;
            if self.slow_frames >= SLOW_FRAMES_BEFORE_SHEDDING && draining && rows > 1 {
                self.slow_frames = 0;
                let cap = (rows - 1).min(self.cap as usize) as u8;
                return self.set_cap(cap, Verdict::Shed(cap));
            }
            return Verdict::Keep;
        }
        self.slow_frames = 0;
        if cost * 2 >= self.frame_duration {
            self.calm_since = None;
            return Verdict::Keep;
        }
        let since = *self.calm_since.get_or_insert(now);
        if self.cap != u8::MAX && now.duration_since(since) >= CALM_BEFORE_REGROW {
            self.calm_since = Some(now);
            let grown = self.cap.saturating_add(1);
            let cap = if grown >= user_polyphony { u8::MAX } else { grown };
            return self.set_cap(cap, Verdict::Regrow(cap));
        }
        Verdict::Keep
    }

    fn set_cap(&mut self, cap: u8, verdict: Verdict) -> Verdict {
        if cap == self.cap {
            return Verdict::Keep;
        }
        self.cap = cap;
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(8);

    #[test]
    fn three_slow_frames_while_draining_shed_one_voice_below_what_ran() {
        let (mut g, t) = (LoadGovernor::new(FRAME), Instant::now());
        let slow = FRAME * 2;
        assert_eq!(g.after_frame(slow, 8, true, t, 8), Verdict::Keep);
        assert_eq!(g.after_frame(slow, 8, true, t, 8), Verdict::Keep);
        assert_eq!(g.after_frame(slow, 8, true, t, 8), Verdict::Shed(7));
        // Still too slow with 7: the next three shed again.
        for _ in 0..2 {
            assert_eq!(g.after_frame(slow, 7, true, t, 8), Verdict::Keep);
        }
        assert_eq!(g.after_frame(slow, 7, true, t, 8), Verdict::Shed(6));
        assert_eq!(g.cap(), 6);
    }

    #[test]
    fn slow_frames_with_a_full_ring_or_one_voice_shed_nothing() {
        let (mut g, t) = (LoadGovernor::new(FRAME), Instant::now());
        for _ in 0..10 {
            assert_eq!(g.after_frame(FRAME * 3, 8, false, t, 8), Verdict::Keep, "the ring absorbs it");
            assert_eq!(g.after_frame(FRAME * 3, 1, true, t, 8), Verdict::Keep, "the last voice stays");
        }
        // A fast frame between slow ones restarts the count.
        let mut g = LoadGovernor::new(FRAME);
        for _ in 0..5 {
            g.after_frame(FRAME * 2, 8, true, t, 8);
            g.after_frame(FRAME * 2, 8, true, t, 8);
            assert_eq!(g.after_frame(FRAME / 4, 8, true, t, 8), Verdict::Keep);
        }
    }

    #[test]
    fn the_cap_grows_back_after_calm_or_when_nothing_sounds() {
        let (mut g, t0) = (LoadGovernor::new(FRAME), Instant::now());
        for _ in 0..3 {
            g.after_frame(FRAME * 2, 4, true, t0, 4);
        }
        assert_eq!(g.cap(), 3);
        let fast = FRAME / 4;
        assert_eq!(g.after_frame(fast, 3, false, t0, 4), Verdict::Keep);
        assert_eq!(g.after_frame(fast, 3, false, t0 + CALM_BEFORE_REGROW / 2, 4), Verdict::Keep);
        // Reaching the user's polyphony lifts the cap altogether.
        assert_eq!(g.after_frame(fast, 3, false, t0 + CALM_BEFORE_REGROW, 4), Verdict::Regrow(u8::MAX));
        for _ in 0..3 {
            g.after_frame(FRAME * 2, 4, true, t0, 4);
        }
        assert_eq!(g.after_frame(fast, 0, false, t0, 4), Verdict::Regrow(u8::MAX), "silence lifts the cap");
        assert_eq!(g.after_frame(fast, 0, false, t0, 4), Verdict::Keep);
    }
}
