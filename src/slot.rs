//! A slot: blue or green, one of a project's two fixed ports, and how base ports are picked (pure).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The two fixed ports of a project: blue on `base_port`, green on `base_port + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    Blue,
    Green,
}

impl Slot {
    pub(crate) fn other(self) -> Slot {
        match self {
            Slot::Blue => Slot::Green,
            Slot::Green => Slot::Blue,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Slot::Blue => "blue",
            Slot::Green => "green",
        }
    }
    pub(crate) fn port(self, base_port: u16) -> u16 {
        match self {
            Slot::Blue => base_port,
            Slot::Green => base_port.saturating_add(1),
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Slot> {
        match s {
            "blue" => Some(Slot::Blue),
            "green" => Some(Slot::Green),
            _ => None,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lowest and highest base ports that are picked automatically.
pub(crate) const AUTO_PORTS: (u16, u16) = (20000, 29998);

/// Two port pairs overlap when either port of one is a port of the other.
pub(crate) fn ports_overlap(a: u16, b: u16) -> bool {
    a.abs_diff(b) <= 1
}

/// The lowest even base port in [`AUTO_PORTS`] whose pair overlaps no used pair and is free.
pub(crate) fn pick_base_port(used: &[u16], is_free: impl Fn(u16) -> bool) -> Option<u16> {
    (AUTO_PORTS.0..=AUTO_PORTS.1)
        .step_by(2)
        .find(|p| !used.iter().any(|u| ports_overlap(*u, *p)) && is_free(*p) && is_free(p + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_ports_are_picked_as_free_non_overlapping_pairs() {
        assert_eq!(pick_base_port(&[], |_| true), Some(20000));
        assert_eq!(pick_base_port(&[20000], |_| true), Some(20002));
        assert_eq!(pick_base_port(&[20001], |_| true), Some(20004));
        assert_eq!(pick_base_port(&[], |p| p != 20001), Some(20002));
        assert_eq!(pick_base_port(&[], |_| false), None);
        assert!(ports_overlap(20000, 20001) && !ports_overlap(20000, 20002));
    }

    #[test]
    fn slots_map_to_their_ports() {
        assert_eq!(Slot::Blue.port(20000), 20000);
        assert_eq!(Slot::Green.port(20000), 20001);
        assert_eq!(Slot::Blue.other(), Slot::Green);
        assert_eq!(Slot::parse("green"), Some(Slot::Green));
    }
}
