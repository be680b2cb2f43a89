//! Property tests for docs/PROTOCOL.md section 1: the stamp order is a total order,
//! HLC strings sort like their tuples and round-trip, and the clock never goes
//! back (ticks, receives, drift bound).

#![cfg(not(target_arch = "wasm32"))]

use proptest::prelude::*;
use tidesync::core::hlc::{self, DEFAULT_MAX_DRIFT_MS, MAX_COUNTER};
use tidesync::core::{decide, ChangeStamp, Decision, Held, Hlc, HlcClock, HlcState, Receive};

/// A plausible wall-clock time (2023-11-14), in milliseconds.
const T0: u64 = 1_700_000_000_000;

/// Device ids with shared prefixes, digits, separators and non-ASCII bytes.
const DEVICES: &[&str] =
    &["a", "ab", "abc", "b", "ba", "A", "0", "a0", "a:b", "a-", "device-1", "device-10", "device-2", "z", "é"];

// ------------------------------------------------------------ strategies

/// Stamps drawn from small pools so that ties at every level are common.
fn stamp() -> impl Strategy<Value = ChangeStamp> {
    (
        prop_oneof![0u64..4, Just(9u64), Just(10u64), Just(100u64)],
        0u64..3,
        0u32..3,
        prop::sample::select(&DEVICES[..6]),
        prop::sample::select(&DEVICES[..4]),
        prop::sample::select(vec!["op-1", "op-2", "op-10", "op-a"]),
    )
        .prop_map(|(clock, ms, counter, hlc_dev, dev, op)| ChangeStamp {
            clock,
            hlc: Hlc { ms: T0 + ms, counter, device_id: hlc_dev.to_string() }.to_string(),
            device_id: dev.to_string(),
            op_id: op.to_string(),
        })
}

fn ms() -> impl Strategy<Value = u64> {
    prop_oneof![0..=hlc::MAX_MS, 0u64..20, (T0 - 5)..(T0 + 5), (hlc::MAX_MS - 20)..=hlc::MAX_MS,]
}

fn counter() -> impl Strategy<Value = u32> {
    prop_oneof![0..=MAX_COUNTER, 0u32..12, (MAX_COUNTER - 3)..=MAX_COUNTER]
}

fn device() -> impl Strategy<Value = String> {
    prop::sample::select(DEVICES).prop_map(str::to_string)
}

fn hlc_value() -> impl Strategy<Value = Hlc> {
    (ms(), counter(), device()).prop_map(|(ms, counter, device_id)| Hlc { ms, counter, device_id })
}

fn key(h: &Hlc) -> (u64, u32, &str) {
    (h.ms, h.counter, h.device_id.as_str())
}

fn state_key(s: HlcState) -> (u64, u32) {
    (s.ms, s.counter)
}

/// A time near T0, so that states, remotes and `now` straddle the drift bound.
fn near_t0() -> impl Strategy<Value = u64> {
    prop_oneof![
        (T0 - 200_000)..(T0 + 200_000),
        Just(T0),
        Just(T0 + DEFAULT_MAX_DRIFT_MS),
        Just(T0 + DEFAULT_MAX_DRIFT_MS + 1),
        0u64..3,
    ]
}

fn state() -> impl Strategy<Value = HlcState> {
    (near_t0(), counter()).prop_map(|(ms, counter)| HlcState { ms, counter })
}

fn drift() -> impl Strategy<Value = u64> {
    prop_oneof![Just(DEFAULT_MAX_DRIFT_MS), Just(0u64), Just(1u64), 0u64..100_000]
}

#[derive(Debug, Clone)]
enum Event {
    Tick(u64),
    Receive(Hlc, u64),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        near_t0().prop_map(Event::Tick),
        (near_t0(), counter(), device(), near_t0())
            .prop_map(|(ms, counter, device_id, now)| { Event::Receive(Hlc { ms, counter, device_id }, now,) }),
    ]
}

// ------------------------------------------------------------ stamp order

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn stamp_order_is_total(a in stamp(), b in stamp()) {
        let holds = [a < b, a == b, a > b];
        prop_assert_eq!(holds.iter().filter(|&&x| x).count(), 1, "{:?} vs {:?}", a, b);
        prop_assert_eq!(a.cmp(&b) == std::cmp::Ordering::Equal, a == b);
        prop_assert_eq!(a.partial_cmp(&b), Some(a.cmp(&b)));
    }

    #[test]
    fn stamp_order_is_antisymmetric(a in stamp(), b in stamp()) {
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        if a <= b && b <= a {
            prop_assert_eq!(&a, &b);
        }
    }

    #[test]
    fn stamp_order_is_transitive(a in stamp(), b in stamp(), c in stamp()) {
        if a <= b && b <= c {
            prop_assert!(a <= c);
        }
        if a < b && b < c {
            prop_assert!(a < c);
        }
        if a == b && b == c {
            prop_assert_eq!(&a, &c);
        }
    }

    #[test]
    fn stamp_order_is_clock_then_hlc_then_device_then_op(a in stamp(), b in stamp()) {
        let ka = (a.clock, a.hlc.as_str(), a.device_id.as_str(), a.op_id.as_str());
        let kb = (b.clock, b.hlc.as_str(), b.device_id.as_str(), b.op_id.as_str());
        prop_assert_eq!(a.cmp(&b), ka.cmp(&kb));
    }

    /// LWW converges: whatever order a replica receives the versions in, it
    /// ends up holding the greatest one.
    #[test]
    fn lww_converges_whatever_the_delivery_order(
        (versions, shuffled) in prop::collection::vec(stamp(), 1..8)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
    ) {
        let max = versions.iter().max().unwrap().clone();
        for order in [&versions, &shuffled] {
            let mut held: Option<ChangeStamp> = None;
            for s in order.iter() {
                let h = held.as_ref().map_or(Held::Nothing, Held::Live);
                match decide(h, s) {
                    Decision::Apply => held = Some(s.clone()),
                    Decision::AlreadyHeld => prop_assert_eq!(held.as_ref(), Some(s)),
                    Decision::Reject => prop_assert!(held.as_ref().unwrap() > s),
                }
            }
            prop_assert_eq!(held.as_ref(), Some(&max));
        }
    }
}

// ------------------------------------------------------------ HLC strings

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn hlc_string_order_equals_tuple_order(a in hlc_value(), b in hlc_value()) {
        let (sa, sb) = (a.to_string(), b.to_string());
        prop_assert_eq!(sa.cmp(&sb), key(&a).cmp(&key(&b)), "{} vs {}", sa, sb);
        prop_assert_eq!(a.cmp(&b), key(&a).cmp(&key(&b)));
    }

    #[test]
    fn hlc_parse_round_trips(h in hlc_value()) {
        let s = h.to_string();
        prop_assert_eq!(s.len(), hlc::MS_WIDTH + 1 + hlc::COUNTER_WIDTH + 1 + h.device_id.len());
        prop_assert_eq!(Hlc::parse(&s), Ok(h));
    }

    #[test]
    fn hlc_parse_round_trips_any_device_id(ms in ms(), counter in counter(), device_id in "\\PC{1,16}") {
        let h = Hlc { ms, counter, device_id };
        prop_assert_eq!(Hlc::parse(&h.to_string()), Ok(h));
    }

    #[test]
    fn hlc_state_encode_decode_round_trips(ms in ms(), counter in counter()) {
        let s = HlcState { ms, counter };
        prop_assert_eq!(HlcState::decode(&s.encode()), Ok(s));
    }
}

// ------------------------------------------------------------ ticks

use tidesync::core::rng::SplitMix64 as SplitMix;

#[test]
fn tick_is_strictly_increasing_over_100k_random_wall_clock_jumps() {
    let mut rng = SplitMix(0x7153_D5EE_D000_0001);
    // Start with the counter nearly exhausted and the wall clock behind the
    // state, so the run borrows the next millisecond early on.
    let mut clock = HlcClock::new("device-1", HlcState { ms: T0, counter: MAX_COUNTER - 2 }, DEFAULT_MAX_DRIFT_MS);
    let mut prev = clock.current();
    let mut prev_str = prev.to_string();
    let mut now: u64 = T0 - 5_000;
    let (mut borrows, mut backward, mut repeats) = (0u32, 0u32, 0u32);

    for i in 0..100_000u32 {
        if i % 2_000 == 1_000 {
            // Another tab persisted a value with the counter nearly exhausted.
            clock.observe_state(HlcState { ms: prev.ms, counter: MAX_COUNTER - 2 });
        }
        let before = now;
        now = match rng.below(100) {
            0..=29 => now,                                                     // repeated identical time
            30..=54 => now + 1 + rng.below(3),                                 // small step forward
            55..=79 => now.saturating_sub(1 + rng.below(2_000)),               // small step back
            80..=83 => now.saturating_sub(1_000_000_000 + rng.below(1 << 40)), // huge step back
            84..=85 => 0,                                                      // back to the epoch
            86..=93 => now + 1 + rng.below(1_000_000),                         // jump forward
            _ => T0 + rng.below(1 << 20),                                      // resync near T0
        };
        if now < before {
            backward += 1;
        } else if now == before {
            repeats += 1;
        }
        let v = clock.tick(now);
        let s = v.to_string();
        assert!(key(&v) > key(&prev), "tick {i}: {s} is not above {prev_str} (now {now})");
        assert!(s > prev_str, "tick {i}: string {s} is not above {prev_str}");
        assert!(v.ms >= now, "tick {i}: {s} is below the wall clock {now}");
        if v.ms > prev.ms && v.ms > now {
            borrows += 1;
        }
        prev = v;
        prev_str = s;
    }
    assert!(borrows >= 5, "the run borrowed a millisecond only {borrows} times");
    assert!(backward > 10_000 && repeats > 10_000, "backward {backward}, repeats {repeats}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn tick_is_strictly_increasing_for_any_jumps(
        start in state(),
        first in near_t0(),
        jumps in prop::collection::vec(
            prop_oneof![Just(0i64), -3i64..3, -2_000_000i64..2_000_000, Just(i64::MIN / 2)],
            1..300,
        ),
    ) {
        let mut clock = HlcClock::new("d", start, DEFAULT_MAX_DRIFT_MS);
        let mut prev = clock.current();
        let mut now = first;
        for j in jumps {
            now = now.saturating_add_signed(j).min(4 * T0);
            let v = clock.tick(now);
            prop_assert!(key(&v) > key(&prev));
            prop_assert!(v.to_string() > prev.to_string());
            prev = v;
        }
    }
}

// ------------------------------------------------------------ receive

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn receive_never_advances_past_the_drift_bound(
        before in state(),
        (r_ms, r_counter, r_dev) in (near_t0(), counter(), device()),
        now in near_t0(),
        max_drift in drift(),
    ) {
        let remote = Hlc { ms: r_ms, counter: r_counter, device_id: r_dev };
        let mut clock = HlcClock::new("local", before, max_drift);
        let outcome = clock.receive(&remote, now);
        let after = clock.state();

        prop_assert!(after.ms <= before.ms.max(now + max_drift), "{:?} -> {:?}", before, after);
        if remote.ms > now + max_drift {
            let drifted = matches!(outcome, Receive::Drift { .. });
            prop_assert!(drifted, "{:?} beyond the bound gave {:?}", remote, outcome);
        }
        match outcome {
            Receive::Drift { ahead_ms } => {
                prop_assert_eq!(after, before);
                prop_assert!(ahead_ms > max_drift);
            }
            Receive::Merged => {
                prop_assert!(state_key(after) > state_key(before));
                prop_assert!(state_key(after) > (remote.ms, remote.counter));
                prop_assert!(after.ms >= now);
                prop_assert!(after.counter <= MAX_COUNTER);
            }
        }
        // Strictly inside the bound on both sides there is room to merge.
        if remote.ms < now + max_drift && before.ms < now + max_drift {
            prop_assert_eq!(outcome, Receive::Merged);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn ticks_after_receives_remain_strictly_increasing(
        start in state(),
        max_drift in drift(),
        events in prop::collection::vec(event(), 1..60),
    ) {
        let mut clock = HlcClock::new("local", start, max_drift);
        let mut last_state = clock.state();
        let mut last_tick: Option<Hlc> = None;
        let mut must_exceed: Option<(u64, u32)> = None;
        for e in events {
            match e {
                Event::Tick(now) => {
                    let v = clock.tick(now);
                    prop_assert!((v.ms, v.counter) > state_key(last_state));
                    if let Some(prev) = &last_tick {
                        prop_assert!(key(&v) > key(prev));
                        prop_assert!(v.to_string() > prev.to_string());
                    }
                    if let Some(floor) = must_exceed {
                        prop_assert!((v.ms, v.counter) > floor, "{} not above merged remote {:?}", v, floor);
                    }
                    last_tick = Some(v);
                }
                Event::Receive(remote, now) => {
                    if clock.receive(&remote, now) == Receive::Merged {
                        must_exceed = must_exceed.max(Some((remote.ms, remote.counter)));
                    }
                    prop_assert!(state_key(clock.state()) >= state_key(last_state));
                }
            }
            last_state = clock.state();
        }
    }
}
