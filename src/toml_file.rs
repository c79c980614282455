//! A campaign or senders file read whole, with a size cap: both are a few settings in TOML.

use std::path::Path;

/// The most bytes a campaign or senders file may have: a few settings take a few hundred
/// bytes, so a larger file is not one (a CSV or a device named by mistake), and is refused
/// before it is read into memory.
const MAX_TOML: u64 = 1 << 20;

/// Reads a campaign or senders file, refusing one over [`MAX_TOML`] bytes without reading
/// more than that, and one that is not a plain file without opening it (a pipe would wait
/// for a writer forever).
pub(crate) fn read(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    crate::plain_file::check(path, "save the settings to a file and give that")
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_TOML + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_TOML {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it is larger than {} MiB, which no settings file is: check that this is the right file",
                MAX_TOML >> 20
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it is not UTF-8 text: save it as UTF-8",
        )
    })
}
