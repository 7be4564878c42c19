//! Which devices a run uses: all by default, or a list such as `0,2` from a flag or the
//! `RIPTIDE_DEVICES` environment variable.

use crate::error::{Error, Result};

/// Environment variable listing the devices to use (`0,2`, or `all`).
pub const DEVICES_ENV: &str = "RIPTIDE_DEVICES";

/// A validated selection of device ordinals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceList {
    /// Every device the backend has.
    All,
    /// These ordinals, in this order, each once.
    Only(Vec<usize>),
}

impl DeviceList {
    /// Parses `all` or a comma-separated list of distinct ordinals.
    pub fn parse(text: &str) -> Result<DeviceList> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("all") {
            return Ok(DeviceList::All);
        }
        if t.is_empty() {
            return Err(Error::InvalidArgument(
                "the device list is empty; give ordinals such as 0,2 or `all`".into(),
            ));
        }
        let mut ordinals = Vec::new();
        for part in t.split(',') {
            let p = part.trim();
            let ordinal: usize = p.parse().map_err(|_| {
                Error::InvalidArgument(format!(
                    "{p:?} in device list {text:?} is not a device ordinal (0, 1, ...)"
                ))
            })?;
            if ordinals.contains(&ordinal) {
                return Err(Error::InvalidArgument(format!(
                    "device {ordinal} appears twice in device list {text:?}"
                )));
            }
            ordinals.push(ordinal);
        }
        Ok(DeviceList::Only(ordinals))
    }

    /// The list named by [`DEVICES_ENV`], or `All` when it is unset or blank.
    pub fn from_env() -> Result<DeviceList> {
        match std::env::var(DEVICES_ENV) {
            Ok(v) if !v.trim().is_empty() => DeviceList::parse(&v)
                .map_err(|e| Error::InvalidArgument(format!("{DEVICES_ENV}: {e}"))),
            _ => Ok(DeviceList::All),
        }
    }

    /// The ordinals, or `None` for all (the form `open_devices` takes).
    pub fn ordinals(&self) -> Option<&[usize]> {
        match self {
            DeviceList::All => None,
            DeviceList::Only(list) => Some(list),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_bad_lists_are_named() {
        assert_eq!(DeviceList::parse("all").unwrap(), DeviceList::All);
        assert_eq!(
            DeviceList::parse(" 0, 2 ").unwrap(),
            DeviceList::Only(vec![0, 2])
        );
        let dup = DeviceList::parse("1,1").unwrap_err().to_string();
        assert!(dup.contains("appears twice"), "{dup}");
        let bad = DeviceList::parse("0,x").unwrap_err().to_string();
        assert!(bad.contains("\"x\""), "{bad}");
        assert!(DeviceList::parse("").is_err());
        assert!(
            DeviceList::parse("0,").is_err(),
            "a trailing comma is an empty entry"
        );
        assert!(DeviceList::parse("-1").is_err());
    }
}
