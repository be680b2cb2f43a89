//! The sans-IO sync core: clocks, stamps, the LWW order and the wire types.
//!
//! Nothing here touches IndexedDB, the network, timers or JS: every function
//! is a pure computation over plain data, so it is tested with plain
//! `cargo test` and reused unchanged by the engine, the simulator and the
//! reference server.

pub mod backoff;
pub mod capture;
pub mod conflict;
pub mod decode;
pub mod error;
pub mod hlc;
pub mod join;
pub mod json_tree;
pub mod judge;
pub mod key;
pub mod lww;
pub mod pk;
pub mod record;
pub mod rng;
pub mod scheduler;
pub mod server;
pub mod settle;
pub mod stamp;
pub mod wire;

pub use error::{Invalid, InvalidKind, Result, SyncError};
pub use hlc::{Hlc, HlcClock, HlcState, Receive};
pub use lww::{decide, Decision, Held};
pub use pk::Pk;
pub use stamp::ChangeStamp;
