//! What DynamoDB can store of a client's JSON (metadata): nesting depth, map
//! keys and numbers, checked before a write so that input it would refuse is
//! a 400 with a reason, never a 500.

use serde_json::{Map, Number, Value};

/// Deepest nesting accepted inside a metadata object. DynamoDB allows 32
/// levels in an item; the item and the `metadata` attribute use two.
pub const MAX_DEPTH: usize = 16;

/// Why the object cannot be stored, or nothing.
pub fn unstorable(object: &Map<String, Value>) -> Option<String> {
    walk_map(object, 1)
}

fn walk_map(map: &Map<String, Value>, depth: usize) -> Option<String> {
    if depth > MAX_DEPTH {
        return Some(format!("metadata is nested deeper than {MAX_DEPTH} levels"));
    }
    map.iter().find_map(|(key, value)| {
        if key.is_empty() {
            Some("metadata keys must not be empty".to_string())
        } else {
            walk(value, depth + 1)
        }
    })
}

fn walk(value: &Value, depth: usize) -> Option<String> {
    match value {
        Value::Object(map) => walk_map(map, depth),
        Value::Array(_) if depth > MAX_DEPTH => Some(format!(
            "metadata is nested deeper than {MAX_DEPTH} levels"
        )),
        Value::Array(items) => items.iter().find_map(|v| walk(v, depth + 1)),
        Value::Number(n) if !fits(n) => Some(format!(
            "the number {n} cannot be stored: numbers have at most 38 digits and a magnitude from 1e-130 to below 1e126"
        )),
        _ => None,
    }
}

/// DynamoDB numbers: 38 significant digits, magnitude 1e-130 to 9.99…e125.
fn fits(n: &Number) -> bool {
    if n.is_i64() || n.is_u64() {
        return true;
    }
    n.as_f64()
        .is_some_and(|f| f == 0.0 || (1e-130..1e126).contains(&f.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Option<String> {
        unstorable(v.as_object().unwrap())
    }

    #[test]
    fn refuses_what_dynamodb_cannot_store() {
        assert_eq!(
            check(json!({"a": [1, {"b": 2.5}], "n": -3, "big": 1e125})),
            None
        );
        assert!(check(json!({"": 1})).is_some());
        assert!(check(json!({"a": {"": 1}})).is_some());
        assert!(check(json!({"n": 1e200})).is_some());
        assert!(check(json!({"n": -1e-200})).is_some());
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!({ "x": deep });
        }
        assert!(check(json!({ "d": deep })).is_some());
        let mut list = json!(1);
        for _ in 0..40 {
            list = json!([list]);
        }
        assert!(check(json!({ "l": list })).is_some());
    }
}
