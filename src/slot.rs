//! A slot: blue or green, its fixed ports (one per replica), and how base ports are picked (pure).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The two halves of a project's ports: replica n of blue listens on `base_port + 2(n-1)`, of green on the
/// port after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// The port of replica 1 (the only one of a single-replica project).
    pub(crate) fn port(self, base_port: u16) -> u16 {
        self.replica_port(base_port, 1)
    }

    /// The port of replica `n` (1-based).
    pub(crate) fn replica_port(self, base_port: u16, n: u16) -> u16 {
        let offset = 2 * n.saturating_sub(1) + u16::from(self == Slot::Green);
        base_port.saturating_add(offset)
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

/// The ports a project holds: `base_port` and the `2 × replicas − 1` after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortRange {
    pub(crate) base: u16,
    pub(crate) replicas: u16,
}

impl PortRange {
    pub(crate) fn last(self) -> u32 {
        u32::from(self.base) + 2 * u32::from(self.replicas.max(1)) - 1
    }

    pub(crate) fn overlaps(self, other: PortRange) -> bool {
        u32::from(self.base) <= other.last() && u32::from(other.base) <= self.last()
    }

    fn ports(self) -> impl Iterator<Item = u32> {
        u32::from(self.base)..=self.last()
    }
}

/// The lowest even base port in [`AUTO_PORTS`] whose range for `replicas` overlaps no used range and is free.
pub(crate) fn pick_base_port(used: &[PortRange], replicas: u16, is_free: impl Fn(u16) -> bool) -> Option<u16> {
    (AUTO_PORTS.0..=AUTO_PORTS.1).step_by(2).find(|&base| {
        let range = PortRange { base, replicas };
        range.last() <= u32::from(AUTO_PORTS.1) + 1
            && !used.iter().any(|u| u.overlaps(range))
            && range.ports().all(|p| u16::try_from(p).is_ok_and(&is_free))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_ports_are_picked_as_free_non_overlapping_ranges() {
        let one = |base| PortRange { base, replicas: 1 };
        assert_eq!(pick_base_port(&[], 1, |_| true), Some(20000));
        assert_eq!(pick_base_port(&[one(20000)], 1, |_| true), Some(20002));
        assert_eq!(pick_base_port(&[one(20001)], 1, |_| true), Some(20004));
        assert_eq!(pick_base_port(&[], 1, |p| p != 20001), Some(20002));
        assert_eq!(pick_base_port(&[], 1, |_| false), None);
        assert!(one(20000).overlaps(one(20001)) && !one(20000).overlaps(one(20002)));
        // Four replicas hold eight ports: 20000–20007.
        let four = PortRange { base: 20000, replicas: 4 };
        assert_eq!(four.last(), 20007);
        assert!(four.overlaps(one(20006)) && !four.overlaps(one(20008)));
        assert_eq!(pick_base_port(&[one(20004)], 4, |_| true), Some(20006));
        assert_eq!(pick_base_port(&[four], 1, |_| true), Some(20008));
        assert_eq!(pick_base_port(&[], 2, |p| p != 20003), Some(20004));
    }

    #[test]
    fn slots_map_to_their_ports() {
        assert_eq!(Slot::Blue.port(20000), 20000);
        assert_eq!(Slot::Green.port(20000), 20001);
        assert_eq!(Slot::Blue.replica_port(20000, 3), 20004);
        assert_eq!(Slot::Green.replica_port(20000, 3), 20005);
        assert_eq!(Slot::Blue.other(), Slot::Green);
        assert_eq!(Slot::parse("green"), Some(Slot::Green));
    }
}
