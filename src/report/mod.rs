//! The daily findings report (being built).

use serde::{Deserialize, Serialize};

/// `[report]` settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportConfig {}

impl ReportConfig {
    /// Validates the settings; errors are (key under `report.`, what was expected).
    pub fn validate(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}
