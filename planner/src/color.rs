//! Block colours: a few names a terminal and a calendar both know, or `#rrggbb`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{PlannerError, Result};

/// A block colour: one of a few names, or `#rrggbb`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Color(String);

/// The named colours and the RGB the terminal shows them in.
const NAMED: &[(&str, (u8, u8, u8))] = &[
    ("red", (205, 49, 49)),
    ("green", (13, 160, 90)),
    ("yellow", (200, 170, 20)),
    ("blue", (36, 114, 200)),
    ("magenta", (188, 63, 188)),
    ("cyan", (17, 168, 205)),
    ("white", (229, 229, 229)),
    ("black", (40, 40, 40)),
    ("gray", (128, 128, 128)),
    ("orange", (230, 126, 34)),
    ("purple", (128, 70, 190)),
    ("pink", (230, 110, 160)),
    ("brown", (150, 95, 50)),
    ("teal", (0, 128, 128)),
];

impl Color {
    pub fn parse(input: &str) -> Result<Color> {
        let s = input.trim().to_ascii_lowercase();
        let s = if s == "grey" { "gray".to_owned() } else { s };
        let ok = NAMED.iter().any(|(n, _)| *n == s)
            || (s.len() == 7
                && s.starts_with('#')
                && s[1..].bytes().all(|b| b.is_ascii_hexdigit()));
        if ok {
            Ok(Color(s))
        } else {
            Err(PlannerError::BadColor {
                input: input.to_owned(),
            })
        }
    }

    /// Every colour name [`Color::parse`] knows, for a picker.
    pub fn named() -> Vec<Color> {
        NAMED.iter().map(|(n, _)| Color((*n).to_owned())).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A colour name from CSS (RFC 7986's `COLOR` property takes only those).
    pub fn is_named(&self) -> bool {
        !self.0.starts_with('#')
    }

    pub fn rgb(&self) -> (u8, u8, u8) {
        if let Some(hex) = self.0.strip_prefix('#') {
            let p = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
            return (p(0), p(2), p(4));
        }
        NAMED
            .iter()
            .find(|(n, _)| *n == self.0)
            .map(|(_, rgb)| *rgb)
            .unwrap_or((128, 128, 128))
    }

    /// A stable colour for a label that has none, so the same task looks the same every day.
    pub fn for_label(label: &str) -> Color {
        const PALETTE: &[&str] = &[
            "blue", "green", "orange", "purple", "teal", "magenta", "brown", "cyan", "pink", "red",
        ];
        let h = label
            .to_lowercase()
            .bytes()
            .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
        Color(PALETTE[h as usize % PALETTE.len()].to_owned())
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Color {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Color {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Color::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours() {
        assert_eq!(Color::parse("Grey").unwrap().as_str(), "gray");
        assert_eq!(Color::parse("#FF8000").unwrap().rgb(), (255, 128, 0));
        assert!(Color::parse("chartreuse-ish").is_err());
        assert_eq!(Color::for_label("deep work"), Color::for_label("Deep Work"));
    }
}
