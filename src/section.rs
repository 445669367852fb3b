//! What every configuration section uses to check its values: ranges that name what was expected.
//! Sections are owned by their modules; `config` gathers them.

/// Checks a number of seconds is finite and in `[min, max]`; the message says what was expected.
pub fn check_seconds(value: f64, min: f64, max: f64) -> Result<(), String> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "expected a number of seconds between {min} and {max} (got {value})"
        ))
    }
}

/// Checks a whole number is in `[min, max]`.
pub fn check_count(value: u64, min: u64, max: u64) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "expected a whole number between {min} and {max} (got {value})"
        ))
    }
}
