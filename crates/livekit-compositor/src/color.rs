//! Colours as written in scene files and used for solid layers, text and backgrounds.

use std::fmt;
use std::str::FromStr;

/// An 8-bit sRGB colour with straight (not premultiplied) alpha. In scene files and studio
/// commands (serde) it is the text `"#rrggbb"` or `"#rrggbbaa"`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Color {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Alpha: 0 is transparent, 255 opaque.
    pub a: u8,
}

impl Color {
    /// Opaque black.
    pub const BLACK: Self = Self::rgb(0, 0, 0);
    /// Opaque white.
    pub const WHITE: Self = Self::rgb(255, 255, 255);
    /// Fully transparent.
    pub const TRANSPARENT: Self = Self::rgba(0, 0, 0, 0);

    /// An opaque colour.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Self { r, g, b, a: 255 }
    }

    /// A colour with alpha.
    pub const fn rgba(r: u8, g: u8, b: u8, a: u8) -> Self {
        Self { r, g, b, a }
    }

    /// The colour as `[r, g, b, a]`.
    pub const fn to_array(self) -> [u8; 4] {
        [self.r, self.g, self.b, self.a]
    }

    /// The same colour, fully opaque.
    pub const fn opaque(self) -> Self {
        Self { a: 255, ..self }
    }
}

/// A colour that is not `#rrggbb` or `#rrggbbaa`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid colour {0:?}: expected \"#rrggbb\" or \"#rrggbbaa\"")]
pub struct ParseColorError(pub String);

impl FromStr for Color {
    type Err = ParseColorError;

    /// Parses `#rrggbb` or `#rrggbbaa` (hex digits, either case).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseColorError(text.to_owned());
        let hex = text.strip_prefix('#').ok_or_else(error)?;
        if !(hex.len() == 6 || hex.len() == 8) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(error());
        }
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| error());
        let a = if hex.len() == 8 { byte(6)? } else { 255 };
        Ok(Self::rgba(byte(0)?, byte(2)?, byte(4)?, a))
    }
}

impl TryFrom<String> for Color {
    type Error = ParseColorError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Color> for String {
    fn from(color: Color) -> Self {
        color.to_string()
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)?;
        if self.a != 255 {
            write!(f, "{:02x}", self.a)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("#ff8000".parse(), Ok(Color::rgb(255, 128, 0)));
        assert_eq!("#FF800080".parse(), Ok(Color::rgba(255, 128, 0, 128)));
        assert_eq!(Color::rgba(1, 2, 3, 4).to_string(), "#01020304");
        assert_eq!(Color::rgb(1, 2, 3).to_string(), "#010203");
        for bad in ["", "ff8000", "#ff80", "#gg0000", "#ff80000", "#ff8000 "] {
            assert_eq!(
                bad.parse::<Color>(),
                Err(ParseColorError(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
