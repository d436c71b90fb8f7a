//! ISO 3166-1 alpha-2 country codes (the 249 officially assigned ones) and the postal code
//! shapes of the countries whose shape is simple to state.

/// Every officially assigned ISO 3166-1 alpha-2 code, sorted.
pub const COUNTRIES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Countries without a postal code system (the postal code is optional there).
const NO_POSTAL_CODES: &[&str] = &[
    "AE", "AG", "AO", "AW", "BF", "BI", "BJ", "BO", "BS", "BW", "BZ", "CD", "CF", "CG", "CI", "CK",
    "CM", "CW", "DJ", "DM", "ER", "FJ", "GA", "GD", "GH", "GM", "GQ", "GY", "HK", "KI", "KM", "KN",
    "KP", "LY", "ML", "MO", "MR", "MW", "NR", "NU", "QA", "RW", "SB", "SC", "SL", "SR", "SS", "ST",
    "SX", "SY", "TD", "TF", "TG", "TK", "TL", "TO", "TV", "UG", "VU", "YE", "ZW",
];

pub fn is_country(code: &str) -> bool {
    COUNTRIES.binary_search(&code).is_ok()
}

pub fn has_no_postal_codes(code: &str) -> bool {
    NO_POSTAL_CODES.contains(&code)
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn alpha(b: u8) -> bool {
    b.is_ascii_uppercase()
}

fn us(s: &str) -> bool {
    match s.split_once('-') {
        None => digits(s, 5),
        Some((a, b)) => digits(a, 5) && digits(b, 4),
    }
}

/// UK: outward code (A9, A99, AA9, AA99, A9A, AA9A), optional space, inward code (9AA).
fn gb(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    if s.matches(' ').count() > 1 || !(5..=7).contains(&compact.len()) {
        return false;
    }
    let (out, inw) = compact.split_at(compact.len() - 3);
    let inward_ok = inw[0].is_ascii_digit() && alpha(inw[1]) && alpha(inw[2]);
    let outward_ok = alpha(out[0])
        && out.iter().any(u8::is_ascii_digit)
        && out.iter().all(|b| b.is_ascii_alphanumeric())
        && (out[1].is_ascii_digit()
            || (alpha(out[1]) && out.len() >= 3 && out[2].is_ascii_digit()));
    inward_ok && outward_ok
}

fn nl(s: &str) -> bool {
    let c: String = s.chars().filter(|c| *c != ' ').collect();
    c.len() == 6
        && digits(&c[..4], 4)
        && !c.starts_with('0')
        && c[4..].bytes().all(alpha)
        && s.matches(' ').count() <= 1
}

/// Canada: A9A 9A9 (space optional).
fn ca(s: &str) -> bool {
    let c: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    c.len() == 6
        && s.matches(' ').count() <= 1
        && c.iter().enumerate().all(|(i, b)| {
            if i % 2 == 0 {
                alpha(*b)
            } else {
                b.is_ascii_digit()
            }
        })
}

/// Japan: 999-9999 or 9999999.
fn jp(s: &str) -> bool {
    match s.split_once('-') {
        None => digits(s, 7),
        Some((a, b)) => digits(a, 3) && digits(b, 4),
    }
}

/// Brazil: 99999-999 or 99999999.
fn br(s: &str) -> bool {
    match s.split_once('-') {
        None => digits(s, 8),
        Some((a, b)) => digits(a, 5) && digits(b, 3),
    }
}

fn five(s: &str) -> bool {
    digits(s, 5)
}

fn four(s: &str) -> bool {
    digits(s, 4)
}

fn six(s: &str) -> bool {
    digits(s, 6)
}

/// Sweden: 999 99 or 99999.
fn se(s: &str) -> bool {
    digits(s, 5) || (s.len() == 6 && digits(&s[..3], 3) && &s[3..4] == " " && digits(&s[4..], 2))
}

/// Poland: 99-999.
fn pl(s: &str) -> bool {
    s.len() == 6 && digits(&s[..2], 2) && &s[2..3] == "-" && digits(&s[3..], 3)
}

type Shape = (fn(&str) -> bool, &'static str);

/// The shape check and an example for countries with a simple postal code shape.
pub fn postal_shape(country: &str) -> Option<Shape> {
    Some(match country {
        "US" | "PR" | "VI" | "GU" | "AS" | "MP" => (us, "12345 or 12345-6789"),
        "GB" | "IM" | "JE" | "GG" => (gb, "SW1A 1AA"),
        "DE" | "FR" | "IT" | "ES" | "FI" | "EE" | "HR" | "MX" | "MY" | "TH" | "UA" | "TR"
        | "MC" => (five, "10115"),
        "AT" | "BE" | "CH" | "DK" | "NO" | "AU" | "NZ" | "HU" | "LU" | "SI" | "BG" | "PH"
        | "ZA" => (four, "1010"),
        "IN" | "SG" | "RU" | "CN" | "RO" | "KZ" | "BY" => (six, "110001"),
        "NL" => (nl, "1012 AB"),
        "CA" => (ca, "K1A 0B1"),
        "JP" => (jp, "100-0001"),
        "BR" => (br, "01310-100"),
        "SE" => (se, "114 55"),
        "PL" => (pl, "00-950"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_unique() {
        assert!(COUNTRIES.windows(2).all(|w| w[0] < w[1]));
        assert!(NO_POSTAL_CODES.iter().all(|c| is_country(c)));
        for c in ["DE", "GB", "US", "FR", "NL", "JP", "CA", "ZW", "AD"] {
            assert!(is_country(c), "{c}");
        }
        for c in ["UK", "EU", "XX", "ZZ", "de"] {
            assert!(!is_country(c), "{c}");
        }
    }
}
