//! Rendering: records as a table, JSON or CSV on stdout ([`Output`]);
//! status lines and details on stderr ([`Messages`]).
//!
//! A record type is described once, by its `Serialize` impl (the JSON
//! field names) and its [`Record::COLUMNS`] (which of those fields a table
//! or CSV shows, in what order). Tables and CSV are derived from the JSON
//! value, so the three formats cannot drift apart.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use comfy_table::{ContentArrangement, ContentLineStyle, LineStyle, Table, TableStyle, presets};
use serde::Serialize;
use serde_json::Value;

use crate::cli::Format;
use crate::registry::inventory::csv_to_io;

mod wire_log;

pub use wire_log::WireLog;

/// One column of a record: a JSON field name, and whether the table shows it
/// (CSV and JSON always carry every column).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub field: &'static str,
    pub in_table: bool,
}

impl Column {
    pub const fn shown(field: &'static str) -> Self {
        Self { field, in_table: true }
    }

    /// A column left out of tables to keep them narrow.
    pub const fn wide(field: &'static str) -> Self {
        Self { field, in_table: false }
    }
}

/// Something printed as a row of a table.
pub trait Record: Serialize {
    const COLUMNS: &'static [Column];
}

/// A command's results on stdout, in the format the user chose.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    format: Format,
    layout: Layout,
}

/// How a table is laid out, like psql's `\x`: `Auto` turns expanded when
/// the table is wider than the terminal, as no value is ever wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    #[default]
    Auto,
    /// Every record as a block of `field | value` lines (`--expanded`).
    Expanded,
    /// A table with every column, the wide ones too (`--wide`).
    Wide,
}

impl Output {
    pub fn new(format: Format) -> Self {
        Self { format, layout: Layout::Auto }
    }

    pub fn with_layout(self, layout: Layout) -> Self {
        Self { layout, ..self }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// True when stdout carries a document for a program.
    pub fn is_machine_readable(&self) -> bool {
        matches!(self.format, Format::Json | Format::Csv)
    }

    /// Prints records, one per row.
    pub fn list<R: Record>(&self, records: &[R]) -> io::Result<()> {
        let values = to_values(records)?;
        let mut out = io::stdout().lock();
        match self.format {
            Format::Json => write_json(&mut out, &values),
            Format::Csv => write_csv(&mut out, R::COLUMNS, &values),
            Format::Table | Format::Toml => {
                let text = render_list(R::COLUMNS, &values, self.layout, terminal_width());
                write!(out, "{text}")
            }
        }
    }

    /// Prints one record: in a table, one field per line.
    pub fn one<R: Record>(&self, record: &R) -> io::Result<()> {
        let value = serde_json::to_value(record).map_err(io::Error::other)?;
        let mut out = io::stdout().lock();
        match self.format {
            Format::Json => write_json(&mut out, &value),
            Format::Csv => write_csv(&mut out, R::COLUMNS, std::slice::from_ref(&value)),
            Format::Table | Format::Toml => {
                let mut table = new_table(presets::NOTHING);
                for column in R::COLUMNS {
                    table.add_row([column.field.to_owned(), table_cell(&value[column.field])]);
                }
                writeln!(out, "{}", table.trim_fmt())
            }
        }
    }
}

/// `result` of printing a change's results, with a closed stdout (`| head`)
/// counted as printed: what the change did still decides the exit code and
/// the hints.
pub fn unless_closed(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// A progress bar on stderr for work on several targets. Nothing at all
/// when stderr is not a terminal, with `-q`, or for a single target.
#[derive(Debug)]
pub struct Progress(indicatif::ProgressBar);

/// The bar on the screen, if any, so that a prompt can take it off first.
static ON_SCREEN: std::sync::Mutex<Option<indicatif::ProgressBar>> = std::sync::Mutex::new(None);

fn on_screen() -> std::sync::MutexGuard<'static, Option<indicatif::ProgressBar>> {
    ON_SCREEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `ask` (a prompt on the terminal) with the progress bar off the
/// screen, so that no update draws over the question or the answer; the
/// work goes on meanwhile, and the bar comes back afterwards.
pub fn without_progress<R>(ask: impl FnOnce() -> R) -> R {
    let bar = on_screen().clone();
    if let Some(bar) = &bar {
        // Hidden first, so that no draw comes between the clearing and
        // the question.
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        let _ = write!(io::stderr(), "\r\x1b[2K");
    }
    let answer = ask();
    if let Some(bar) = &bar {
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        bar.tick();
    }
    answer
}

/// Runs `print` (lines on stderr) with the progress bar, if any, off the
/// screen, and draws the bar again below them.
pub fn above_progress(print: impl FnOnce()) {
    let bar = on_screen().clone();
    match bar {
        Some(bar) => bar.suspend(print),
        None => print(),
    }
}

impl Progress {
    pub fn new(total: usize, messages: &Messages) -> Progress {
        use std::io::IsTerminal;
        if total < 2 || messages.quiet || !io::stderr().is_terminal() {
            return Progress(indicatif::ProgressBar::hidden());
        }
        let style = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} targets {elapsed}",
        )
        .expect("the template is valid")
        .progress_chars("=> ");
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total as u64),
            indicatif::ProgressDrawTarget::stderr(),
        )
        .with_style(style)
        .with_prefix("pgacct");
        // Hidden all the same where indicatif finds no terminal it can draw on.
        if !bar.is_hidden() {
            *on_screen() = Some(bar.clone());
        }
        Progress(bar)
    }

    /// `done` more targets are finished.
    pub fn advance(&self, done: usize) {
        self.0.inc(done as u64);
    }

    /// Takes the bar off the screen before the results are printed.
    pub fn finish(&self) {
        self.0.finish_and_clear();
        on_screen().take();
    }
}

/// Messages for people on stderr: never data.
#[derive(Debug, Clone, Copy)]
pub struct Messages {
    quiet: bool,
    verbose: u8,
}

impl Messages {
    pub fn new(quiet: bool, verbose: u8) -> Self {
        Self { quiet, verbose }
    }

    /// A line about what happened; `-q` silences it.
    pub fn status(&self, message: &str) {
        if !self.quiet {
            let _ = writeln!(anstream::stderr(), "{}", for_terminal(message));
        }
    }

    /// Something the user should look at; shown even with `-q`.
    #[allow(clippy::unused_self)] // a method like the others, for one way to speak
    pub fn warn(&self, message: &str) {
        let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold();
        let message = for_terminal(message);
        let _ = writeln!(anstream::stderr(), "{yellow}warning:{yellow:#} {message}");
    }

    /// Advice after a result; shown even with `-q`.
    #[allow(clippy::unused_self)] // a method like the others, for one way to speak
    pub fn hint(&self, message: &str) {
        let cyan = Style::new().fg_color(Some(AnsiColor::Cyan.into())).bold();
        let message = for_terminal(message);
        let _ = writeln!(anstream::stderr(), "{cyan}hint:{cyan:#} {message}");
    }

    /// Each distinct hint once, in order.
    pub fn hints<'a>(&self, hints: impl IntoIterator<Item = &'a str>) {
        let mut shown: Vec<&str> = Vec::new();
        for hint in hints {
            if !shown.contains(&hint) {
                self.hint(hint);
                shown.push(hint);
            }
        }
    }

    /// A detail shown with `-v`.
    pub fn detail(&self, message: &str) {
        if self.verbose > 0 {
            let dim = Style::new().dimmed();
            let message = for_terminal(message);
            let _ = writeln!(anstream::stderr(), "{dim}{message}{dim:#}");
        }
    }
}

fn to_values<R: Serialize>(records: &[R]) -> io::Result<Vec<Value>> {
    records.iter().map(|r| serde_json::to_value(r).map_err(io::Error::other)).collect()
}

/// psql's aligned format, which DBAs read without thinking.
const PSQL_STYLE: TableStyle = TableStyle::new()
    .header_lines(ContentLineStyle::none().junction('|'))
    .header_separator(LineStyle::none().fill('-').junction('+'))
    .content_lines(ContentLineStyle::none().junction('|'));

/// A table that never wraps a cell: a value split over two lines is a value
/// misread (`127.0.0.1:` and `26010`); a table too wide for the terminal
/// turns expanded instead (see [`render_list`]).
fn new_table(style: TableStyle) -> Table {
    let mut table = Table::new();
    table.load_style(style).set_content_arrangement(ContentArrangement::Disabled);
    table
}

/// The width of the terminal stdout is on, if it is on one.
fn terminal_width() -> Option<usize> {
    Table::new().width().map(usize::from).filter(|w| *w > 0)
}

/// Records as text for people, each line ending in a newline: a psql-style
/// table, or expanded blocks when asked for or when the table would be
/// wider than `width` (the terminal's; `None` when piped, where lines may
/// be as long as they are).
fn render_list(
    columns: &[Column],
    values: &[Value],
    layout: Layout,
    width: Option<usize>,
) -> String {
    let all: Vec<&Column> = columns.iter().collect();
    if layout == Layout::Expanded {
        return expanded(&all, values);
    }
    let shown: Vec<&Column> = if layout == Layout::Wide {
        all.clone()
    } else {
        all.iter().copied().filter(|c| c.in_table).collect()
    };
    let mut table = new_table(PSQL_STYLE);
    table.set_header(shown.iter().map(|c| c.field));
    for value in values {
        table.add_row(shown.iter().map(|c| table_cell(&value[c.field])));
    }
    if let Some(width) = width
        && !values.is_empty()
        && table_width(&table) > width
    {
        return expanded(&all, values);
    }
    format!("{}\n", table.trim_fmt())
}

/// The width of a [`PSQL_STYLE`] table's lines: each column with a space
/// either side, and a `|` between columns.
fn table_width(table: &Table) -> usize {
    let widths = table.column_max_content_widths();
    let columns = widths.len();
    widths.iter().map(|w| usize::from(*w) + 2).sum::<usize>() + columns.saturating_sub(1)
}

/// psql's expanded display (`\x`): a `-[ RECORD n ]-` line, then one
/// `field | value` line per column, every column shown, the wide ones too.
fn expanded(columns: &[&Column], values: &[Value]) -> String {
    let name_width = columns.iter().map(|c| c.field.chars().count()).max().unwrap_or(0);
    let mut text = String::new();
    for (n, value) in values.iter().enumerate() {
        let cells: Vec<String> = columns.iter().map(|c| table_cell(&value[c.field])).collect();
        let value_width = cells.iter().map(|c| c.chars().count()).max().unwrap_or(0);
        // As psql draws it: a `+` above the `|` when the label leaves room.
        let label = format!("-[ RECORD {} ]", n + 1);
        let total = name_width + 3 + value_width;
        if label.chars().count() < name_width + 1 {
            let left = name_width + 1;
            let _ = writeln!(text, "{label:-<left$}+{:-<width$}", "", width = value_width + 1);
        } else {
            let _ = writeln!(text, "{label:-<total$}");
        }
        for (column, cell) in columns.iter().zip(&cells) {
            let line = format!("{:<name_width$} | {cell}", column.field);
            let _ = writeln!(text, "{}", line.trim_end());
        }
    }
    text
}

fn write_json(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

fn write_csv(out: &mut impl Write, columns: &[Column], values: &[Value]) -> io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(columns.iter().map(|c| c.field)).map_err(csv_to_io)?;
    for value in values {
        writer
            .write_record(columns.iter().map(|c| csv_cell(&value[c.field])))
            .map_err(csv_to_io)?;
    }
    writer.flush()
}

/// A value as a table shows it: on one line, with control characters
/// escaped (see [`for_terminal`]).
fn table_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::String(s) => escape_controls(s, false).into_owned(),
        Value::Array(items) => items.iter().map(table_cell).collect::<Vec<_>>().join(", "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{}: {}", escape_controls(k, false), table_cell(v)))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// `text` made safe for a terminal: control characters (ESC, BEL, CR, the
/// C1 range) and the bidirectional overrides that reorder what is shown
/// are written as escapes (`\u{1b}`, `\r`), so a stored value can neither
/// drive the terminal nor hide what follows it. Newlines are kept: messages
/// may span lines. JSON and CSV output stays faithful and does not use it.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    escape_controls(text, true)
}

fn escape_controls(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && !(keep_newlines && c == '\n'))
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            shown.extend(c.escape_debug());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

fn csv_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(csv_cell).collect::<Vec<_>>().join(","),
        Value::Object(map) => {
            map.iter().map(|(k, v)| format!("{k}={}", csv_cell(v))).collect::<Vec<_>>().join(";")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_render_per_format() {
        assert_eq!(table_cell(&json!(true)), "yes");
        assert_eq!(csv_cell(&json!(true)), "true");
        assert_eq!(table_cell(&json!(null)), "");
        assert_eq!(table_cell(&json!(["a", "b"])), "a, b");
        assert_eq!(csv_cell(&json!(5432)), "5432");
    }

    const COLUMNS: &[Column] =
        &[Column::shown("cluster"), Column::shown("role"), Column::wide("notes")];

    fn rows() -> Vec<Value> {
        vec![
            json!({"cluster": "127.0.0.1:26010", "role": "app", "notes": "a long note"}),
            json!({"cluster": "10.0.0.2:5432", "role": "reporting_readonly", "notes": null}),
        ]
    }

    #[test]
    fn a_table_that_fits_is_a_table_with_values_whole() {
        let text = render_list(COLUMNS, &rows(), Layout::Auto, Some(80));
        assert_eq!(
            text,
            " cluster         | role\n\
             -----------------+--------------------\n \
             127.0.0.1:26010 | app\n \
             10.0.0.2:5432   | reporting_readonly\n"
        );
        let longest = text.lines().map(str::len).max().unwrap();
        let table = {
            let mut t = new_table(PSQL_STYLE);
            t.set_header(["cluster", "role"]);
            t.add_row(["127.0.0.1:26010", "app"]);
            t.add_row(["10.0.0.2:5432", "reporting_readonly"]);
            t
        };
        assert_eq!(table_width(&table), longest, "the measure matches what is drawn");
        // Piped: no width, never wrapped, never expanded.
        let piped = render_list(COLUMNS, &rows(), Layout::Auto, None);
        assert_eq!(piped, text);
        assert!(render_list(COLUMNS, &rows(), Layout::Wide, None).contains("a long note"));
    }

    #[test]
    fn a_table_wider_than_the_terminal_turns_expanded() {
        let text = render_list(COLUMNS, &rows(), Layout::Auto, Some(20));
        assert_eq!(
            text,
            "-[ RECORD 1 ]------------\n\
             cluster | 127.0.0.1:26010\n\
             role    | app\n\
             notes   | a long note\n\
             -[ RECORD 2 ]---------------\n\
             cluster | 10.0.0.2:5432\n\
             role    | reporting_readonly\n\
             notes   |\n"
        );
        assert_eq!(render_list(COLUMNS, &rows(), Layout::Expanded, None), text);
        assert_eq!(
            render_list(COLUMNS, &[], Layout::Auto, Some(5)),
            " cluster | role\n---------+------\n"
        );
    }

    #[test]
    fn control_characters_never_reach_the_terminal_raw() {
        let hostile = "a\u{1b}]0;owned\u{7}b\rc\u{9b}d\u{202e}e\tf\ng";
        let cell = table_cell(&json!(hostile));
        assert_eq!(cell, r"a\u{1b}]0;owned\u{7}b\rc\u{9b}d\u{202e}e\tf\ng");
        assert!(!cell.contains(|c: char| c.is_control()));
        assert_eq!(for_terminal("one\ntwo\u{1b}[2J"), "one\ntwo\\u{1b}[2J");
        assert!(matches!(for_terminal("plain, ünïcode"), Cow::Borrowed(_)));
        assert_eq!(csv_cell(&json!(hostile)), hostile, "CSV stays faithful");
        let key = table_cell(&json!({"k\u{1b}": "v"}));
        assert_eq!(key, r"k\u{1b}: v");
    }
}
