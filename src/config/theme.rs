//! Themes: semantic palettes (`accent`, `ok`, `warn`, `error`, `drift`, ...), never colours
//! scattered through draw code.
//!
//! A theme file has a `name`, an optional `inherits`, and a `[palette]` whose slots are a
//! bare colour (`"#7aa2f7"`, `"lightblue"`, `208`) or a style table
//! `{ fg = "...", bg = "...", modifiers = ["bold"] }`. Built-in themes are embedded; a user
//! file `<config dir>/themes/<name>.toml` overrides or adds one and holds only the slots it
//! changes. Colours are mapped down to what the terminal supports ([`ColorSupport`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::{ConfigProblem, PathSeg, Paths, parse_toml, read_optional, value_problem};

macro_rules! slots {
    ($( $(#[$doc:meta])* $variant:ident $field:ident $key:literal ),* $(,)?) => {
        /// A semantic slot of the palette.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Slot { $( $(#[$doc])* $variant ),* }

        impl Slot {
            /// Every slot, in palette order.
            pub const ALL: &'static [Slot] = &[ $( Slot::$variant ),* ];

            /// The slot's key in a theme file's `[palette]`.
            pub fn key(self) -> &'static str {
                match self { $( Slot::$variant => $key ),* }
            }

            /// The slot named `key` in a theme file.
            pub fn from_key(key: &str) -> Option<Slot> {
                match key { $( $key => Some(Slot::$variant), )* _ => None }
            }

            fn index(self) -> usize {
                self as usize
            }
        }

        /// A resolved theme: one [`Style`] per slot, already mapped to the terminal's colours.
        /// Read a slot as a field (`theme.ok`) or by [`Slot`] (`theme.style(Slot::Ok)`).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Theme {
            /// The theme's name (`dark`, or the user's name for it).
            pub name: String,
            /// The colours the styles were mapped to.
            pub support: ColorSupport,
            $( $(#[$doc])* pub $field: Style, )*
        }

        impl Theme {
            /// The style of one slot.
            pub fn style(&self, slot: Slot) -> Style {
                match slot { $( Slot::$variant => self.$field ),* }
            }

            fn from_styles(name: &str, support: ColorSupport, styles: &[Style; SLOTS]) -> Theme {
                Theme {
                    name: name.to_string(),
                    support,
                    $( $field: styles[Slot::$variant.index()], )*
                }
            }
        }
    };
}

slots! {
    /// Ordinary text.
    Text text "text",
    /// Secondary text: ids, ages, hints.
    Muted muted "muted",
    /// The brand colour: the focused thing, links.
    Accent accent "accent",
    /// Table headers.
    Header header "header",
    /// An inactive tab.
    Tab tab "tab",
    /// The active tab.
    TabActive tab_active "tab_active",
    /// Pane borders.
    Border border "border",
    /// The border of the focused pane.
    BorderFocus border_focus "border_focus",
    /// The selected row.
    Selection selection "selection",
    /// Healthy, ready, done.
    Ok ok "ok",
    /// Degraded, needs attention.
    Warn warn "warn",
    /// Failed, down.
    Error error "error",
    /// Values that differ across regions of one environment.
    Drift drift "drift",
    /// Locked services and frozen merges.
    Locked locked "locked",
    /// Work in flight: rollouts, flag changes waiting for acks.
    Pending pending "pending",
    /// Neutral information.
    Info info "info",
    /// The key in footer hints.
    KeyHint key_hint "key_hint",
    /// Pane and popup titles.
    Title title "title",
    /// An error toast.
    ToastError toast_error "toast_error",
    /// An information toast.
    ToastInfo toast_info "toast_info",
    /// Fuzzy-match highlight.
    Match fuzzy_match "match",
}

const SLOTS: usize = Slot::ALL.len();

/// The built-in themes, embedded in the binary.
const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../themes/mono.toml")),
];

/// The default theme.
pub const DEFAULT_THEME: &str = "dark";

/// The names of the built-in themes.
pub fn builtin_theme_names() -> &'static [&'static str] {
    &["dark", "light", "high-contrast", "mono"]
}

fn builtin_source(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, src)| *src)
}

fn builtin_file(name: &str) -> PathBuf {
    PathBuf::from(format!("<built-in>/themes/{name}.toml"))
}

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColorSupport {
    /// 24-bit colour.
    TrueColor,
    /// The xterm 256-colour palette.
    Ansi256,
    /// The 16 ANSI colours.
    Ansi16,
    /// No colour at all (`NO_COLOR`): the `mono` theme.
    None,
}

impl ColorSupport {
    /// From `NO_COLOR`, `COLORTERM` and `TERM`.
    pub fn detect() -> ColorSupport {
        let var = |name| std::env::var(name).ok();
        Self::from_env_values(
            var("NO_COLOR").as_deref(),
            var("COLORTERM").as_deref(),
            var("TERM").as_deref(),
        )
    }

    /// `NO_COLOR` set and non-empty → `None`; `COLORTERM` `truecolor`/`24bit` → `TrueColor`;
    /// `TERM` `dumb` → `None`; `TERM` containing `256color` → `Ansi256`; else `Ansi16`.
    pub fn from_env_values(
        no_color: Option<&str>,
        colorterm: Option<&str>,
        term: Option<&str>,
    ) -> ColorSupport {
        if no_color.is_some_and(|v| !v.is_empty()) {
            return ColorSupport::None;
        }
        if colorterm.is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v == "truecolor" || v == "24bit"
        }) {
            return ColorSupport::TrueColor;
        }
        match term {
            Some("dumb") => ColorSupport::None,
            Some(t) if t.contains("256color") => ColorSupport::Ansi256,
            _ => ColorSupport::Ansi16,
        }
    }

    /// `colour` as this terminal can show it.
    pub fn adapt(self, color: Color) -> Color {
        match (self, color) {
            (ColorSupport::TrueColor, c) => c,
            (ColorSupport::Ansi256, Color::Rgb(r, g, b)) => Color::Indexed(nearest_256(r, g, b)),
            (ColorSupport::Ansi256, c) => c,
            (ColorSupport::Ansi16 | ColorSupport::None, Color::Rgb(r, g, b)) => nearest_16(r, g, b),
            (ColorSupport::Ansi16 | ColorSupport::None, Color::Indexed(i)) => {
                let (r, g, b) = index_rgb(i);
                if i < 16 {
                    ANSI16[usize::from(i)].0
                } else {
                    nearest_16(r, g, b)
                }
            }
            (_, c) => c,
        }
    }

    fn adapt_style(self, style: Style) -> Style {
        if self == ColorSupport::None {
            return Style {
                add_modifier: style.add_modifier,
                sub_modifier: style.sub_modifier,
                ..Style::default()
            };
        }
        Style {
            fg: style.fg.map(|c| self.adapt(c)),
            bg: style.bg.map(|c| self.adapt(c)),
            underline_color: style.underline_color.map(|c| self.adapt(c)),
            ..style
        }
    }
}

/// The 16 ANSI colours with the RGB values xterm gives them.
const ANSI16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// The RGB value xterm gives a 256-palette index.
fn index_rgb(i: u8) -> (u8, u8, u8) {
    match i {
        0..=15 => ANSI16[usize::from(i)].1,
        16..=231 => {
            let n = i - 16;
            (
                CUBE[usize::from(n / 36)],
                CUBE[usize::from(n / 6 % 6)],
                CUBE[usize::from(n % 6)],
            )
        }
        _ => {
            let v = 8 + (i - 232) * 10;
            (v, v, v)
        }
    }
}

fn dist2(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let d = |x: u8, y: u8| u32::from(x.abs_diff(y)).pow(2);
    d(a.0, b.0) + d(a.1, b.1) + d(a.2, b.2)
}

/// The nearest colour of the xterm 256 palette's colour cube and grey ramp (16..=255; the
/// first 16 are left out because terminals redefine them).
pub fn nearest_256(r: u8, g: u8, b: u8) -> u8 {
    (16..=255u8)
        .min_by_key(|&i| dist2((r, g, b), index_rgb(i)))
        .unwrap_or(16)
}

/// The nearest of the 16 ANSI colours. Plain RGB distance turns every pastel grey, so the
/// hue decides for clearly coloured inputs and the lightness picks the normal or light
/// variant; greys map by luminance.
pub fn nearest_16(r: u8, g: u8, b: u8) -> Color {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let chroma = max - min;
    let saturation = if max == 0 {
        0.0
    } else {
        f32::from(chroma) / f32::from(max)
    };
    if chroma < 60 || saturation < 0.3 {
        let luma = 0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b);
        return match luma {
            l if l < 40.0 => Color::Black,
            l if l < 150.0 => Color::DarkGray,
            l if l < 235.0 => Color::Gray,
            _ => Color::White,
        };
    }
    let (rf, gf, bf, c) = (f32::from(r), f32::from(g), f32::from(b), f32::from(chroma));
    let hue = if max == r {
        (60.0 * (gf - bf) / c).rem_euclid(360.0)
    } else if max == g {
        60.0 * (bf - rf) / c + 120.0
    } else {
        60.0 * (rf - gf) / c + 240.0
    };
    let light = (u16::from(max) + u16::from(min)) / 2 >= 128;
    let pick = |normal, bright| if light { bright } else { normal };
    match hue {
        h if !(20.0..330.0).contains(&h) => pick(Color::Red, Color::LightRed),
        h if h < 75.0 => pick(Color::Yellow, Color::LightYellow),
        h if h < 165.0 => pick(Color::Green, Color::LightGreen),
        h if h < 205.0 => pick(Color::Cyan, Color::LightCyan),
        h if h < 275.0 => pick(Color::Blue, Color::LightBlue),
        _ => pick(Color::Magenta, Color::LightMagenta),
    }
}

// ---- theme files --------------------------------------------------------------------------

/// A slot as written: a bare colour or a style table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<ColorSpec>,
    bg: Option<ColorSpec>,
    #[serde(default)]
    modifiers: Vec<String>,
}

impl<'de> Deserialize<'de> for ColorSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ColorSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a colour: a name, \"#rrggbb\" or 0-255")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ColorSpec, E> {
                Ok(ColorSpec(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ColorSpec, E> {
                Ok(ColorSpec(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ColorSpec, E> {
                Ok(ColorSpec(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A colour as written; checked when the slot is resolved so the problem names its key.
#[derive(Debug)]
struct ColorSpec(String);

/// `StyleSpec` accepts a bare colour in place of the table.
#[derive(Debug)]
struct SlotSpec(StyleSpec);

impl<'de> Deserialize<'de> for SlotSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SlotSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a colour (a name, \"#rrggbb\", 0-255) or { fg, bg, modifiers }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SlotSpec, E> {
                Ok(SlotSpec(StyleSpec {
                    fg: Some(ColorSpec(v.to_string())),
                    ..StyleSpec::default()
                }))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SlotSpec, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SlotSpec, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SlotSpec, A::Error> {
                StyleSpec::deserialize(de::value::MapAccessDeserializer::new(map)).map(SlotSpec)
            }
        }
        d.deserialize_any(V)
    }
}

fn parse_color(spec: &str) -> Result<Color, String> {
    spec.trim().parse::<Color>().map_err(|_| {
        format!(
            "unknown colour {spec:?}: use a name (red, lightblue, reset, ...), \"#rrggbb\" or 0-255"
        )
    })
}

fn parse_modifier(name: &str) -> Result<Modifier, String> {
    Ok(match name.to_ascii_lowercase().replace('-', "_").as_str() {
        "bold" => Modifier::BOLD,
        "dim" => Modifier::DIM,
        "italic" => Modifier::ITALIC,
        "underlined" | "underline" => Modifier::UNDERLINED,
        "slow_blink" | "blink" => Modifier::SLOW_BLINK,
        "rapid_blink" => Modifier::RAPID_BLINK,
        "reversed" | "reverse" => Modifier::REVERSED,
        "hidden" => Modifier::HIDDEN,
        "crossed_out" | "strikethrough" => Modifier::CROSSED_OUT,
        _ => {
            return Err(format!(
                "unknown modifier {name:?}: use bold, dim, italic, underlined, reversed, \
                 crossed_out, hidden, slow_blink or rapid_blink"
            ));
        }
    })
}

/// One parsed theme file: its parent and the slots it sets.
struct Layer {
    name: Option<String>,
    inherits: Option<String>,
    slots: [Option<Style>; SLOTS],
}

/// A theme file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFileRaw {
    name: Option<String>,
    inherits: Option<String>,
    #[serde(default)]
    palette: BTreeMap<String, SlotSpec>,
}

/// Parses a theme file. Problems with single slots are reported and those slots skipped;
/// a file that does not parse gives `None`.
fn parse_layer(file: &Path, src: &str, problems: &mut Vec<ConfigProblem>) -> Option<Layer> {
    let raw: ThemeFileRaw = match parse_toml(file, src) {
        Ok(raw) => raw,
        Err(problem) => {
            problems.push(problem);
            return None;
        }
    };
    let mut slots = [None; SLOTS];
    for (key, SlotSpec(spec)) in &raw.palette {
        let Some(slot) = Slot::from_key(key) else {
            let known: Vec<_> = Slot::ALL.iter().map(|s| s.key()).collect();
            problems.push(value_problem(
                file,
                src,
                &[PathSeg::Key("palette"), PathSeg::Key(key)],
                format_args!("unknown slot; the slots are {}", known.join(", ")),
            ));
            continue;
        };
        match resolve_spec(spec) {
            Ok(style) => slots[slot.index()] = Some(style),
            Err((field, reason)) => {
                let mut path = vec![PathSeg::Key("palette"), PathSeg::Key(key)];
                if let Some(field) = field {
                    path.push(PathSeg::Key(field));
                }
                problems.push(value_problem(file, src, &path, reason));
            }
        }
    }
    Some(Layer {
        name: raw.name,
        inherits: raw.inherits,
        slots,
    })
}

fn resolve_spec(spec: &StyleSpec) -> Result<Style, (Option<&'static str>, String)> {
    let mut style = Style::default();
    if let Some(ColorSpec(fg)) = &spec.fg {
        style.fg = Some(parse_color(fg).map_err(|e| (Some("fg"), e))?);
    }
    if let Some(ColorSpec(bg)) = &spec.bg {
        style.bg = Some(parse_color(bg).map_err(|e| (Some("bg"), e))?);
    }
    for name in &spec.modifiers {
        style = style.add_modifier(parse_modifier(name).map_err(|e| (Some("modifiers"), e))?);
    }
    Ok(style)
}

/// Inheritance deeper than this is taken for a cycle.
const MAX_DEPTH: usize = 8;

type Slots = [Option<Style>; SLOTS];

fn overlay(base: Slots, top: &Slots) -> Slots {
    let mut out = base;
    for (slot, style) in out.iter_mut().zip(top) {
        if style.is_some() {
            *slot = *style;
        }
    }
    out
}

/// A built-in theme with its built-in parents.
fn resolve_builtin(name: &str, depth: usize, problems: &mut Vec<ConfigProblem>) -> Option<Slots> {
    let src = builtin_source(name)?;
    let file = builtin_file(name);
    let layer = parse_layer(&file, src, problems)?;
    let parent = layer
        .inherits
        .clone()
        .or_else(|| (name != DEFAULT_THEME).then(|| DEFAULT_THEME.to_string()));
    let base = match parent {
        Some(parent) if depth < MAX_DEPTH && parent != name => {
            resolve_builtin(&parent, depth + 1, problems).unwrap_or([None; SLOTS])
        }
        _ => [None; SLOTS],
    };
    Some(overlay(base, &layer.slots))
}

/// A theme by name: the user's file layered over its parent (its `inherits`, else the
/// built-in theme of the same name, else dark), or a built-in one.
fn resolve(
    name: &str,
    paths: &Paths,
    depth: usize,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Slots> {
    let file = paths.themes_dir().join(format!("{name}.toml"));
    let user = match read_optional(&file) {
        Ok(Some(src)) => match parse_layer(&file, &src, problems) {
            Some(layer) => Some((layer, src)),
            // Reported; the built-in theme of that name, else dark, without a second problem.
            None => {
                return resolve_builtin(name, depth, problems)
                    .or_else(|| resolve_builtin(DEFAULT_THEME, depth, problems));
            }
        },
        Ok(None) => None,
        Err(problem) => {
            problems.push(problem);
            None
        }
    };
    let Some((layer, src)) = user else {
        return resolve_builtin(name, depth, problems);
    };
    if let Some(own) = layer.name.as_deref().filter(|own| *own != name) {
        problems.push(value_problem(
            &file,
            &src,
            &[PathSeg::Key("name")],
            format_args!(
                "the theme is named {own:?} but its file is {name:?}.toml; using {name:?}"
            ),
        ));
    }
    let base = match layer.inherits.as_deref() {
        Some(parent) if parent == name => resolve_builtin(name, depth + 1, problems),
        Some(parent) if depth >= MAX_DEPTH => {
            problems.push(value_problem(
                &file,
                &src,
                &[PathSeg::Key("inherits")],
                format_args!("inheriting {parent:?} goes too deep (a cycle?); using dark"),
            ));
            None
        }
        Some(parent) => {
            let base = resolve(parent, paths, depth + 1, problems);
            if base.is_none() {
                problems.push(value_problem(
                    &file,
                    &src,
                    &[PathSeg::Key("inherits")],
                    format_args!("no theme named {parent:?}; using dark"),
                ));
            }
            base
        }
        None => resolve_builtin(name, depth + 1, problems),
    };
    let base = match base {
        Some(base) => base,
        None => resolve_builtin(DEFAULT_THEME, depth + 1, problems).unwrap_or([None; SLOTS]),
    };
    Some(overlay(base, &layer.slots))
}

fn finish(name: &str, slots: &Slots, support: ColorSupport) -> Theme {
    let styles = slots.map(|s| support.adapt_style(s.unwrap_or_default()));
    Theme::from_styles(name, support, &styles)
}

/// Loads theme `name` for a terminal with `support` colours. `ColorSupport::None` gives
/// `mono` whatever the name. An unknown name or a bad file is reported and the default
/// (`dark`, or the built-in theme of that name) is used.
pub fn load_theme(name: &str, paths: &Paths, support: ColorSupport) -> (Theme, Vec<ConfigProblem>) {
    let name = if support == ColorSupport::None {
        "mono"
    } else {
        name
    };
    let mut problems = Vec::new();
    if let Some(slots) = resolve(name, paths, 0, &mut problems) {
        return (finish(name, &slots, support), problems);
    }
    problems.push(ConfigProblem::file(
        paths.themes_dir().join(format!("{name}.toml")),
        format!(
            "no theme named {name:?} (built-in: {}); using {DEFAULT_THEME}",
            builtin_theme_names().join(", ")
        ),
    ));
    let slots = resolve_builtin(DEFAULT_THEME, 0, &mut problems).unwrap_or([None; SLOTS]);
    (finish(DEFAULT_THEME, &slots, support), problems)
}

impl Default for Theme {
    /// The built-in dark theme in true colour.
    fn default() -> Self {
        let mut problems = Vec::new();
        let slots = resolve_builtin(DEFAULT_THEME, 0, &mut problems).unwrap_or([None; SLOTS]);
        finish(DEFAULT_THEME, &slots, ColorSupport::TrueColor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn themes_on_disk() -> Vec<(String, PathBuf, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("themes/ exists") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                let stem = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .expect("utf-8 name")
                    .to_string();
                let src = std::fs::read_to_string(&path).expect("readable");
                out.push((stem, path, src));
            }
        }
        assert!(
            out.len() >= 4,
            "expected the built-in themes in {}",
            dir.display()
        );
        out
    }

    #[test]
    fn every_shipped_theme_parses_strictly_and_is_embedded() {
        for (stem, path, src) in themes_on_disk() {
            let mut problems = Vec::new();
            let layer = parse_layer(&path, &src, &mut problems);
            assert!(problems.is_empty(), "{}: {problems:?}", path.display());
            let layer = layer.expect("parses");
            assert_eq!(
                layer.name.as_deref(),
                Some(stem.as_str()),
                "{}",
                path.display()
            );
            assert!(
                builtin_theme_names().contains(&stem.as_str()),
                "{stem} is not in builtin_theme_names()"
            );
            assert_eq!(builtin_source(&stem), Some(src.as_str()), "{stem} embedded");
            let slots = resolve_builtin(&stem, 0, &mut problems).expect("resolves");
            assert!(problems.is_empty(), "{stem}: {problems:?}");
            for slot in Slot::ALL {
                assert!(
                    slots[slot.index()].is_some(),
                    "{stem} leaves {} unset",
                    slot.key()
                );
            }
        }
        // And the other way round: every name is a file.
        let stems: Vec<_> = themes_on_disk().into_iter().map(|(s, _, _)| s).collect();
        for name in builtin_theme_names() {
            assert!(stems.iter().any(|s| s == name), "{name} has no file");
        }
    }

    #[test]
    fn theme_files_deny_unknown_fields() {
        let mut problems = Vec::new();
        let src = "name = \"x\"\ncolour = 1\n";
        assert!(parse_layer(Path::new("x.toml"), src, &mut problems).is_none());
        assert_eq!(
            problems[0].key.as_deref(),
            Some("colour"),
            "{}",
            problems[0]
        );

        let mut problems = Vec::new();
        let src = "[palette]\nok = { fg = \"red\", fgg = \"blue\" }\n";
        assert!(parse_layer(Path::new("x.toml"), src, &mut problems).is_none());
        assert!(problems[0].to_string().contains("fgg"), "{}", problems[0]);
    }

    #[test]
    fn dark_is_the_default() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::in_dir(tmp.path());
        let (theme, problems) = load_theme("dark", &paths, ColorSupport::TrueColor);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(theme, Theme::default());
        assert_eq!(theme.style(Slot::Ok), theme.ok);
        assert_eq!(theme.style(Slot::Match), theme.fuzzy_match);
    }

    #[test]
    fn user_theme_with_one_slot_changes_only_that_slot() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::in_dir(tmp.path());
        std::fs::create_dir_all(paths.themes_dir()).expect("mkdir");
        std::fs::write(
            paths.themes_dir().join("mine.toml"),
            "name = \"mine\"\ninherits = \"light\"\n[palette]\nok = { fg = \"#00ff00\", modifiers = [\"bold\"] }\n",
        )
        .expect("write");
        let (mine, problems) = load_theme("mine", &paths, ColorSupport::TrueColor);
        assert!(problems.is_empty(), "{problems:?}");
        let (light, _) = load_theme("light", &paths, ColorSupport::TrueColor);
        assert_eq!(mine.name, "mine");
        assert_eq!(
            mine.ok,
            Style::new()
                .fg(Color::Rgb(0, 255, 0))
                .add_modifier(Modifier::BOLD)
        );
        for slot in Slot::ALL.iter().filter(|s| **s != Slot::Ok) {
            assert_eq!(mine.style(*slot), light.style(*slot), "{}", slot.key());
        }
    }

    #[test]
    fn user_file_overriding_a_builtin_layers_over_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::in_dir(tmp.path());
        std::fs::create_dir_all(paths.themes_dir()).expect("mkdir");
        std::fs::write(
            paths.themes_dir().join("light.toml"),
            "[palette]\nerror = \"red\"\n",
        )
        .expect("write");
        let (theme, problems) = load_theme("light", &paths, ColorSupport::TrueColor);
        assert!(problems.is_empty(), "{problems:?}");
        let builtin = finish(
            "light",
            &resolve_builtin("light", 0, &mut Vec::new()).expect("light"),
            ColorSupport::TrueColor,
        );
        assert_eq!(theme.error, Style::new().fg(Color::Red));
        assert_eq!(theme.text, builtin.text);
    }

    #[test]
    fn unknown_theme_is_a_problem_and_dark() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::in_dir(tmp.path());
        let (theme, problems) = load_theme("solarised", &paths, ColorSupport::TrueColor);
        assert_eq!(theme, Theme::default());
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].to_string().contains("solarised"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn bad_user_theme_names_file_key_and_reason() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::in_dir(tmp.path());
        std::fs::create_dir_all(paths.themes_dir()).expect("mkdir");
        let file = paths.themes_dir().join("odd.toml");
        std::fs::write(
            &file,
            "[palette]\nok = \"#00ff00\"\nwarn = { fg = \"orangey\" }\nshiny = \"red\"\n",
        )
        .expect("write");
        let (theme, problems) = load_theme("odd", &paths, ColorSupport::TrueColor);
        assert_eq!(
            theme.ok,
            Style::new().fg(Color::Rgb(0, 255, 0)),
            "good slots apply"
        );
        assert_eq!(
            theme.warn,
            Theme::default().warn,
            "bad slots keep the default"
        );
        let shown: Vec<_> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2, "{shown:?}");
        assert!(shown.iter().all(|s| s.contains("odd.toml")), "{shown:?}");
        assert!(
            shown.iter().any(|s| s.contains("`palette.warn.fg`")
                && s.contains("orangey")
                && s.contains("line 3")),
            "{shown:?}"
        );
        assert!(
            shown
                .iter()
                .any(|s| s.contains("`palette.shiny`") && s.contains("unknown slot")),
            "{shown:?}"
        );

        std::fs::write(&file, "[palette\nok = 1\n").expect("write");
        let (theme, problems) = load_theme("odd", &paths, ColorSupport::TrueColor);
        assert_eq!(theme.ok, Theme::default().ok);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].to_string().contains("line 1"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn inheritance_cycles_end() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::in_dir(tmp.path());
        std::fs::create_dir_all(paths.themes_dir()).expect("mkdir");
        std::fs::write(paths.themes_dir().join("a.toml"), "inherits = \"b\"\n").expect("write");
        std::fs::write(paths.themes_dir().join("b.toml"), "inherits = \"a\"\n").expect("write");
        let (theme, problems) = load_theme("a", &paths, ColorSupport::TrueColor);
        assert!(!problems.is_empty());
        assert_eq!(theme.ok, Theme::default().ok);
    }

    #[test]
    fn color_support_from_env_values() {
        use ColorSupport as C;
        assert_eq!(
            C::from_env_values(Some("1"), Some("truecolor"), None),
            C::None
        );
        assert_eq!(
            C::from_env_values(Some(""), Some("truecolor"), None),
            C::TrueColor
        );
        assert_eq!(C::from_env_values(None, Some("24bit"), None), C::TrueColor);
        assert_eq!(
            C::from_env_values(None, None, Some("xterm-256color")),
            C::Ansi256
        );
        assert_eq!(C::from_env_values(None, None, Some("screen")), C::Ansi16);
        assert_eq!(C::from_env_values(None, None, None), C::Ansi16);
    }

    #[test]
    fn no_color_gives_mono_without_any_colour() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let paths = Paths::in_dir(tmp.path());
        let support = ColorSupport::from_env_values(Some("1"), None, Some("xterm-256color"));
        let (theme, problems) = load_theme("dark", &paths, support);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(theme.name, "mono");
        for slot in Slot::ALL {
            let style = theme.style(*slot);
            assert_eq!((style.fg, style.bg), (None, None), "{}", slot.key());
        }
        assert!(theme.selection.add_modifier.contains(Modifier::REVERSED));
        assert!(theme.error.add_modifier.contains(Modifier::BOLD));
        assert!(theme.drift.add_modifier.contains(Modifier::UNDERLINED));
    }

    #[test]
    fn mono_is_readable_with_no_colour_even_in_true_colour() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (theme, _) = load_theme("mono", &Paths::in_dir(tmp.path()), ColorSupport::TrueColor);
        for slot in Slot::ALL {
            let style = theme.style(*slot);
            assert!(
                style.fg.is_none_or(|c| c == Color::Reset)
                    && style.bg.is_none_or(|c| c == Color::Reset),
                "mono sets a colour on {}",
                slot.key()
            );
        }
        // The states that matter are told apart by modifiers alone.
        let states = [
            theme.ok,
            theme.warn,
            theme.error,
            theme.drift,
            theme.locked,
            theme.selection,
        ];
        for (i, a) in states.iter().enumerate() {
            for b in &states[i + 1..] {
                assert_ne!(a, b, "mono must tell states apart");
            }
        }
    }

    #[test]
    fn hex_maps_to_sensible_ansi_colours() {
        assert!(matches!(
            nearest_16(0xff, 0, 0),
            Color::Red | Color::LightRed
        ));
        assert!(matches!(
            nearest_16(0, 0xaa, 0),
            Color::Green | Color::LightGreen
        ));
        assert!(matches!(
            nearest_16(0x7a, 0xa2, 0xf7),
            Color::Blue | Color::LightBlue
        ));
        assert!(matches!(
            nearest_16(0xe0, 0xaf, 0x68),
            Color::Yellow | Color::LightYellow
        ));
        assert_eq!(nearest_16(0x80, 0x80, 0x80), Color::DarkGray);
        assert_eq!(nearest_16(0, 0, 0), Color::Black);
        assert_eq!(nearest_16(0xff, 0xff, 0xff), Color::White);
        assert_eq!(nearest_256(0xff, 0, 0), 196);
        assert_eq!(nearest_256(0x80, 0x80, 0x80), 244);
        assert_eq!(
            ColorSupport::Ansi16.adapt(Color::Indexed(9)),
            Color::LightRed
        );
        assert_eq!(
            ColorSupport::Ansi256.adapt(Color::Rgb(0, 0, 0)),
            Color::Indexed(16)
        );
        assert_eq!(
            ColorSupport::TrueColor.adapt(Color::Rgb(1, 2, 3)),
            Color::Rgb(1, 2, 3)
        );
    }

    #[test]
    fn dark_reads_well_in_16_colours() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (theme, _) = load_theme("dark", &Paths::in_dir(tmp.path()), ColorSupport::Ansi16);
        let fgs: Vec<_> = [theme.accent, theme.ok, theme.warn, theme.error, theme.drift]
            .iter()
            .map(|s| s.fg.expect("coloured"))
            .collect();
        for c in &fgs {
            assert!(
                !matches!(c, Color::Rgb(..) | Color::Indexed(_)),
                "{c:?} is not ANSI"
            );
        }
        for (i, a) in fgs.iter().enumerate() {
            for b in &fgs[i + 1..] {
                assert_ne!(
                    a, b,
                    "accent/ok/warn/error/drift collide in 16 colours: {fgs:?}"
                );
            }
        }
        assert_ne!(theme.text.fg, theme.muted.fg);
    }
}
