//! Figures: the loss curve, the decision boundary, the spiral's scatter plot (PNG or SVG).
//!
//! Text needs a TrueType font. One is looked up once, from `NN_FONT` (a `.ttf` path) or common
//! system locations; without one, figures are drawn without text and a notice is printed once.

use crate::eval::Boundary;
use crate::io::render_atomic;
use crate::Dataset;
use nn_core::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// Figure size in pixels (matplotlib's default 6.4 × 4.8 inches at 100 dpi).
pub const SIZE: (u32, u32) = (640, 480);

/// Fonts tried first, without scanning: matplotlib's DejaVu Sans and common sans-serif faces
/// where Linux distributions, macOS (10.15 on, then older) and Windows keep them.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Families looked for, in order, among the system's fonts when none of [`FONT_PATHS`] exists.
const FAMILIES: &[&str] = &[
    "DejaVu Sans",
    "Liberation Sans",
    "Arial",
    "Helvetica",
    "Noto Sans",
    "Segoe UI",
    "Verdana",
];

/// A face for the figures' text among the fonts found in `dirs` (searched recursively), or in
/// the system's font folders when `dirs` is `None` (by the [`fontdb`] crate: fontconfig's
/// folders on Linux, the usual ones on macOS and Windows). The first of [`FAMILIES`] present
/// wins, in its regular weight or the nearest; without any of them, an upright face before a
/// slanted one, a proportional before a monospaced one, the regular weight before others.
/// Returns the font file's bytes (for a collection, `plotters` draws with its first face).
pub(crate) fn find_font(dirs: Option<&[&Path]>) -> Option<Vec<u8>> {
    use fontdb::{Database, Family, Query, Style};
    let mut db = Database::new();
    match dirs {
        None => db.load_system_fonts(),
        Some(dirs) => dirs.iter().for_each(|d| db.load_fonts_dir(d)),
    }
    let families: Vec<Family> = FAMILIES.iter().map(|&f| Family::Name(f)).collect();
    let query = Query {
        families: &families,
        ..Query::default()
    };
    let id = db.query(&query).or_else(|| {
        db.faces()
            .min_by_key(|f| {
                let slanted = f.style != Style::Normal;
                (slanted, f.monospaced, f.weight.0.abs_diff(400), f.index)
            })
            .map(|f| f.id)
    })?;
    db.with_face_data(id, |data, _| data.to_vec())
}

/// Whether a font was found for the figures' text (looked up once): the `.ttf` file `NN_FONT`
/// names, then common places (DejaVu Sans, Liberation Sans, Arial), then a scan of the
/// system's font folders for a sans-serif face.
pub fn font_available() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let register = |bytes: Vec<u8>| {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        };
        let env = std::env::var("NN_FONT").ok();
        let candidates = env
            .iter()
            .map(String::as_str)
            .chain(FONT_PATHS.iter().copied());
        for (i, p) in candidates.enumerate() {
            // A font the user named that cannot be used is said, not skipped in silence.
            let named = env.is_some() && i == 0;
            match std::fs::read(p) {
                Ok(bytes) => {
                    if register(bytes) {
                        return true;
                    }
                    if named {
                        eprintln!("note: NN_FONT={p} is not a TrueType font; looking elsewhere");
                    }
                }
                Err(e) if named => eprintln!("note: NN_FONT={p}: {e}; looking elsewhere"),
                Err(_) => {}
            }
        }
        if find_font(None).is_some_and(register) {
            return true;
        }
        eprintln!(
            "note: no TrueType font found (set NN_FONT to a .ttf file); figures have no text"
        );
        false
    })
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        error: std::io::Error::other(format!("drawing failed: {e}")),
    }
}

/// Renders `draw` into `path` as PNG or SVG (by extension), atomically.
fn render(
    path: &Path,
    draw: impl Fn(DrawingArea<BitMapBackend, Shift>) -> Result<()>,
    draw_svg: impl Fn(DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<()> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    render_atomic(path, |tmp| match ext.as_str() {
        "png" => draw(BitMapBackend::new(tmp, SIZE).into_drawing_area()),
        "svg" => draw_svg(SVGBackend::new(tmp, SIZE).into_drawing_area()),
        _ => Err(Error::invalid(format!(
            "{}: figures are written as .png or .svg",
            path.display()
        ))),
    })
}

/// The book's loss plot: x `iterations (x{eval_interval})`, y `loss`, optional y-limits.
pub fn loss_curve(
    path: &Path,
    losses: &[f64],
    eval_interval: usize,
    ylim: Option<(f64, f64)>,
) -> Result<()> {
    if losses.is_empty() {
        return Err(Error::Empty("the loss list (nothing was recorded)".into()));
    }
    let xlabel = format!("iterations (x{eval_interval})");
    curve(path, losses, &xlabel, "loss", ylim)
}

/// One curve of `values` against their index (`train` in the legend), with axis labels and
/// optional y-limits: the book's plots of losses and perplexities.
pub fn curve(
    path: &Path,
    values: &[f64],
    xlabel: &str,
    ylabel: &str,
    ylim: Option<(f64, f64)>,
) -> Result<()> {
    if values.is_empty() {
        return Err(Error::Empty(format!(
            "the {ylabel} list (nothing was recorded)"
        )));
    }
    let points = values
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as f64, l))
        .collect();
    lines(path, xlabel, ylabel, &[("train".into(), points)], ylim)
}

/// matplotlib's default colours C0, C1, C2 for the data points.
const POINTS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
];
/// Light viridis tones for the class regions (the book's `contourf` default colour map).
const REGIONS: [RGBColor; 3] = [
    RGBColor(178, 160, 196),
    RGBColor(150, 206, 202),
    RGBColor(254, 244, 160),
];

/// Draws the data points with the book's markers `o`, `x`, `^` per class, mapping data
/// coordinates into the drawing area by `to_px`.
fn draw_points<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &Dataset,
    to_px: impl Fn(f64, f64) -> (i32, i32),
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (i, &label) in data.labels().iter().enumerate() {
        let r = data.row(i);
        let p = to_px(r[0], r[1]);
        let c = POINTS[label as usize % POINTS.len()];
        match label % 3 {
            0 => root.draw(&Circle::new(p, 4, c.filled()))?,
            1 => root.draw(&Cross::new(p, 4, c.stroke_width(2)))?,
            _ => root.draw(&TriangleMarker::new(p, 5, c.filled()))?,
        }
    }
    Ok(())
}

/// The spiral's scatter plot (the book's figure 1-31): one marker shape per class.
pub fn scatter(path: &Path, data: &Dataset) -> Result<()> {
    if data.cols() != 2 {
        return Err(Error::invalid("a scatter plot needs 2-D inputs"));
    }
    let range = |c: usize| {
        let (lo, hi) = data.column_range(c);
        (lo - 0.1)..(hi + 0.1)
    };
    let (xr, yr) = (range(0), range(1));
    macro_rules! draw {
        ($root:expr) => {{
            let root = $root;
            root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
            let text = if font_available() { 30 } else { 0 };
            let mut chart = ChartBuilder::on(&root)
                .margin(15)
                .x_label_area_size(text)
                .y_label_area_size(text + 10)
                .build_cartesian_2d(xr.clone(), yr.clone())
                .map_err(|e| plot_err(path, e))?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(if font_available() { 5 } else { 0 })
                .y_labels(if font_available() { 5 } else { 0 })
                .draw()
                .map_err(|e| plot_err(path, e))?;
            let area = chart.plotting_area().clone();
            let to_px = |x: f64, y: f64| area.map_coordinate(&(x, y));
            draw_points(&root, data, to_px).map_err(|e| plot_err(path, e))?;
            root.present().map_err(|e| plot_err(path, e))
        }};
    }
    render(path, |root| draw!(root), |root| draw!(root))
}

/// The book's decision-boundary figure: class regions, then the data points, axes off.
pub fn decision_boundary(path: &Path, b: &Boundary, data: &Dataset) -> Result<()> {
    if b.nx == 0 || b.ny == 0 {
        return Err(Error::Empty("the decision-boundary grid".into()));
    }
    // A `Boundary` has public fields: one built by hand must still describe its grid.
    if b.nx.checked_mul(b.ny) != Some(b.classes.len()) {
        return Err(Error::shape(
            "plot::decision_boundary",
            format!(
                "{} classes for a grid of {} × {} points",
                b.classes.len(),
                b.nx,
                b.ny
            ),
        ));
    }
    if !(b.h.is_finite() && b.h > 0.0 && b.x_min.is_finite() && b.y_min.is_finite()) {
        return Err(Error::invalid(format!(
            "grid origin ({}, {}) and step {} must be finite, the step > 0",
            b.x_min, b.y_min, b.h
        )));
    }
    let (w, h) = SIZE;
    let (span_x, span_y) = (b.nx as f64 * b.h, b.ny as f64 * b.h);
    let to_px = |x: f64, y: f64| {
        (
            ((x - b.x_min) / span_x * w as f64) as i32,
            ((1.0 - (y - b.y_min) / span_y) * h as f64) as i32,
        )
    };
    macro_rules! draw {
        ($root:expr) => {{
            let root = $root;
            for py in 0..h {
                let gy = ((1.0 - (py as f64 + 0.5) / h as f64) * b.ny as f64) as usize;
                let gy = gy.min(b.ny - 1);
                for px in 0..w {
                    let gx = (((px as f64 + 0.5) / w as f64) * b.nx as f64) as usize;
                    let c = b.classes[gy * b.nx + gx.min(b.nx - 1)];
                    root.draw_pixel((px as i32, py as i32), &REGIONS[c as usize % 3])
                        .map_err(|e| plot_err(path, e))?;
                }
            }
            draw_points(&root, data, to_px).map_err(|e| plot_err(path, e))?;
            root.present().map_err(|e| plot_err(path, e))
        }};
    }
    render(path, |root| draw!(root), |root| draw!(root))
}

/// A line chart of named series (the loss curve; the bench report's CPU-against-GPU
/// crossover), PNG or SVG, with optional y-limits; a legend when there are several series.
///
/// Every point must be finite (a NaN or infinite loss is an error, as in training), and
/// `ylim`, when given, finite with its lower limit below the upper.
pub fn lines(
    path: &Path,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    ylim: Option<(f64, f64)>,
) -> Result<()> {
    if let Some((name, _)) = series
        .iter()
        .find(|(_, v)| v.iter().any(|(x, y)| !(x.is_finite() && y.is_finite())))
    {
        return Err(Error::NonFinite(format!("the series {name:?} to plot")));
    }
    if let Some((lo, hi)) = ylim {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(Error::invalid(format!(
                "ylim must be two finite numbers, the lower first, got ({lo}, {hi})"
            )));
        }
    }
    let pts = series.iter().flat_map(|(_, v)| v.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if !x0.is_finite() {
        return Err(Error::Empty("the series to plot".into()));
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9);
    let (ylo, yhi) = ylim.unwrap_or((y0 - pad, y1 + pad));
    if !(yhi - ylo).is_finite() || !(x1 - x0).is_finite() {
        return Err(Error::invalid(format!(
            "the values to plot span more than an f64 holds: x {x0:e}..{x1:e}, y {ylo:e}..{yhi:e}"
        )));
    }
    let legend = series.len() > 1 && font_available();
    macro_rules! draw {
        ($root:expr) => {{
            let root = $root;
            root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
            let text = font_available();
            let mut chart = ChartBuilder::on(&root);
            chart.margin(15);
            if text {
                chart.x_label_area_size(40).y_label_area_size(60);
            }
            let mut chart = chart
                .build_cartesian_2d(x0..x1.max(x0 + 1e-9), ylo..yhi)
                .map_err(|e| plot_err(path, e))?;
            let mut mesh = chart.configure_mesh();
            if text {
                mesh.x_desc(x_desc).y_desc(y_desc);
            } else {
                mesh.x_labels(0).y_labels(0);
            }
            mesh.draw().map_err(|e| plot_err(path, e))?;
            for (i, (name, v)) in series.iter().enumerate() {
                let c = POINTS[i % POINTS.len()];
                let s = chart
                    .draw_series(LineSeries::new(v.iter().copied(), c.stroke_width(2)))
                    .map_err(|e| plot_err(path, e))?;
                if legend {
                    s.label(name.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                    });
                }
            }
            if legend {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| plot_err(path, e))?;
            }
            root.present().map_err(|e| plot_err(path, e))
        }};
    }
    render(path, |root| draw!(root), |root| draw!(root))
}

#[cfg(test)]
mod tests {
    use super::find_font;
    use std::path::Path;

    const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu";

    /// Copies `names` from Debian's DejaVu folder into a nested folder of a new temporary
    /// directory as `0.ttf`, `1.ttf`, … (so that the order a folder lists them in is not
    /// their names'), with a file that is not a font beside them; `None` where DejaVu is
    /// missing.
    fn folder_with(names: &[&str]) -> Option<tempfile::TempDir> {
        if !Path::new(DEJAVU).join("DejaVuSans.ttf").exists() {
            eprintln!("SKIPPED: no DejaVu fonts in {DEJAVU} (Debian's fonts-dejavu-core)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a").join("b");
        std::fs::create_dir_all(&sub).unwrap();
        for (i, n) in names.iter().enumerate() {
            std::fs::copy(Path::new(DEJAVU).join(n), sub.join(format!("{i}.ttf"))).unwrap();
        }
        std::fs::write(sub.join("junk.ttf"), b"not a font").unwrap();
        Some(dir)
    }

    fn bytes_of(name: &str) -> Vec<u8> {
        std::fs::read(Path::new(DEJAVU).join(name)).unwrap()
    }

    /// Asserts that a scan of a folder holding `files` picks `want`, with the files copied in
    /// both orders, so that a tie cannot pass by the order the folder lists them in.
    fn assert_scan_picks(files: &[&str], want: &str) {
        let reversed: Vec<&str> = files.iter().rev().copied().collect();
        for files in [files, &reversed[..]] {
            let Some(dir) = folder_with(files) else {
                return;
            };
            let found = find_font(Some(&[dir.path()])).expect("a face");
            assert!(found == bytes_of(want), "not {want} from {files:?}");
        }
    }

    #[test]
    fn a_scan_prefers_the_regular_sans_serif_face() {
        let files = [
            "DejaVuSansMono.ttf",
            "DejaVuSans-Bold.ttf",
            "DejaVuSerif.ttf",
            "DejaVuSans.ttf",
        ];
        assert_scan_picks(&files, "DejaVuSans.ttf");
    }

    // The system's font folders are Debian's only on Linux (elsewhere `DEJAVU` may still be
    // reachable: Wine maps `/usr/share/…` to drive Z:).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_system_scan_finds_debians_dejavu_sans() {
        if folder_with(&[]).is_none() {
            return;
        }
        let t = std::time::Instant::now();
        let found = find_font(None).expect("a face among the system's fonts");
        eprintln!("system scan: {:?}", t.elapsed());
        assert!(found == bytes_of("DejaVuSans.ttf"), "not DejaVu Sans");
    }

    #[test]
    fn a_scan_prefers_the_family_to_the_weight() {
        let files = ["DejaVuSerif.ttf", "DejaVuSans-Bold.ttf"];
        assert_scan_picks(&files, "DejaVuSans-Bold.ttf");
    }

    #[test]
    fn without_a_known_family_a_scan_ranks_style_then_spacing_then_weight() {
        for (files, want) in [
            (
                &["DejaVuSansMono.ttf", "DejaVuSerif-Italic.ttf"][..],
                "DejaVuSansMono.ttf",
            ),
            (
                &["DejaVuSansMono.ttf", "DejaVuSerif-Bold.ttf"],
                "DejaVuSerif-Bold.ttf",
            ),
            (
                &["DejaVuSerif-Bold.ttf", "DejaVuSerif.ttf"],
                "DejaVuSerif.ttf",
            ),
            (&["DejaVuSerif-Italic.ttf"], "DejaVuSerif-Italic.ttf"),
        ] {
            assert_scan_picks(files, want);
        }
        let Some(empty) = folder_with(&[]) else {
            return;
        };
        assert!(find_font(Some(&[empty.path()])).is_none());
    }
}
