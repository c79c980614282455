//! Id formats that more than one room checks: input validates ids in cells and flags, the
//! senders file names MsgFlash instances; neither should depend on the other for it.

/// Whether `s` is a UUID in its usual text form (8-4-4-4-12 hex digits), as MsgFlash writes
/// its instance and contact ids.
pub(crate) fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_8_4_4_4_12_hex_form_is_a_uuid() {
        assert!(super::is_uuid("3f6a1c2e-8b7d-4e5f-9a0b-1c2d3e4f5a6b"));
        for not in [
            "",
            "3f6a1c2e8b7d4e5f9a0b1c2d3e4f5a6b",
            "3f6a1c2e-8b7d-4e5f-9a0b-1c2d3e4f5a6",
            "3f6a1c2e-8b7d-4e5f-9a0b-1c2d3e4f5a6g",
            "3f6a1c2e-8b7d-4e5f-9a0b-1c2d-3e4f5a6b",
        ] {
            assert!(!super::is_uuid(not), "{not}");
        }
    }
}
