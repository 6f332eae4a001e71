//! A workbook is a zip archive (xlsx, xlsm, xlsb, ods): a few kilobytes can unpack to
//! gigabytes (a zip bomb) and exhaust the memory of `ferry apply`. Before a workbook is
//! parsed, its parts are unpacked once into nothing, counting the bytes actually
//! produced (headers may lie), and a workbook over the limits is refused. Value and
//! user tables are a few thousand rows at most: the limits leave ample room.

use std::io::{Read, Seek, SeekFrom};

/// Most bytes all parts of a workbook may unpack to.
pub const MAX_UNPACKED_BYTES: u64 = 64 << 20;
/// Most bytes a workbook file may have.
pub const MAX_WORKBOOK_BYTES: u64 = 32 << 20;
/// Most parts (zip entries) a workbook may have.
const MAX_PARTS: usize = 10_000;

/// `Err(reason)` when the workbook is over a limit. Data that is not a zip archive (a
/// legacy .xls) is left to the workbook reader.
pub(crate) fn check<R: Read + Seek>(mut reader: R) -> Result<(), String> {
    check_with(&mut reader, MAX_WORKBOOK_BYTES, MAX_UNPACKED_BYTES)
}

fn check_with<R: Read + Seek>(reader: &mut R, max_file: u64, max_unpacked: u64) -> Result<(), String> {
    let size = reader.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    if size > max_file {
        return Err(format!("the file has {size} bytes; a workbook of tables may have at most {max_file}"));
    }
    reader.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let mut magic = [0u8; 4];
    let is_zip = reader.read_exact(&mut magic).is_ok() && magic == *b"PK\x03\x04";
    reader.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    if !is_zip {
        return Ok(());
    }
    // A zip the reader cannot open is reported by the workbook reader itself.
    let Ok(mut zip) = zip::ZipArchive::new(&mut *reader) else { return Ok(()) };
    if zip.len() > MAX_PARTS {
        return Err(format!("the workbook has {} parts; at most {MAX_PARTS} are read", zip.len()));
    }
    let too_big = || {
        format!(
            "the workbook unpacks to more than {} MiB (a zip bomb?); a table needs far less: \
             check the file, or save only the sheets Ferry reads",
            max_unpacked >> 20
        )
    };
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let Ok(mut part) = zip.by_index(i) else { continue };
        let budget = max_unpacked - total;
        // One byte past the budget tells "at the limit" from "over it".
        let n = std::io::copy(&mut (&mut part).take(budget + 1), &mut std::io::sink()).unwrap_or(0);
        if n > budget {
            return Err(too_big());
        }
        total += n;
    }
    reader.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    /// A valid zip with one part of `unpacked` zero bytes, deflated.
    pub(crate) fn zeros_zip(unpacked: u64) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(1))
            .large_file(unpacked >= u32::MAX as u64);
        w.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
        let chunk = vec![0u8; 1 << 20];
        let mut left = unpacked;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            w.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn parts_are_counted_as_unpacked_not_as_declared() {
        let small = zeros_zip(1 << 20);
        assert!(check_with(&mut Cursor::new(&small), 1 << 20, 1 << 20).is_ok(), "exactly at the limit");
        let e = check_with(&mut Cursor::new(&small), 1 << 20, (1 << 20) - 1).unwrap_err();
        assert!(e.contains("zip bomb"), "{e}");
        let e = check_with(&mut Cursor::new(&small), 100, 1 << 30).unwrap_err();
        assert!(e.contains("at most 100"), "{e}");
        assert!(check_with(&mut Cursor::new(b"not a zip"), 100, 100).is_ok(), "left to the reader");
    }
}
