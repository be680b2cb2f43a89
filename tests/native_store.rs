//! The store-and-capture suite (tests/suite) against the memory store.
#![cfg(not(target_arch = "wasm32"))]

mod suite;

use std::cell::RefCell;

use serde_json::Value;
use tidesync::store::memory::MemoryStore;
use tidesync::store::Schema;

#[derive(Default)]
struct Memory {
    db: RefCell<Option<MemoryStore>>,
}

impl suite::Harness for Memory {
    type S = MemoryStore;
    async fn open(&self, schema: Schema) -> MemoryStore {
        let mut db = self.db.borrow_mut();
        match db.as_ref() {
            Some(existing) => existing.reopen(schema),
            None => db.insert(MemoryStore::new(schema)).clone(),
        }
    }
    fn rec(&self, v: Value) -> Value {
        v
    }
    fn json(&self, r: &Value) -> Value {
        r.clone()
    }
}

macro_rules! native {
    ($($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                futures::executor::block_on(suite::$name(Memory::default()));
            }
        )*
    };
}

suite_names!(native);
