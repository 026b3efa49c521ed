//! Network sysctls that decide how ports behave, as the kernel prints them
//! under `/proc/sys`. Reading them is the `System` handle's job
//! (`crate::inventory::system::System::sysctl`); this module parses.

/// Parses `ip_local_port_range` (`32768\t60999`).
pub fn parse_range(text: &str) -> Option<(u16, u16)> {
    let mut parts = text.split_ascii_whitespace().map(|p| p.parse::<u16>().ok());
    Some((parts.next()??, parts.next()??))
}
