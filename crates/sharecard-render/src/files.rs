//! Reading a template set's files (`--templates-dir`): only its own
//! folder, only regular files, each bounded, never blocking. The one
//! place templates and assets are read from disk.

use std::path::Path;

/// One file of the template set in `root` (canonical), at most `max`
/// bytes, or why not.
pub(crate) fn read_set_file(root: &Path, path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let link = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if link.file_type().is_symlink() {
        let target = path
            .canonicalize()
            .map_err(|e| format!("is a symlink that cannot be followed ({e})"))?;
        if !target.starts_with(root) {
            return Err("is a symlink that leaves the templates directory; \
                        templates read only their own folder"
                .to_owned());
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Opening a FIFO for reading blocks until a writer comes: never wait.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(|e| e.to_string())?;
    // Checked on the opened file, so it is the one read.
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("is not a regular file; templates are plain files".to_owned());
    }
    if meta.len() > max {
        return Err(format!("is {} bytes; at most {max} are read", meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max {
        return Err(format!("has more than {max} bytes"));
    }
    Ok(bytes)
}
