//! QR codes of share links: Unicode half-block lines for a terminal (the CLI's
//! `server user show` and the console) and a private PNG file (`--png FILE`).
//!
//! Colours. The QR standard wants dark modules on a light background, and most
//! phone scanners do not read the inverse. Terminals draw glyphs in the
//! foreground colour, which on the usual dark-background terminal is light, so
//! [`terminal_lines`] puts ink on the **light** modules (and the quiet zone) and
//! leaves the dark modules as background: a dark terminal then shows dark on
//! light. On a light-background terminal the code appears inverted; draw the
//! lines light-on-dark explicitly there (the console does, with its own style)
//! or use the PNG, which is always black on white.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use qrcode::{Color, EcLevel, QrCode, types::QrError};

/// Light modules around the code in terminal output. The standard asks for 4;
/// 2 keep the code small on an 80-column terminal and scan reliably because
/// the terminal's own background adds margin beyond the drawn border.
pub const TERMINAL_QUIET_ZONE: usize = 2;
/// Light modules around the code in a PNG: the standard's 4.
pub const PNG_QUIET_ZONE: usize = 4;
/// Largest pixels-per-module for [`write_png`] (a version-40 code is then
/// 5,952 px wide, still a small file).
pub const MAX_PNG_SCALE: u32 = 32;

/// Error correction M (15%): the usual choice for a screen or a print-out.
const EC_LEVEL: EcLevel = EcLevel::M;
/// Bytes a version-40 code holds at level M in byte mode.
const MAX_BYTES: usize = 2331;

/// The code as a square grid of modules with a light quiet zone around it.
struct Grid {
    modules: Vec<Color>,
    width: usize,
    quiet: usize,
}

impl Grid {
    fn new(text: &str, quiet: usize) -> Result<Grid, String> {
        let code =
            QrCode::with_error_correction_level(text.as_bytes(), EC_LEVEL).map_err(
                |e| match e {
                    QrError::DataTooLong => format!(
                        "the text is too long for a QR code ({} bytes; at most {MAX_BYTES})",
                        text.len()
                    ),
                    other => format!("cannot make a QR code: {other}"),
                },
            )?;
        Ok(Grid {
            width: code.width(),
            modules: code.into_colors(),
            quiet,
        })
    }

    /// Side length including the quiet zone.
    fn side(&self) -> usize {
        self.width + 2 * self.quiet
    }

    /// Whether the module at (x, y), quiet zone included, is dark.
    fn dark(&self, x: usize, y: usize) -> bool {
        let (Some(cx), Some(cy)) = (x.checked_sub(self.quiet), y.checked_sub(self.quiet)) else {
            return false;
        };
        cx < self.width && cy < self.width && self.modules[cy * self.width + cx] == Color::Dark
    }
}

/// `text` as a QR code in lines of Unicode half blocks, two module rows per
/// line, with a [`TERMINAL_QUIET_ZONE`]: (modules + 4) columns and
/// ⌈(modules + 4) / 2⌉ lines. Ink marks light modules (see the module doc).
pub fn terminal_lines(text: &str) -> Result<Vec<String>, String> {
    let grid = Grid::new(text, TERMINAL_QUIET_ZONE)?;
    let side = grid.side();
    let lines = (0..side)
        .step_by(2)
        .map(|y| {
            (0..side)
                .map(|x| {
                    let top = !grid.dark(x, y);
                    // Below the last row: the terminal's background, no ink.
                    let bottom = y + 1 < side && !grid.dark(x, y + 1);
                    match (top, bottom) {
                        (true, true) => '█',
                        (true, false) => '▀',
                        (false, true) => '▄',
                        (false, false) => ' ',
                    }
                })
                .collect()
        })
        .collect();
    Ok(lines)
}

/// Writes `text` as a black-on-white PNG (8-bit grey, `scale` pixels per
/// module, [`PNG_QUIET_ZONE`]) to `path`, mode 0600 because a share link is a
/// credential: a temp file in the same directory, fsynced, renamed over `path`
/// (an existing file is replaced, its mode not kept).
pub fn write_png(text: &str, path: &Path, scale: u32) -> Result<(), String> {
    if !(1..=MAX_PNG_SCALE).contains(&scale) {
        return Err(format!(
            "the PNG scale must be 1..={MAX_PNG_SCALE} pixels per module, not {scale}"
        ));
    }
    let grid = Grid::new(text, PNG_QUIET_ZONE)?;
    let bytes = encode_png(&grid, scale)
        .map_err(|e| format!("cannot encode the PNG for {}: {e}", path.display()))?;
    write_private(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn encode_png(grid: &Grid, scale: u32) -> Result<Vec<u8>, png::EncodingError> {
    let scale = scale as usize;
    let px = grid.side() * scale;
    let mut pixels = Vec::with_capacity(px * px);
    for y in 0..grid.side() {
        let row: Vec<u8> = (0..grid.side())
            .flat_map(|x| {
                let v = if grid.dark(x, y) { 0u8 } else { 255u8 };
                std::iter::repeat_n(v, scale)
            })
            .collect();
        for _ in 0..scale {
            pixels.extend_from_slice(&row);
        }
    }
    // At most (177 + 8) * MAX_PNG_SCALE pixels: far inside u32.
    let side = px as u32;
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, side, side);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

/// Temp file (created 0600, never wider) + fsync + rename + directory fsync.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?
        .to_string_lossy();
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{seq}", std::process::id()));
    let result = (|| {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            opts.mode(0o600);
            let f = opts.open(&tmp)?;
            // Exactly 0600 whatever the umask.
            f.set_permissions(fs::Permissions::from_mode(0o600))?;
            write_and_sync(f, bytes)?;
        }
        #[cfg(not(unix))]
        write_and_sync(opts.open(&tmp)?, bytes)?;
        fs::rename(&tmp, path)?;
        // The rename is durable once the directory is synced (Unix only).
        #[cfg(unix)]
        fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_and_sync(mut f: fs::File, bytes: &[u8]) -> std::io::Result<()> {
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = "trojan://0f8fad5b-d9cb-469f-a165-70867728950e@vpn.example.com:58443?allowInsecure=1&pinnedPeerCertSha256=5b2a7f&security=tls&sni=vpn.example.com&type=tcp#alice@xp2p.local";

    fn modules(text: &str) -> (usize, Vec<Color>) {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EC_LEVEL).unwrap();
        (code.width(), code.into_colors())
    }

    #[test]
    fn qr_terminal_lines_follow_the_module_count() {
        for text in ["x", LINK, &"a".repeat(600)] {
            let (n, colors) = modules(text);
            let lines = terminal_lines(text).unwrap();
            let side = n + 2 * TERMINAL_QUIET_ZONE;
            assert_eq!(lines.len(), side.div_ceil(2), "{n} modules");
            assert!(lines.iter().all(|l| l.chars().count() == side));
            // Read the half blocks back (ink = light) and compare with the
            // encoder's modules: orientation, inversion and quiet zone.
            let mut dark = vec![vec![false; side]; side];
            for (i, line) in lines.iter().enumerate() {
                for (x, c) in line.chars().enumerate() {
                    let (top_ink, bottom_ink) = match c {
                        '█' => (true, true),
                        '▀' => (true, false),
                        '▄' => (false, true),
                        ' ' => (false, false),
                        other => panic!("unexpected {other:?}"),
                    };
                    dark[2 * i][x] = !top_ink;
                    if 2 * i + 1 < side {
                        dark[2 * i + 1][x] = !bottom_ink;
                    } else {
                        assert!(!bottom_ink, "ink below the last row");
                    }
                }
            }
            let q = TERMINAL_QUIET_ZONE;
            for (y, row) in dark.iter().enumerate() {
                for (x, &d) in row.iter().enumerate() {
                    let inside = (q..q + n).contains(&x) && (q..q + n).contains(&y);
                    let want = inside && colors[(y - q) * n + (x - q)] == Color::Dark;
                    assert_eq!(d, want, "module ({x},{y}) of {n}");
                }
            }
            // The finder pattern's corner is dark: no ink there.
            assert_eq!(lines[q / 2].chars().nth(q), Some(' '));
        }
        // A longer text needs a larger version.
        assert!(terminal_lines(LINK).unwrap().len() > terminal_lines("x").unwrap().len());
    }

    #[test]
    fn qr_too_long_is_one_error_line() {
        let text = "a".repeat(MAX_BYTES + 1);
        let e = terminal_lines(&text).unwrap_err();
        assert!(e.contains("too long") && e.contains("2332 bytes"), "{e}");
        assert!(!e.contains('\n'));
        assert!(terminal_lines(&"a".repeat(MAX_BYTES)).is_ok());
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("long.png");
        assert!(write_png(&text, &p, 4).unwrap_err().contains("too long"));
        assert!(!p.exists());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }

    fn read_png(path: &Path) -> (png::OutputInfo, Vec<u8>) {
        let f = std::io::BufReader::new(fs::File::open(path).unwrap());
        let mut reader = png::Decoder::new(f).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    #[test]
    fn qr_png_has_the_expected_size_and_is_private() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("alice.png");
        // An existing world-readable file is replaced by a private one.
        fs::write(&p, b"old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        }
        let scale = 6;
        write_png(LINK, &p, scale).unwrap();
        let bytes = fs::read(&p).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let (n, colors) = modules(LINK);
        let side = (n + 2 * PNG_QUIET_ZONE) * scale as usize;
        let (info, pixels) = read_png(&p);
        assert_eq!((info.width as usize, info.height as usize), (side, side));
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        // Corner of the quiet zone light, first module (finder) dark, and the
        // last module of the first row as the encoder says.
        let at = |x: usize, y: usize| pixels[y * side + x];
        assert_eq!(at(0, 0), 255);
        let m0 = PNG_QUIET_ZONE * scale as usize;
        assert_eq!(at(m0, m0), 0);
        assert_eq!(at(m0 + scale as usize - 1, m0 + scale as usize - 1), 0);
        let last = m0 + (n - 1) * scale as usize;
        assert_eq!(at(last, m0), 0);
        let mid = m0 + (n / 2) * scale as usize;
        let want = if colors[(n / 2) * n + n / 2] == Color::Dark {
            0
        } else {
            255
        };
        assert_eq!(at(mid, mid), want);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // Only the target is left: no temp file.
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("alice.png")]);
    }

    #[test]
    fn qr_png_bad_scale_and_missing_dir_name_the_problem() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.png");
        for scale in [0, MAX_PNG_SCALE + 1] {
            let e = write_png(LINK, &p, scale).unwrap_err();
            assert!(e.contains("scale"), "{e}");
        }
        assert!(write_png(LINK, &p, MAX_PNG_SCALE).is_ok());
        let missing = d.path().join("no-such-dir").join("x.png");
        let e = write_png(LINK, &missing, 4).unwrap_err();
        assert!(
            e.starts_with("cannot write") && e.contains("no-such-dir"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
