//! Private-key PEM forms: PKCS#8 (`PRIVATE KEY`) as is, and the two legacy
//! forms operators' tools still write — PKCS#1 (`RSA PRIVATE KEY`) and SEC1
//! (`EC PRIVATE KEY`) — rewrapped into PKCS#8 DER so one parser (rcgen/ring)
//! reads all three.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// DER of `rsaEncryption` (1.2.840.113549.1.1.1).
const OID_RSA_ENCRYPTION: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
/// DER of `id-ecPublicKey` (1.2.840.10045.2.1).
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const DER_NULL: &[u8] = &[0x05, 0x00];

/// The first private-key block of a PEM text as PKCS#8 DER.
pub(super) fn pkcs8_der(key_pem: &str) -> Result<Vec<u8>, String> {
    let (label, der) = first_key_block(key_pem)?;
    match label.as_str() {
        "PRIVATE KEY" => Ok(der),
        "RSA PRIVATE KEY" => Ok(wrap_pkcs8(&[OID_RSA_ENCRYPTION, DER_NULL].concat(), &der)),
        "EC PRIVATE KEY" => {
            let curve = sec1_curve_oid(&der).ok_or(
                "the EC PRIVATE KEY names no curve; convert it with \
                 `openssl pkcs8 -topk8 -nocrypt` and try again",
            )?;
            Ok(wrap_pkcs8(&[OID_EC_PUBLIC_KEY, curve].concat(), &der))
        }
        "ENCRYPTED PRIVATE KEY" => Err(
            "the private key is encrypted; give the plain key (openssl pkey -in KEY -out PLAIN)"
                .into(),
        ),
        other => Err(format!("unsupported private key type \"{other}\"")),
    }
}

/// Label and decoded body of the first `-----BEGIN … PRIVATE KEY-----` block.
fn first_key_block(pem: &str) -> Result<(String, Vec<u8>), String> {
    let mut label: Option<String> = None;
    let mut b64 = String::new();
    for line in pem.lines() {
        let line = line.trim();
        match &label {
            None => {
                if let Some(l) = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|r| r.strip_suffix("-----"))
                    .filter(|l| l.ends_with("PRIVATE KEY"))
                {
                    label = Some(l.to_string());
                }
            }
            Some(l) => {
                if line == format!("-----END {l}-----") {
                    let der = STANDARD
                        .decode(&b64)
                        .map_err(|e| format!("the {l} block is not valid base64: {e}"))?;
                    return Ok((l.clone(), der));
                }
                if line.contains(':') {
                    // Legacy encryption headers (Proc-Type, DEK-Info).
                    return Err("the private key is encrypted; give the plain key \
                                (openssl pkey -in KEY -out PLAIN)"
                        .into());
                }
                b64.push_str(line);
            }
        }
    }
    Err(match label {
        Some(l) => format!("the {l} block has no END line"),
        None => "no PEM private key block (-----BEGIN PRIVATE KEY-----) found".into(),
    })
}

/// PrivateKeyInfo ::= SEQUENCE { version 0, AlgorithmIdentifier, OCTET STRING key }.
fn wrap_pkcs8(alg_fields: &[u8], key: &[u8]) -> Vec<u8> {
    let body = [
        &[0x02, 0x01, 0x00][..],
        &tlv(0x30, alg_fields),
        &tlv(0x04, key),
    ]
    .concat();
    tlv(0x30, &body)
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Reads one TLV: (tag, content, rest).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > std::mem::size_of::<usize>() || rest.len() < n {
            return None;
        }
        let (len_bytes, r) = rest.split_at(n);
        rest = r;
        len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((tag, content, rest))
}

/// The namedCurve OID (a full TLV) in a SEC1 ECPrivateKey's `[0] parameters`.
fn sec1_curve_oid(der: &[u8]) -> Option<&[u8]> {
    let (tag, mut fields, _) = read_tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    while !fields.is_empty() {
        let (tag, content, rest) = read_tlv(fields)?;
        if tag == 0xa0 {
            let (oid_tag, _, trailing) = read_tlv(content)?;
            return (oid_tag == 0x06 && trailing.is_empty()).then_some(content);
        }
        fields = rest;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_long_lengths_round_trip() {
        for n in [0usize, 5, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; n];
            let enc = tlv(0x04, &content);
            let (tag, got, rest) = read_tlv(&enc).unwrap();
            assert_eq!((tag, got.len(), rest.len()), (0x04, n, 0));
        }
        assert!(read_tlv(&[0x30, 0x05, 1]).is_none());
        assert!(read_tlv(&[0x30, 0x80]).is_none());
    }

    /// DER of namedCurve prime256v1 (1.2.840.10045.3.1.7).
    const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

    /// The SEC1 ECPrivateKey inside a PKCS#8 P-256 key, with `[0] parameters`
    /// set as `openssl ecparam -genkey` writes it.
    fn sec1_from_pkcs8(pkcs8: &[u8], with_curve: bool) -> Vec<u8> {
        let (_, info, _) = read_tlv(pkcs8).unwrap();
        let (_, _, rest) = read_tlv(info).unwrap(); // version
        let (_, _, rest) = read_tlv(rest).unwrap(); // algorithm
        let (tag, inner, _) = read_tlv(rest).unwrap();
        assert_eq!(tag, 0x04);
        let (_, mut fields, _) = read_tlv(inner).unwrap();
        let mut out = Vec::new();
        while !fields.is_empty() {
            let (tag, content, rest) = read_tlv(fields).unwrap();
            if tag == 0xa1 && with_curve {
                out.extend(tlv(0xa0, OID_P256));
            }
            if tag != 0xa0 || with_curve {
                out.extend(tlv(tag, content));
            }
            fields = rest;
        }
        tlv(0x30, &out)
    }

    fn pem(label: &str, der: &[u8]) -> String {
        let b64 = STANDARD.encode(der);
        let body: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            body.join("\n")
        )
    }

    #[test]
    fn sec1_ec_key_reads_as_the_same_key() {
        let key = rcgen::KeyPair::generate().unwrap();
        let sec1 = pem(
            "EC PRIVATE KEY",
            &sec1_from_pkcs8(key.serialized_der(), true),
        );
        let der = pkcs8_der(&sec1).unwrap();
        let back = rcgen::KeyPair::try_from(der.as_slice()).unwrap();
        assert_eq!(back.public_key_der(), key.public_key_der());
        // Without the curve there is nothing to wrap it with.
        let bare = pem(
            "EC PRIVATE KEY",
            &sec1_from_pkcs8(key.serialized_der(), false),
        );
        assert!(pkcs8_der(&bare).unwrap_err().contains("names no curve"));
        // PKCS#8 passes through untouched.
        assert_eq!(
            pkcs8_der(&key.serialize_pem()).unwrap(),
            key.serialized_der()
        );
    }

    #[test]
    fn missing_and_encrypted_blocks_are_named() {
        assert!(
            pkcs8_der("junk")
                .unwrap_err()
                .contains("no PEM private key")
        );
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(pkcs8_der(enc).unwrap_err().contains("encrypted"));
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(pkcs8_der(legacy).unwrap_err().contains("encrypted"));
        let open = "-----BEGIN PRIVATE KEY-----\nAAAA\n";
        assert!(pkcs8_der(open).unwrap_err().contains("no END line"));
    }
}
