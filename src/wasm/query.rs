//! The query options of `getAll`, `query` and `count` (docs/PROTOCOL.md
//! section 4): decoded from JS into a [`Query`], with each mistake refused
//! as `INVALID` at its path, and a page's position handed back to JS.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::core::decode::{self, Path, Shape, WireValue};
use crate::core::key::Bound;
use crate::core::Invalid;
use crate::engine::config::check_keys;
use crate::store::idb::key_to_js;
use crate::store::js_value::key as field_key;
use crate::store::{After, Key, KeyRange, Page, Query, Where};

#[wasm_bindgen(typescript_custom_section)]
const QUERY_TS: &'static str = r#"
/** An IndexedDB key the engine queries by: a string, a finite number, or an array of them (a compound index). */
export type IndexKey = string | number | IndexKey[];

/** Where a page stopped; pass it as the next query's `after`. Treat it as opaque. */
export interface QueryPosition { key: IndexKey; pk: PrimaryKey }

/**
 * Which rows to read, along the primary key or a declared index. At most one
 * condition (`equals`, `anyOf`, `between`, `above`, `aboveOrEqual`, `below`,
 * `belowOrEqual`, `startsWith`); none reads every row. On a compound index,
 * an array of its first fields selects that prefix.
 */
export interface QueryOptions {
  /** A declared index: a field, `'[a+b]'` or `['a', 'b']` for a compound one. The primary key when left out. */
  index?: string | string[];
  equals?: IndexKey;
  anyOf?: IndexKey[];
  /** `[lower, upper]`: by default the lower bound is included and the upper one is not (as Dexie). */
  between?: [IndexKey, IndexKey];
  includeLower?: boolean;
  includeUpper?: boolean;
  above?: IndexKey;
  aboveOrEqual?: IndexKey;
  below?: IndexKey;
  belowOrEqual?: IndexKey;
  /** Rows whose (string) key starts with this. */
  startsWith?: string;
  /** Walk the key in descending order. */
  reverse?: boolean;
  /** Skip this many rows first. */
  offset?: number;
  /** At most this many rows. */
  limit?: number;
  /** Continue after a previous page's `next`. */
  after?: QueryPosition;
}

/** One page of a query: its rows, and `next` when a `limit` was reached and more rows may follow. */
export interface QueryPage<T> { rows: T[]; next?: QueryPosition }
"#;

#[wasm_bindgen]
extern "C" {
    /// The options of `getAll`, `query` and `count`, typed for TypeScript.
    #[wasm_bindgen(typescript_type = "QueryOptions")]
    pub type QueryOptionsArg;
}

/// The keys a query's options accept.
pub const QUERY_KEYS: [&str; 15] = [
    "index",
    "equals",
    "anyOf",
    "between",
    "includeLower",
    "includeUpper",
    "above",
    "aboveOrEqual",
    "below",
    "belowOrEqual",
    "startsWith",
    "reverse",
    "offset",
    "limit",
    "after",
];

const CONDITIONS: [&str; 8] =
    ["equals", "anyOf", "between", "above", "aboveOrEqual", "below", "belowOrEqual", "startsWith"];

/// A key a query compares with: a string, a finite number, or an array of keys.
fn index_key(v: &JsValue, path: &Path<'_>) -> Result<Key, Invalid> {
    Key::read(v).ok_or_else(|| path.rule("must be a string, a finite number or an array of them"))
}

fn flag(options: &JsValue, name: &'static str, root: &Path<'_>, default: bool) -> Result<bool, Invalid> {
    match options.field(name) {
        Some(b) => decode::boolean(&b, &Path::Field(root, name)),
        None => Ok(default),
    }
}

fn count_option(options: &JsValue, name: &'static str, root: &Path<'_>, min: u64) -> Result<Option<u32>, Invalid> {
    match options.field(name) {
        Some(n) => Ok(Some(decode::integer(&n, &Path::Field(root, name), min)?.min(u32::MAX as u64) as u32)),
        None => Ok(None),
    }
}

/// The index named by `index`: a field or `[a+b]` as it is, an array of
/// fields as `[a+b]`.
fn index_name(v: &JsValue, path: &Path<'_>) -> Result<String, Invalid> {
    if v.shape() == Shape::Array {
        let fields = decode::array(v, path)?;
        let names = fields
            .iter()
            .enumerate()
            .map(|(i, f)| decode::name(f, &Path::Index(path, i), 256))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(format!("[{}]", names.join("+")));
    }
    decode::name(v, path, 256)
}

/// A query from `getAll`/`query`/`count` options (`undefined`: every row).
pub fn decode_query(options: &JsValue) -> Result<Query, Invalid> {
    let root = Path::Root("options");
    if matches!(options.shape(), Shape::Absent | Shape::Null) {
        return Ok(Query::default());
    }
    decode::expect_object(options, &root)?;
    check_keys(options, &root, &QUERY_KEYS)?;
    let at = |name: &'static str| Path::Field(&root, name);
    let given: Vec<&str> = CONDITIONS.iter().copied().filter(|c| options.field(c).is_some()).collect();
    if given.len() > 1 {
        return Err(at(given[1]).rule(format!("a query takes one condition; it also has {:?}", given[0])));
    }
    if !given.contains(&"between") {
        for name in ["includeLower", "includeUpper"] {
            if options.field(name).is_some() {
                return Err(at(name).rule("goes with between"));
            }
        }
    }
    let key_of = |name: &'static str| -> Result<Key, Invalid> {
        index_key(&options.field(name).unwrap_or(JsValue::UNDEFINED), &at(name))
    };
    let filter = match given.first().copied() {
        None => Where::All,
        Some("equals") => Where::Equals(key_of("equals")?),
        Some("anyOf") => {
            let p = at("anyOf");
            let items = decode::array(&options.field("anyOf").unwrap_or(JsValue::UNDEFINED), &p)?;
            Where::AnyOf(
                items.iter().enumerate().map(|(i, k)| index_key(k, &Path::Index(&p, i))).collect::<Result<_, _>>()?,
            )
        }
        Some("between") => {
            let p = at("between");
            let pair = decode::array(&options.field("between").unwrap_or(JsValue::UNDEFINED), &p)?;
            if pair.len() != 2 {
                return Err(p.rule("must be [lower, upper]"));
            }
            let lower = index_key(&pair[0], &Path::Index(&p, 0))?;
            let upper = index_key(&pair[1], &Path::Index(&p, 1))?;
            let open_lo = !flag(options, "includeLower", &root, true)?;
            let open_hi = !flag(options, "includeUpper", &root, false)?;
            Where::Range(KeyRange {
                lower: Some(Bound { key: lower, open: open_lo }),
                upper: Some(Bound { key: upper, open: open_hi }),
            })
        }
        Some("above") => Where::Range(KeyRange::above(key_of("above")?, true)),
        Some("aboveOrEqual") => Where::Range(KeyRange::above(key_of("aboveOrEqual")?, false)),
        Some("below") => Where::Range(KeyRange::below(key_of("below")?, true)),
        Some("belowOrEqual") => Where::Range(KeyRange::below(key_of("belowOrEqual")?, false)),
        Some(_) => Where::StartsWith(decode::string(
            &options.field("startsWith").unwrap_or(JsValue::UNDEFINED),
            &at("startsWith"),
        )?),
    };
    let index = match options.field("index") {
        Some(i) => Some(index_name(&i, &at("index"))?),
        None => None,
    };
    let after = match options.field("after") {
        Some(a) => {
            let p = at("after");
            decode::expect_object(&a, &p)?;
            let key = index_key(&decode::required(&a, "key", &p)?, &Path::Field(&p, "key"))?;
            let pk = decode::pk(&decode::required(&a, "pk", &p)?, &Path::Field(&p, "pk"))?;
            Some(After { key, pk: pk.into() })
        }
        None => None,
    };
    Ok(Query {
        index,
        filter,
        reverse: flag(options, "reverse", &root, false)?,
        offset: count_option(options, "offset", &root, 0)?.unwrap_or(0),
        limit: count_option(options, "limit", &root, 1)?,
        after,
    })
}

/// The query of an optional options argument.
pub fn decode_options(options: Option<QueryOptionsArg>) -> Result<Query, crate::core::SyncError> {
    decode_query(&options.map(JsValue::from).unwrap_or(JsValue::UNDEFINED)).map_err(crate::core::SyncError::Invalid)
}

/// A page as `{ rows, next? }`.
pub fn page_to_js(page: Page<JsValue>) -> Result<JsValue, JsValue> {
    let out = Object::new();
    let rows: Array = page.rows.into_iter().collect();
    Reflect::set(&out, &field_key("rows"), &rows)?;
    if let Some(next) = page.next {
        let pos = Object::new();
        Reflect::set(&pos, &field_key("key"), &key_to_js(&next.key))?;
        Reflect::set(&pos, &field_key("pk"), &key_to_js(&next.pk))?;
        Reflect::set(&out, &field_key("next"), &pos)?;
    }
    Ok(out.into())
}
