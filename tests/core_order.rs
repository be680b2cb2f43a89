//! docs/PROTOCOL.md section 1 (ordering: clock, HLC, stamp), one test per rule.
//!
//! Every test is named after the rule it checks and uses only the public API
//! of `tidesync::core`.

#![cfg(not(target_arch = "wasm32"))]

use tidesync::core::hlc::{DEFAULT_MAX_DRIFT_MS, MAX_COUNTER};
use tidesync::core::{decide, ChangeStamp, Decision, Held, Hlc, HlcClock, HlcState, Receive};

/// A plausible wall-clock time (2023-11-14), in milliseconds.
const T0: u64 = 1_700_000_000_000;

fn hlc(ms: u64, counter: u32, device: &str) -> Hlc {
    Hlc { ms, counter, device_id: device.to_string() }
}

/// A stamp whose HLC string is built from `(ms, counter, device)`.
fn stamp(clock: u64, ms: u64, counter: u32, device: &str, op: &str) -> ChangeStamp {
    ChangeStamp {
        clock,
        hlc: hlc(ms, counter, device).to_string(),
        device_id: device.to_string(),
        op_id: op.to_string(),
    }
}

fn hlc_state(ms: u64, counter: u32) -> HlcState {
    HlcState { ms, counter }
}

fn tuple(h: &Hlc) -> (u64, u32, &str) {
    (h.ms, h.counter, h.device_id.as_str())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Put,
    Delete,
}

/// What one replica holds for one record: a live row and/or a tombstone.
/// Pull, subscription and rescan all go through the same `apply`.
#[derive(Default, Debug)]
struct Replica {
    live: Option<ChangeStamp>,
    tombstone: Option<ChangeStamp>,
}

impl Replica {
    fn apply(&mut self, kind: Kind, incoming: &ChangeStamp) -> Decision {
        let held = Held::from_parts(self.live.as_ref(), self.tombstone.as_ref());
        let d = decide(held, incoming);
        if d == Decision::Apply {
            match kind {
                Kind::Put => self.live = Some(incoming.clone()),
                Kind::Delete => {
                    self.live = None;
                    self.tombstone = Some(incoming.clone());
                }
            }
        }
        d
    }

    fn is_live(&self) -> bool {
        self.live.is_some()
    }
}

// ------------------------------------------------------------------ clock

#[test]
fn clock_is_max_of_live_and_tombstone_plus_one() {
    assert_eq!(ChangeStamp::next_clock(None, None), 1);
    assert_eq!(ChangeStamp::next_clock(Some(0), None), 1);
    assert_eq!(ChangeStamp::next_clock(None, Some(0)), 1);
    assert_eq!(ChangeStamp::next_clock(Some(3), None), 4);
    assert_eq!(ChangeStamp::next_clock(None, Some(7)), 8);
    assert_eq!(ChangeStamp::next_clock(Some(3), Some(7)), 8);
    assert_eq!(ChangeStamp::next_clock(Some(9), Some(2)), 10);
    assert_eq!(ChangeStamp::next_clock(Some(5), Some(5)), 6);

    // The new write beats both the live row and the tombstone it replaces,
    // whatever their HLCs say.
    let live = stamp(3, T0 + 10_000, 9, "zz", "op-z");
    let tomb = stamp(7, T0 + 20_000, 9, "zz", "op-y");
    let next = stamp(ChangeStamp::next_clock(Some(live.clock), Some(tomb.clock)), T0, 0, "a", "op-a");
    assert!(next > live && next > tomb);
    assert_eq!(decide(Held::from_parts(Some(&live), Some(&tomb)), &next), Decision::Apply);
}

#[test]
fn clock_compared_numerically_not_as_string() {
    // As strings "10" < "9"; as numbers 10 > 9. Everything else favours 9.
    assert!("10" < "9");
    let nine = stamp(9, T0 + 1_000, 99, "zz", "op-z");
    let ten = stamp(10, T0, 0, "aa", "op-a");
    assert!(ten > nine);
    assert!(nine < ten);
    assert_eq!(decide(Held::Live(&nine), &ten), Decision::Apply);
    assert_eq!(decide(Held::Live(&ten), &nine), Decision::Reject);

    let hundred = stamp(100, T0, 0, "aa", "op-a");
    assert!(hundred > ten);
    let big = stamp(9_007_199_254_740_991, T0, 0, "aa", "op-a");
    assert!(big > hundred);
}

#[test]
fn hlc_breaks_clock_ties() {
    // Same clock; the later HLC wins even with smaller deviceId and opId.
    let older = stamp(4, T0, 5, "zz", "op-z");
    let newer = stamp(4, T0 + 1, 0, "aa", "op-a");
    assert!(newer > older);
    let newer_counter = stamp(4, T0, 6, "aa", "op-a");
    assert!(newer_counter > older);
    assert_eq!(decide(Held::Live(&older), &newer), Decision::Apply);
    assert_eq!(decide(Held::Live(&newer), &older), Decision::Reject);
}

#[test]
fn device_id_breaks_hlc_ties() {
    // Same clock and the very same HLC string; the greater deviceId wins even
    // with a smaller opId. (On the wire an HLC names its device, so this tie
    // only arises between hand-built stamps; the order still defines it.)
    let h = hlc(T0, 3, "shared").to_string();
    let a = ChangeStamp { clock: 2, hlc: h.clone(), device_id: "device-a".into(), op_id: "op-z".into() };
    let b = ChangeStamp { clock: 2, hlc: h, device_id: "device-b".into(), op_id: "op-a".into() };
    assert!(b > a);
    assert_eq!(decide(Held::Live(&a), &b), Decision::Apply);
    assert_eq!(decide(Held::Live(&b), &a), Decision::Reject);
    // Compared as strings: "device-10" < "device-9".
    let h = hlc(T0, 3, "shared").to_string();
    let d9 = ChangeStamp { clock: 2, hlc: h.clone(), device_id: "device-9".into(), op_id: "x".into() };
    let d10 = ChangeStamp { clock: 2, hlc: h, device_id: "device-10".into(), op_id: "x".into() };
    assert!(d9 > d10);
}

#[test]
fn op_id_breaks_device_ties() {
    let a = stamp(2, T0, 3, "dev", "0f0e0d0c-aaaa-4bbb-8ccc-000000000001");
    let b = stamp(2, T0, 3, "dev", "0f0e0d0c-aaaa-4bbb-8ccc-000000000002");
    assert!(b > a);
    assert_ne!(a, b);
    assert_eq!(decide(Held::Live(&a), &b), Decision::Apply);
    assert_eq!(decide(Held::Live(&b), &a), Decision::Reject);
}

// ------------------------------------------------------------------ LWW

#[test]
fn greater_stamp_wins_put_put() {
    let a = stamp(1, T0, 0, "dev-a", "op-a");
    let b = stamp(1, T0, 1, "dev-b", "op-b");
    assert!(b > a);
    assert_eq!(decide(Held::Nothing, &a), Decision::Apply);
    assert_eq!(decide(Held::Live(&a), &b), Decision::Apply);
    assert_eq!(decide(Held::Live(&b), &a), Decision::Reject);

    // Two replicas that receive the same puts in opposite orders converge on b.
    let mut r1 = Replica::default();
    let mut r2 = Replica::default();
    for s in [&a, &b] {
        r1.apply(Kind::Put, s);
    }
    for s in [&b, &a] {
        r2.apply(Kind::Put, s);
    }
    assert_eq!(r1.live.as_ref(), Some(&b));
    assert_eq!(r2.live.as_ref(), Some(&b));
}

#[test]
fn put_beats_tombstone_only_with_greater_stamp() {
    let tomb = stamp(5, T0, 2, "dev", "op-del");
    let greater = stamp(6, T0 - 50_000, 0, "aaa", "op-0");
    let lower = stamp(4, T0 + 50_000, 9, "zzz", "op-z");
    assert_eq!(decide(Held::Tombstone(&tomb), &greater), Decision::Apply);
    assert_eq!(decide(Held::Tombstone(&tomb), &lower), Decision::Reject);
    // The same stamp as the tombstone is that very delete re-delivered, not a put that wins.
    assert_eq!(decide(Held::Tombstone(&tomb), &tomb.clone()), Decision::AlreadyHeld);

    let mut r = Replica::default();
    assert_eq!(r.apply(Kind::Delete, &tomb), Decision::Apply);
    assert!(!r.is_live());
    assert_eq!(r.apply(Kind::Put, &greater), Decision::Apply);
    assert!(r.is_live());
}

#[test]
fn put_lower_than_tombstone_never_applied() {
    let put1 = stamp(1, T0, 0, "dev-a", "op-1");
    let del = stamp(2, T0 + 5, 0, "dev-b", "op-2");
    // Lower clock but a far later HLC and larger ids: still lower.
    let stale = stamp(1, T0 + 999_999, MAX_COUNTER, "zzzz", "zzzz");

    let mut r = Replica::default();
    assert_eq!(r.apply(Kind::Put, &put1), Decision::Apply);
    assert_eq!(r.apply(Kind::Delete, &del), Decision::Apply);
    assert!(!r.is_live());

    // By pull, by subscription and again during a rescan: the same decision.
    for _delivery in ["pull", "subscription", "rescan"] {
        assert_eq!(r.apply(Kind::Put, &put1), Decision::Reject);
        assert_eq!(r.apply(Kind::Put, &stale), Decision::Reject);
        assert!(!r.is_live(), "a put older than the tombstone resurrected the record");
    }

    // A replica that holds an old live row and a newer tombstone (e.g. after a
    // rescan overlay) measures incoming puts against the tombstone.
    let old_live = stamp(1, T0, 0, "dev-a", "op-1");
    let newer_tomb = stamp(3, T0, 0, "dev-a", "op-3");
    let between = stamp(2, T0, 0, "dev-a", "op-2");
    assert_eq!(decide(Held::from_parts(Some(&old_live), Some(&newer_tomb)), &between), Decision::Reject);
}

#[test]
fn delete_beats_older_put() {
    let put = stamp(3, T0, 0, "dev-a", "op-put");
    let newer_delete = stamp(4, T0 - 10, 0, "dev-b", "op-del");
    let older_delete = stamp(2, T0 + 10, 0, "dev-b", "op-old-del");

    let mut r = Replica::default();
    r.apply(Kind::Put, &put);
    assert_eq!(r.apply(Kind::Delete, &older_delete), Decision::Reject);
    assert!(r.is_live(), "an older delete removed a newer put");
    assert_eq!(r.apply(Kind::Delete, &newer_delete), Decision::Apply);
    assert!(!r.is_live());
    assert_eq!(r.tombstone.as_ref(), Some(&newer_delete));
}

#[test]
fn tombstone_vs_tombstone() {
    let d1 = stamp(2, T0, 0, "dev-a", "op-1");
    let d2 = stamp(2, T0, 1, "dev-b", "op-2");
    assert!(d2 > d1);
    assert_eq!(decide(Held::Tombstone(&d1), &d2), Decision::Apply);
    assert_eq!(decide(Held::Tombstone(&d2), &d1), Decision::Reject);
    assert_eq!(decide(Held::Tombstone(&d2), &d2.clone()), Decision::AlreadyHeld);

    // Both orders leave the greater tombstone.
    let mut r1 = Replica::default();
    let mut r2 = Replica::default();
    r1.apply(Kind::Delete, &d1);
    r1.apply(Kind::Delete, &d2);
    r2.apply(Kind::Delete, &d2);
    r2.apply(Kind::Delete, &d1);
    assert_eq!(r1.tombstone.as_ref(), Some(&d2));
    assert_eq!(r2.tombstone.as_ref(), Some(&d2));
}

#[test]
fn redelivered_same_stamp_is_already_held() {
    let s = stamp(7, T0, 4, "dev", "op-7");
    let copy = s.clone();
    assert_eq!(decide(Held::Live(&s), &copy), Decision::AlreadyHeld);
    assert_eq!(decide(Held::Tombstone(&s), &copy), Decision::AlreadyHeld);
    assert_eq!(decide(Held::Nothing, &copy), Decision::Apply);

    let mut r = Replica::default();
    assert_eq!(r.apply(Kind::Put, &s), Decision::Apply);
    assert_eq!(r.apply(Kind::Put, &copy), Decision::AlreadyHeld);
    assert_eq!(r.live.as_ref(), Some(&s));
}

#[test]
fn held_from_parts_takes_greater_of_live_and_tombstone() {
    let low = stamp(1, T0, 0, "dev", "op-1");
    let high = stamp(2, T0, 0, "dev", "op-2");

    assert_eq!(Held::from_parts(None, None), Held::Nothing);
    assert_eq!(Held::from_parts(Some(&low), None), Held::Live(&low));
    assert_eq!(Held::from_parts(None, Some(&low)), Held::Tombstone(&low));
    assert_eq!(Held::from_parts(Some(&high), Some(&low)), Held::Live(&high));
    assert_eq!(Held::from_parts(Some(&low), Some(&high)), Held::Tombstone(&high));

    assert_eq!(Held::from_parts(None, None).stamp(), None);
    assert_eq!(Held::from_parts(Some(&low), Some(&high)).stamp(), Some(&high));
    assert_eq!(Held::from_parts(Some(&high), Some(&low)).stamp(), Some(&high));
}

// ------------------------------------------------------------------ HLC

#[test]
fn hlc_string_order_is_ms_counter_device() {
    // The numeric parts are fixed-width and zero-padded.
    assert_eq!(hlc(9, 9, "a").to_string(), "000000000000009:00009:a");
    assert_eq!(hlc(T0, 12, "dev").to_string(), "001700000000000:00012:dev");

    // Each pair is in ascending tuple order; the strings must agree.
    let ascending = [
        (hlc(9, 0, "z"), hlc(10, 0, "a")),                // ms 9 < 10 (not "10" < "9")
        (hlc(T0, 9, "z"), hlc(T0, 10, "a")),              // counter 9 < 10
        (hlc(T0, MAX_COUNTER, "z"), hlc(T0 + 1, 0, "a")), // ms outranks counter
        (hlc(T0, 0, "a"), hlc(T0, 0, "ab")),              // a device id before its extension
        (hlc(T0, 0, "ab"), hlc(T0, 0, "b")),
        (hlc(T0, 0, "device-10"), hlc(T0, 0, "device-9")),
        (hlc(T0, 0, "A"), hlc(T0, 0, "a")),
        (hlc(0, 0, "a"), hlc(999_999_999_999_999, 0, "a")),
    ];
    for (lo, hi) in &ascending {
        assert!(tuple(lo) < tuple(hi), "{lo} / {hi}");
        assert!(lo < hi, "Ord of {lo} / {hi}");
        assert!(lo.to_string() < hi.to_string(), "string order of {lo} / {hi}");
        assert_eq!(Hlc::parse(&lo.to_string()).as_ref(), Ok(lo));
    }
}

#[test]
fn hlc_never_goes_back_when_wall_clock_steps_back() {
    let mut c = HlcClock::new("dev", HlcState::default(), DEFAULT_MAX_DRIFT_MS);
    let mut issued = vec![c.tick(T0)];
    for now in [T0, T0 - 1, T0 - 3_600_000, 0, T0 - 1, T0] {
        issued.push(c.tick(now));
    }
    assert_eq!(tuple(&issued[1]), (T0, 1, "dev"));
    assert_eq!(tuple(&issued[6]), (T0, 6, "dev"));
    // When the wall clock moves past the last value again, it takes over.
    issued.push(c.tick(T0 + 5));
    assert_eq!(tuple(&issued[7]), (T0 + 5, 0, "dev"));
    for w in issued.windows(2) {
        assert!(w[1] > w[0], "{} then {}", w[0], w[1]);
        assert!(w[1].to_string() > w[0].to_string());
    }
    assert_eq!(c.current(), issued[7]);
    assert_eq!(c.device_id(), "dev");
}

#[test]
fn hlc_state_survives_encode_decode_and_continues_above() {
    let mut c = HlcClock::new("dev", HlcState::default(), DEFAULT_MAX_DRIFT_MS);
    c.tick(T0);
    c.tick(T0);
    let last = c.tick(T0 - 100);
    let saved = c.state().encode();
    assert_eq!(saved, format!("{T0}:2"));

    // A reload: the wall clock is now behind the persisted value.
    let restored = HlcState::decode(&saved).expect("decodes its own encoding");
    assert_eq!(restored, c.state());
    let mut reloaded = HlcClock::new("dev", restored, DEFAULT_MAX_DRIFT_MS);
    let next = reloaded.tick(T0 - 60_000);
    assert!(next > last);
    assert_eq!(tuple(&next), (T0, 3, "dev"));

    // Another tab persisted a later value: observe_state only ever raises.
    reloaded.observe_state(hlc_state(T0 + 7, 1));
    assert_eq!(reloaded.state(), hlc_state(T0 + 7, 1));
    reloaded.observe_state(hlc_state(T0, 50));
    assert_eq!(reloaded.state(), hlc_state(T0 + 7, 1));
    assert_eq!(tuple(&reloaded.tick(0)), (T0 + 7, 2, "dev"));

    // Encodings that are not the persisted form are refused.
    assert!(HlcState::decode("").is_err());
    assert!(HlcState::decode("12").is_err());
    assert!(HlcState::decode("a:b").is_err());
    assert!(HlcState::decode("-1:0").is_err());
    assert!(HlcState::decode(&format!("1:{}", MAX_COUNTER + 1)).is_err());
    assert!(HlcState::decode("1000000000000000:0").is_err());
    assert_eq!(HlcState::decode("0:0"), Ok(HlcState::default()));
}

#[test]
fn remote_hlc_beyond_drift_is_not_merged() {
    let start = hlc_state(T0, 3);
    let mut c = HlcClock::new("local", start, DEFAULT_MAX_DRIFT_MS);
    let remote = hlc(T0 + DEFAULT_MAX_DRIFT_MS + 1, 0, "remote");
    assert_eq!(c.receive(&remote, T0), Receive::Drift { ahead_ms: DEFAULT_MAX_DRIFT_MS + 1 });
    assert_eq!(c.state(), start);

    let far = hlc(T0 + 86_400_000, 7, "remote");
    assert_eq!(c.receive(&far, T0), Receive::Drift { ahead_ms: 86_400_000 });
    assert_eq!(c.state(), start);

    // The local clock carries on from where it was, not from the remote value.
    assert_eq!(tuple(&c.tick(T0)), (T0, 4, "local"));

    // A custom bound is honoured too.
    let mut strict = HlcClock::new("local", start, 10);
    assert_eq!(strict.receive(&hlc(T0 + 11, 0, "r"), T0), Receive::Drift { ahead_ms: 11 });
    assert_eq!(strict.state(), start);
}

#[test]
fn remote_hlc_within_drift_advances_local() {
    // Exactly at the bound is not "more than" it: merged.
    let mut c = HlcClock::new("local", hlc_state(T0, 3), DEFAULT_MAX_DRIFT_MS);
    let edge = hlc(T0 + DEFAULT_MAX_DRIFT_MS, 5, "remote");
    assert_eq!(c.receive(&edge, T0), Receive::Merged);
    assert_eq!(c.state(), hlc_state(T0 + DEFAULT_MAX_DRIFT_MS, 6));
    let next = c.tick(T0);
    assert!(next.to_string() > edge.to_string());

    // Ahead of local but within the bound: local jumps to it, counter above it.
    let mut c = HlcClock::new("local", hlc_state(T0, 3), DEFAULT_MAX_DRIFT_MS);
    let remote = hlc(T0 + 30_000, 7, "remote");
    assert_eq!(c.receive(&remote, T0), Receive::Merged);
    assert_eq!(c.state(), hlc_state(T0 + 30_000, 8));
    let next = c.tick(T0 + 1);
    assert_eq!(tuple(&next), (T0 + 30_000, 9, "local"));
    assert!(next.to_string() > remote.to_string());

    // Same millisecond: the larger counter plus one.
    let mut c = HlcClock::new("local", hlc_state(T0, 3), DEFAULT_MAX_DRIFT_MS);
    assert_eq!(c.receive(&hlc(T0, 10, "r"), T0 - 5), Receive::Merged);
    assert_eq!(c.state(), hlc_state(T0, 11));
    assert_eq!(c.receive(&hlc(T0, 2, "r"), T0 - 5), Receive::Merged);
    assert_eq!(c.state(), hlc_state(T0, 12));

    // Remote behind local: local still advances (counter + 1).
    assert_eq!(c.receive(&hlc(T0 - 1_000, 99, "r"), T0 - 5), Receive::Merged);
    assert_eq!(c.state(), hlc_state(T0, 13));

    // Wall clock ahead of both: it takes over with counter 0.
    assert_eq!(c.receive(&hlc(T0 + 1, 4, "r"), T0 + 9), Receive::Merged);
    assert_eq!(c.state(), hlc_state(T0 + 9, 0));
}

#[test]
fn counter_overflow_borrows_next_millisecond() {
    let full = hlc_state(T0, MAX_COUNTER);

    // tick, with the wall clock on the same millisecond or behind it.
    for now in [T0, T0 - 1, 0] {
        let mut c = HlcClock::new("dev", full, DEFAULT_MAX_DRIFT_MS);
        let before = c.current();
        let next = c.tick(now);
        assert_eq!(tuple(&next), (T0 + 1, 0, "dev"));
        assert!(next > before);
        assert!(next.to_string() > before.to_string());
    }

    // receive, when the merged counter would pass MAX_COUNTER.
    let mut c = HlcClock::new("dev", hlc_state(T0, 5), DEFAULT_MAX_DRIFT_MS);
    assert_eq!(c.receive(&hlc(T0, MAX_COUNTER, "r"), T0), Receive::Merged);
    assert_eq!(c.state(), hlc_state(T0 + 1, 0));

    let mut c = HlcClock::new("dev", full, DEFAULT_MAX_DRIFT_MS);
    assert_eq!(c.receive(&hlc(T0 - 10, 0, "r"), T0), Receive::Merged);
    assert_eq!(c.state(), hlc_state(T0 + 1, 0));

    // A counter of MAX_COUNTER - 1 still fits.
    let mut c = HlcClock::new("dev", hlc_state(T0, MAX_COUNTER - 1), DEFAULT_MAX_DRIFT_MS);
    assert_eq!(tuple(&c.tick(T0)), (T0, MAX_COUNTER, "dev"));
    assert_eq!(c.current().to_string(), format!("{T0:015}:99999:dev"));
}
