//! IndexedDB failures as typed errors: the JS value a rexie or idb error
//! carries (usually a `DOMException`) is read by its `name`, so a full quota
//! is `QUOTA` and everything else `STORAGE` with the browser's own message,
//! without `Debug` text.

use wasm_bindgen::JsValue;

use crate::core::SyncError;

/// An IndexedDB failure as a typed error, told apart by the
/// `DOMException`'s `name` (`QuotaExceededError` is `QUOTA`).
pub fn storage(context: &str, e: impl Failure) -> SyncError {
    use wasm_bindgen::JsCast;
    let Some(cause) = e.cause() else {
        return SyncError::Storage(format!("IndexedDB {context} failed"));
    };
    match cause.dyn_ref::<web_sys::DomException>() {
        Some(d) if d.name() == "QuotaExceededError" => {
            SyncError::Quota(format!("IndexedDB {context}: the browser's storage quota is used up"))
        }
        Some(d) => SyncError::Storage(format!("IndexedDB {context}: {}: {}", d.name(), d.message())),
        None => SyncError::Storage(format!(
            "IndexedDB {context}: {}",
            cause.as_string().or_else(|| js_sys::JSON::stringify(&cause).ok().map(String::from)).unwrap_or_default()
        )),
    }
}

/// A failure of IndexedDB or of a JS call, with the JS value it carries
/// (usually a `DOMException`).
pub trait Failure {
    fn cause(self) -> Option<JsValue>;
}

impl Failure for JsValue {
    fn cause(self) -> Option<JsValue> {
        Some(self)
    }
}

impl Failure for rexie::Error {
    fn cause(self) -> Option<JsValue> {
        match self {
            rexie::Error::IdbError(inner) => inner.cause(),
            _ => None,
        }
    }
}

impl Failure for idb::Error {
    fn cause(self) -> Option<JsValue> {
        idb_cause(self)
    }
}

fn idb_cause(e: idb::Error) -> Option<JsValue> {
    use idb::Error as E;
    match e {
        E::DomException(d) => Some(d.into()),
        E::AddFailed(v)
        | E::ClearFailed(v)
        | E::CountFailed(v)
        | E::CursorAdvanceFailed(v)
        | E::CursorContinueFailed(v)
        | E::CursorKeyNotFound(v)
        | E::CursorPrimaryKeyNotFound(v)
        | E::CursorValueNotFound(v)
        | E::DeleteFailed(v)
        | E::GetAllFailed(v)
        | E::GetAllKeysFailed(v)
        | E::GetFailed(v)
        | E::GetKeyFailed(v)
        | E::IndexCreateFailed(v)
        | E::IndexDeleteFailed(v)
        | E::IndexedDbDeleteFailed(v)
        | E::IndexedDbNotFound(v)
        | E::IndexedDbOpenFailed(v)
        | E::IndexNotFound(v)
        | E::KeyPathNotFound(v)
        | E::KeyRangeBoundNotFound(v)
        | E::KeyRangeCreateFailed(v)
        | E::KeyRangeIncludesFailed(v)
        | E::ObjectStoreCreateFailed(v)
        | E::ObjectStoreDeleteFailed(v)
        | E::ObjectStoreNotFound(v)
        | E::OpenCursorFailed(v)
        | E::OpenKeyCursorFailed(v)
        | E::RequestErrorNotFound(v)
        | E::RequestResultNotFound(v)
        | E::TransactionAbortError(v)
        | E::TransactionCommitError(v)
        | E::TransactionModeNotFound(v)
        | E::TransactionOpenFailed(v)
        | E::UnexpectedJsType(_, v)
        | E::UpdateFailed(v) => Some(v),
        _ => None,
    }
}

/// A stored value this engine cannot read or write (not an IndexedDB failure).
pub fn unreadable(context: &str, e: impl std::fmt::Display) -> SyncError {
    SyncError::Storage(format!("{context}: {e}"))
}
