//! The user service's rules as parse functions: a value that comes out has passed its checks.
//! Field names are those of the gRPC resource (`address.postal_code`); the gateway shows them
//! relative to the REST body.

use uuid::Uuid;

/// Length limits, in Unicode scalar values (see user.proto).
pub const DISPLAY_NAME_MAX: usize = 100;
pub use kit::address::LABEL_MAX;
pub use kit::address::{AREA_MAX, LINE_MAX, LINES_MAX, LOCALITY_MAX, NAME_MAX, POSTAL_CODE_MAX};
pub const LOCALE_MAX: usize = 35;
/// Most addresses one user may keep.
pub const ADDRESSES_MAX: i64 = 20;
/// Most wishlist items one user may keep.
pub const WISHLIST_MAX: i64 = 500;
/// Preferences never saved.
pub const DEFAULT_LOCALE: &str = "en-US";
pub const DEFAULT_CURRENCY: &str = "EUR";

/// Avatar image types accepted.
pub const AVATAR_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];

/// The address rules, shared with checkout.
pub use kit::address::{address_lines, country, phone, postal_code, text};
/// A rule a field broke; `field` is the request field path.
pub use kit::problem::FieldError as Invalid;

/// Collects the rules broken by one request.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<Invalid>);

impl Errors {
    /// Keeps `Ok` values, records errors; returns the value or a default placeholder.
    pub fn check<T: Default>(&mut self, r: Result<T, Invalid>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => {
                self.0.push(e);
                T::default()
            }
        }
    }

    pub fn finish(self) -> Result<(), Vec<Invalid>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// A display name (1..=100 characters after trimming); empty clears it.
pub fn display_name(field: &str, raw: &str) -> Result<String, Invalid> {
    text(field, raw, false, DISPLAY_NAME_MAX)
}

/// A BCP 47 language tag shape: a 2-3 (or 5-8) letter language, then subtags of 1 to 8 letters
/// or digits, at most 35 characters.
pub fn locale(field: &str, raw: &str) -> Result<String, Invalid> {
    let v = raw;
    let bad = || {
        Invalid::new(
            field,
            "is not a BCP 47 language tag (e.g. en-GB, de, pt-BR)",
        )
    };
    if v.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    if v.len() > LOCALE_MAX {
        return Err(Invalid::new(
            field,
            format!("must be at most {LOCALE_MAX} characters"),
        ));
    }
    let mut parts = v.split('-');
    let lang = parts.next().unwrap_or("");
    if !matches!(lang.len(), 2 | 3 | 5..=8) || !lang.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(bad());
    }
    for p in parts {
        if p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad());
        }
    }
    Ok(v.to_owned())
}

/// ISO 4217 codes the storefront can display (the contract's list).
pub use kit::contracts::money::DISPLAY_CURRENCIES as CURRENCIES;

/// An ISO 4217 currency code from [`CURRENCIES`], uppercased.
pub fn currency(field: &str, raw: &str) -> Result<String, Invalid> {
    let v = raw.to_ascii_uppercase();
    if v.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    if !CURRENCIES.contains(&v.as_str()) {
        return Err(Invalid::new(
            field,
            "is not a supported ISO 4217 currency code (e.g. EUR, USD, GBP)",
        ));
    }
    Ok(v)
}

/// A UUID.
pub fn uuid(field: &str, raw: &str) -> Result<Uuid, Invalid> {
    if raw.trim().is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    Uuid::parse_str(raw.trim()).map_err(|_| Invalid::new(field, "is not a UUID"))
}

/// An avatar announcement: accepted type and 1..=`max` bytes.
pub fn avatar(content_type: &str, size: i64, max: i64) -> Result<(), Vec<Invalid>> {
    let mut errs = Vec::new();
    if !AVATAR_TYPES.contains(&content_type) {
        errs.push(Invalid::new(
            "content_type",
            "must be image/jpeg, image/png or image/webp",
        ));
    }
    if !(1..=max).contains(&size) {
        errs.push(Invalid::new(
            "size_bytes",
            format!("must be between 1 and {max} bytes"),
        ));
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postal_codes_follow_the_country() {
        for (c, ok) in [
            ("US", "12345"),
            ("US", "12345-6789"),
            ("GB", "SW1A 1AA"),
            ("GB", "m1 1ae"),
            ("DE", "10115"),
            ("FR", "75001"),
            ("NL", "1012 AB"),
            ("NL", "1012AB"),
            ("CA", "K1A 0B1"),
            ("JP", "100-0001"),
            ("BR", "01310-100"),
        ] {
            assert!(postal_code("p", ok, c).is_ok(), "{c} {ok}");
        }
        for (c, bad) in [
            ("US", "1234"),
            ("US", "123456"),
            ("DE", "1011"),
            ("DE", "ABCDE"),
            ("NL", "1012"),
            ("GB", "12345"),
            ("CA", "12345"),
            ("JP", "1000"),
            ("BR", "abc_def"),
            ("BR", "1234567890123"),
        ] {
            assert!(postal_code("p", bad, c).is_err(), "{c} {bad}");
        }
        assert_eq!(postal_code("p", "sw1a 1aa", "GB").unwrap(), "SW1A 1AA");
        assert!(postal_code("p", " 10115", "DE").is_err());
        assert!(postal_code("p", "", "HK").is_ok());
        assert!(postal_code("p", "", "DE").is_err());
    }

    #[test]
    fn countries_locales_currencies() {
        assert_eq!(country("c", "DE").unwrap(), "DE");
        assert!(country("c", "de").is_err());
        assert!(country("c", "XX").is_err());
        assert!(country("c", "DEU").is_err());
        assert!(country("c", "").is_err());
        for ok in ["en", "en-GB", "pt-BR", "zh-Hant-TW", "de-CH-1996"] {
            assert!(locale("l", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "e",
            "en_GB",
            "en-",
            "english-language-tag-123456789-too-long",
            "1a",
        ] {
            assert!(locale("l", bad).is_err(), "{bad}");
        }
        assert_eq!(currency("c", "eur").unwrap(), "EUR");
        assert!(currency("c", "XYZ").is_err());
    }

    #[test]
    fn text_phone_and_lines() {
        assert_eq!(
            text("n", " '; DROP TABLE users; -- ", true, 200).unwrap(),
            "'; DROP TABLE users; --"
        );
        assert!(text("n", "", true, 10).is_err());
        assert!(text("n", &"x".repeat(11), true, 10).is_err());
        assert!(text("n", "a\u{0}b", true, 10).is_err());
        assert!(phone("p", "+4930123456").is_ok());
        assert!(phone("p", "030123456").is_err());
        assert!(phone("p", "+49 30").is_err());
        let e = address_lines("address_lines", &["ok".into(), "".into()]).unwrap_err();
        assert_eq!(e[0].field, "address_lines[1]");
        assert!(address_lines("a", &[]).is_err());
        assert!(avatar("image/gif", 10, 100).is_err());
        assert_eq!(
            avatar("image/png", 101, 100).unwrap_err()[0].field,
            "size_bytes"
        );
    }
}
