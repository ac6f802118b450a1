//! Malware triage of an uploaded file: what a SOC analyst would write down
//! before deciding whether a sample matters, turned into one submission of
//! kind MALWARE.
//!
//! * MD5, SHA-1, SHA-256 and TLSH (the locality-sensitive hash, via the
//!   `tlsh2` crate; files too small or too uniform have none);
//! * the file type from its magic bytes (never from its name);
//! * for PE and ELF files (via `goblin`): imported libraries and functions
//!   and the sections with their sizes and entropy, into the description;
//! * URLs and IPv4 addresses found in the file's ASCII and UTF-16LE
//!   strings (role C2; internal addresses dropped).
//!
//! The sample itself is not stored or forwarded: only these facts leave
//! this function. Parsing a hostile binary must not take the process down,
//! so the executable parser runs behind `catch_unwind` as a second line of
//! defence (goblin returns errors for malformed input; this guards against
//! a bug in it).

use cisp_model::{ObservableKind, ObservableRole, SubmissionKind};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::collect::Collector;
use crate::text::{self, excerpt};
use crate::{Converted, Envelope, IntakeError};

/// Strings scanned per sample, and indicators taken from them.
const MAX_STRINGS_BYTES: usize = 4 << 20;
const MAX_STRING_INDICATORS: usize = 100;
/// Imports and sections listed in the description.
const MAX_IMPORTS: usize = 60;
const MAX_SECTIONS: usize = 40;

/// The three cryptographic digests of a file, as lower-case hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hashes {
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Hashes {
    pub fn of(data: &[u8]) -> Hashes {
        Hashes {
            md5: hex(&Md5::digest(data)),
            sha1: hex(&Sha1::digest(data)),
            sha256: hex(&Sha256::digest(data)),
        }
    }
}

/// The TLSH digest (`T1` + 70 hex digits), if the data has enough bytes
/// and variety for one.
pub fn tlsh(data: &[u8]) -> Option<String> {
    let t = tlsh2::TlshDefaultBuilder::build_from(data)?;
    String::from_utf8(t.hash().to_vec()).ok()
}

/// File types recognised from magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    Pe,
    Elf,
    MachO,
    Pdf,
    /// ZIP, and what is built on it (OOXML, JAR, APK).
    Zip,
    /// OLE2 compound file (legacy Office, MSI).
    Ole2,
    Rtf,
    Gzip,
    Rar,
    SevenZip,
    Script,
    Html,
    Png,
    Jpeg,
    Gif,
    Unknown,
}

impl FileType {
    pub fn detect(data: &[u8]) -> FileType {
        let starts = |m: &[u8]| data.starts_with(m);
        if starts(b"MZ") {
            FileType::Pe
        } else if starts(b"\x7fELF") {
            FileType::Elf
        } else if starts(&[0xcf, 0xfa, 0xed, 0xfe])
            || starts(&[0xce, 0xfa, 0xed, 0xfe])
            || starts(&[0xca, 0xfe, 0xba, 0xbe])
        {
            FileType::MachO
        } else if starts(b"%PDF-") {
            FileType::Pdf
        } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
            FileType::Zip
        } else if starts(&[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]) {
            FileType::Ole2
        } else if starts(b"{\\rtf") {
            FileType::Rtf
        } else if starts(&[0x1f, 0x8b]) {
            FileType::Gzip
        } else if starts(b"Rar!\x1a\x07") {
            FileType::Rar
        } else if starts(&[0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]) {
            FileType::SevenZip
        } else if starts(b"#!") {
            FileType::Script
        } else if starts(b"\x89PNG\r\n\x1a\n") {
            FileType::Png
        } else if starts(&[0xff, 0xd8, 0xff]) {
            FileType::Jpeg
        } else if starts(b"GIF87a") || starts(b"GIF89a") {
            FileType::Gif
        } else {
            let head = String::from_utf8_lossy(&data[..data.len().min(512)]).to_ascii_lowercase();
            let head = head.trim_start();
            if head.starts_with("<!doctype html") || head.starts_with("<html") {
                FileType::Html
            } else {
                FileType::Unknown
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FileType::Pe => "PE executable (Windows)",
            FileType::Elf => "ELF executable (Linux/Unix)",
            FileType::MachO => "Mach-O executable (macOS)",
            FileType::Pdf => "PDF document",
            FileType::Zip => "ZIP archive (or OOXML/JAR/APK)",
            FileType::Ole2 => "OLE2 compound file (legacy Office/MSI)",
            FileType::Rtf => "RTF document",
            FileType::Gzip => "gzip archive",
            FileType::Rar => "RAR archive",
            FileType::SevenZip => "7-Zip archive",
            FileType::Script => "script (#!)",
            FileType::Html => "HTML document",
            FileType::Png => "PNG image",
            FileType::Jpeg => "JPEG image",
            FileType::Gif => "GIF image",
            FileType::Unknown => "unknown type",
        }
    }
}

/// Shannon entropy in bits per byte (0 to 8).
pub fn entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u64; 256];
    for b in data {
        counts[usize::from(*b)] += 1;
    }
    let n = data.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Printable runs of at least `min` characters, ASCII and UTF-16LE, joined
/// by newlines (for the text scanners).
pub fn strings(data: &[u8], min: usize) -> String {
    let data = &data[..data.len().min(MAX_STRINGS_BYTES)];
    let printable = |b: u8| (0x20..0x7f).contains(&b);
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= min {
            out.push_str(run);
            out.push('\n');
        }
        run.clear();
    };
    for &b in data {
        if printable(b) {
            run.push(b as char);
        } else {
            flush(&mut run, &mut out);
        }
    }
    flush(&mut run, &mut out);
    // UTF-16LE: printable byte followed by a zero byte.
    for start in [0usize, 1] {
        let mut i = start;
        while i + 1 < data.len() {
            let (lo, hi) = (data[i], data[i + 1]);
            if hi == 0 && printable(lo) {
                run.push(lo as char);
            } else {
                flush(&mut run, &mut out);
            }
            i += 2;
        }
        flush(&mut run, &mut out);
    }
    out
}

/// Imports and sections of a PE or ELF file, as description lines.
pub fn executable_facts(data: &[u8]) -> Result<Vec<String>, String> {
    let parsed = std::panic::catch_unwind(|| executable_facts_inner(data));
    parsed.unwrap_or_else(|_| Err("the executable parser failed on this file".into()))
}

fn executable_facts_inner(data: &[u8]) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    match FileType::detect(data) {
        FileType::Pe => {
            let pe = goblin::pe::PE::parse(data).map_err(|e| excerpt(&e.to_string()))?;
            lines.push(format!(
                "PE {}, {} sections, {} imports from {} libraries.",
                if pe.is_64 { "64-bit" } else { "32-bit" },
                pe.sections.len(),
                pe.imports.len(),
                pe.libraries.len()
            ));
            let imports: Vec<String> = pe
                .imports
                .iter()
                .take(MAX_IMPORTS)
                .map(|i| format!("{}!{}", i.dll, i.name))
                .collect();
            if !imports.is_empty() {
                lines.push(format!("Imports: {}.", imports.join(", ")));
            }
            for s in pe.sections.iter().take(MAX_SECTIONS) {
                let name = s.name().unwrap_or("?").to_owned();
                let start = s.pointer_to_raw_data as usize;
                let end = start
                    .saturating_add(s.size_of_raw_data as usize)
                    .min(data.len());
                let bytes = data.get(start.min(end)..end).unwrap_or(&[]);
                lines.push(format!(
                    "Section {}: {} bytes, entropy {:.2}.",
                    excerpt(&name),
                    s.size_of_raw_data,
                    entropy(bytes)
                ));
            }
        }
        FileType::Elf => {
            let elf = goblin::elf::Elf::parse(data).map_err(|e| excerpt(&e.to_string()))?;
            let imported: Vec<&str> = elf
                .dynsyms
                .iter()
                .filter(|s| s.is_import())
                .filter_map(|s| elf.dynstrtab.get_at(s.st_name))
                .filter(|n| !n.is_empty())
                .take(MAX_IMPORTS)
                .collect();
            lines.push(format!(
                "ELF {}, {} sections, libraries: {}.",
                if elf.is_64 { "64-bit" } else { "32-bit" },
                elf.section_headers.len(),
                if elf.libraries.is_empty() {
                    "none (static)".to_owned()
                } else {
                    elf.libraries.join(", ")
                }
            ));
            if !imported.is_empty() {
                lines.push(format!("Imports: {}.", imported.join(", ")));
            }
            for sh in elf.section_headers.iter().take(MAX_SECTIONS) {
                let name = elf.shdr_strtab.get_at(sh.sh_name).unwrap_or("?");
                if name.is_empty() {
                    continue;
                }
                let start = usize::try_from(sh.sh_offset).unwrap_or(usize::MAX);
                let len = usize::try_from(sh.sh_size).unwrap_or(0);
                let end = start.saturating_add(len).min(data.len());
                let bytes = data.get(start.min(end)..end).unwrap_or(&[]);
                lines.push(format!(
                    "Section {}: {} bytes, entropy {:.2}.",
                    excerpt(name),
                    sh.sh_size,
                    entropy(bytes)
                ));
            }
        }
        _ => {}
    }
    Ok(lines)
}

pub fn import(bytes: &[u8], envelope: &Envelope) -> Result<Converted, IntakeError> {
    if bytes.is_empty() {
        return Err(IntakeError::malformed("sample", "the file is empty"));
    }
    let mut c = Collector::new("sample");
    c.kind = Some(SubmissionKind::Malware);
    let hashes = Hashes::of(bytes);
    let file_type = FileType::detect(bytes);
    let payload = Some(ObservableRole::PayloadDelivery);
    c.observable(ObservableKind::Sha256, &hashes.sha256, payload, None);
    c.observable(ObservableKind::Sha1, &hashes.sha1, payload, None);
    c.observable(ObservableKind::Md5, &hashes.md5, payload, None);
    let fuzzy = tlsh(bytes);
    if let Some(t) = &fuzzy {
        c.observable(ObservableKind::Tlsh, t, payload, None);
    }
    if let Some(name) = &envelope.file_name {
        c.observable(ObservableKind::Filename, name, payload, None);
    }
    let mut lines = vec![format!(
        "Sample: {} bytes, {}, entropy {:.2}; SHA-256 {}, TLSH {}.",
        bytes.len(),
        file_type.name(),
        entropy(bytes),
        hashes.sha256,
        fuzzy
            .as_deref()
            .unwrap_or("none (too small or too uniform)")
    )];
    if matches!(file_type, FileType::Pe | FileType::Elf) {
        match executable_facts(bytes) {
            Ok(facts) => lines.extend(facts),
            Err(why) => {
                lines.push(format!("Executable headers unreadable: {why}."));
                c.skip(format!("{} headers: {why}", file_type.name()));
            }
        }
    }
    let s = strings(bytes, 6);
    let mut found = 0;
    for u in text::urls(&s, MAX_STRING_INDICATORS) {
        if c.observable(ObservableKind::Url, &u, Some(ObservableRole::C2), None) {
            found += 1;
        }
    }
    for ip in text::ipv4s(&s, MAX_STRING_INDICATORS) {
        if !text::is_internal(ip.into()) && c.ip(&ip.to_string(), Some(ObservableRole::C2), None) {
            found += 1;
        }
    }
    if found > 0 {
        lines.push(format!(
            "{found} URL(s) and IP address(es) found in the sample's strings."
        ));
    }
    c.title = Some(format!(
        "Malware sample {} ({})",
        envelope
            .file_name
            .as_deref()
            .map_or_else(|| hashes.sha256[..16].to_owned(), excerpt),
        file_type.name()
    ));
    c.description = lines;
    c.finish(envelope, SubmissionKind::Malware, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cisp_model::MemberId;

    fn env() -> Envelope {
        let mut e = Envelope::new(MemberId::parse("northbank").expect("id"), 1_763_546_400_000);
        e.file_name = Some("invoice.exe".into());
        e
    }

    #[test]
    fn known_digests() {
        let h = Hashes::of(b"abc");
        assert_eq!(h.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(h.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            h.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(tlsh(b"abc").is_none(), "too short for TLSH");
        let long: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let t = tlsh(&long).expect("tlsh");
        assert!(t.starts_with("T1") && t.len() == 72, "{t}");
    }

    #[test]
    fn magic_bytes_not_names() {
        assert_eq!(FileType::detect(b"MZ\x90\x00"), FileType::Pe);
        assert_eq!(FileType::detect(b"\x7fELF\x02"), FileType::Elf);
        assert_eq!(FileType::detect(b"%PDF-1.7"), FileType::Pdf);
        assert_eq!(FileType::detect(b"PK\x03\x04...."), FileType::Zip);
        assert_eq!(FileType::detect(b"  <!DOCTYPE html><html>"), FileType::Html);
        assert_eq!(FileType::detect(b"hello"), FileType::Unknown);
        assert!((entropy(&[0u8; 100]) - 0.0).abs() < 1e-9);
        assert!((entropy(&(0..=255u8).collect::<Vec<_>>()) - 8.0).abs() < 1e-9);
    }

    #[test]
    fn strings_give_c2_urls_and_ips_in_both_encodings() {
        let mut sample = b"\x00\x01garbage\x00http://c2.bad.example/gate.php\x00\x02".to_vec();
        for ch in "198.51.100.44".bytes() {
            sample.extend([ch, 0]);
        }
        sample.extend(b"\x00\x00192.168.1.1\x00");
        let c = import(&sample, &env()).expect("converts");
        let r = &c.record;
        let values = crate::test_values(&c);
        assert!(
            values.contains(&"http://c2.bad.example/gate.php"),
            "{values:?}"
        );
        assert!(values.contains(&"198.51.100.44"), "{values:?}");
        assert!(!values.contains(&"192.168.1.1"), "internal address dropped");
        assert!(values.contains(&"invoice.exe"));
        assert_eq!(r.kind, SubmissionKind::Malware);
        assert_eq!(r.observables[0].kind, ObservableKind::Sha256);
    }

    #[test]
    fn a_truncated_executable_is_described_not_fatal() {
        let mut fake = b"MZ".to_vec();
        fake.extend([0xffu8; 200]);
        let c = import(&fake, &env()).expect("still hashed");
        let d = c.record.description.unwrap_or_default();
        assert!(d.contains("Executable headers unreadable"), "{d}");
        assert!(import(b"", &env()).is_err());
    }

    #[test]
    fn the_test_binary_itself_parses_as_elf() {
        // This test's own executable is a real ELF file with imports.
        let exe = std::env::current_exe().expect("exe");
        let data = std::fs::read(exe).expect("read");
        let facts = executable_facts(&data).expect("parses");
        assert!(facts[0].starts_with("ELF 64-bit"), "{facts:?}");
        assert!(
            facts.iter().any(|l| l.starts_with("Section .text")),
            "{facts:?}"
        );
    }
}
