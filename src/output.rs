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
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anstyle::{AnsiColor, Style};
use comfy_table::{ContentArrangement, ContentLineStyle, LineStyle, Table, TableStyle, presets};
use serde::Serialize;
use serde_json::Value;

use crate::cli::Format;
use crate::registry::inventory::csv_to_io;

mod wire_log;

pub use wire_log::WireLog;

/// One column of a record: a JSON field name, when a table shows it (CSV
/// and JSON always carry every column), and how a table writes its value.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub field: &'static str,
    shown: Shown,
    /// The value as a table shows it, given the whole record too, when the
    /// JSON value alone does not say it well (`-1` is `unlimited`).
    display: Option<fn(&Value, &Value) -> String>,
}

/// When a table (not the expanded layout, which shows every field) has a
/// column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    Always,
    /// When a row has a value there: an `error` column when something
    /// failed, not an empty one on every success.
    IfAny,
    /// With `--wide` only.
    Wide,
}

impl Column {
    pub const fn shown(field: &'static str) -> Self {
        Self { field, shown: Shown::Always, display: None }
    }

    /// A column a table has only when some row has a value in it.
    pub const fn if_any(field: &'static str) -> Self {
        Self { shown: Shown::IfAny, ..Self::shown(field) }
    }

    /// A column left out of tables to keep them narrow.
    pub const fn wide(field: &'static str) -> Self {
        Self { shown: Shown::Wide, ..Self::shown(field) }
    }

    /// The column, its values written by `display(value, record)`.
    pub const fn displayed(self, display: fn(&Value, &Value) -> String) -> Self {
        Self { display: Some(display), ..self }
    }

    /// The cell of `record` in this column, as a table shows it.
    fn cell(&self, record: &Value) -> String {
        match self.display {
            Some(display) => display(&record[self.field], record),
            None => table_cell(&record[self.field]),
        }
    }

    /// Whether a table of `records` has this column, in `layout`.
    fn in_table(&self, records: &[Value], layout: Layout) -> bool {
        match self.shown {
            Shown::Always => true,
            Shown::Wide => layout == Layout::Wide,
            Shown::IfAny => records.iter().any(|r| !is_empty(&r[self.field])),
        }
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// A connection limit as people say it: `-1` is `unlimited`.
pub fn connection_limit(limit: &Value, _: &Value) -> String {
    match limit.as_i64() {
        Some(-1) => "unlimited".into(),
        _ => table_cell(limit),
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

    /// Prints records, one per row. When there are none, a table is
    /// `nothing` in one line on stderr and nothing on stdout; CSV is its
    /// header and JSON an empty list, which a program reads as they are.
    pub fn list_or_say<R: Record>(
        &self,
        records: &[R],
        messages: &Messages,
        nothing: &str,
    ) -> io::Result<()> {
        if !records.is_empty() {
            return self.list(records);
        }
        if self.is_machine_readable() {
            return self.list(records);
        }
        messages.status(nothing);
        Ok(())
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
                    table.add_row([column.field.to_owned(), column.cell(&value)]);
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

/// A progress bar on stderr for work on several targets: how many are
/// done, a clock that ticks even while nothing finishes, and, once work on
/// a cluster has taken longer than [`SLOW`], which clusters it waits for.
/// Nothing at all when stderr is not a terminal, with `-q`, or for a
/// single target.
#[derive(Debug)]
pub struct Progress {
    bar: indicatif::ProgressBar,
    in_flight: Arc<Mutex<InFlight>>,
}

/// How long work on a cluster runs before the bar names it.
const SLOW: Duration = Duration::from_secs(2);

/// How often the bar is redrawn when nothing else happens: often enough
/// for the clock to tick every second.
const TICK: Duration = Duration::from_millis(200);

/// The clusters being worked on, oldest first.
#[derive(Debug, Default)]
struct InFlight {
    next_id: u64,
    work: Vec<(u64, String, Instant)>,
}

impl InFlight {
    /// The clusters worked on for longer than [`SLOW`] at `now`, oldest
    /// first, each named once.
    fn slow(&self, now: Instant) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for (_, name, since) in &self.work {
            if now.duration_since(*since) > SLOW && !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        names
    }
}

/// Work on one cluster, shown as pending on the bar until it is
/// [`done`](Work::done) (or dropped), which counts its targets as finished.
#[must_use = "the work counts as done when this is dropped"]
#[derive(Debug)]
pub struct Work<'p> {
    progress: &'p Progress,
    id: Option<u64>,
    targets: usize,
}

impl Work<'_> {
    /// The work is finished: its targets count as done, and its cluster is
    /// no longer pending.
    pub fn done(self) {
        drop(self);
    }
}

impl Drop for Work<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            lock(&self.progress.in_flight).work.retain(|(work, ..)| *work != id);
        }
        self.progress.bar.inc(self.targets as u64);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The bar on the screen, if any, so that a prompt can take it off first.
static ON_SCREEN: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// Runs `ask` (a prompt on the terminal) with the progress bar off the
/// screen, so that no update draws over the question or the answer; the
/// work goes on meanwhile (and the clock with it, undrawn), and the bar
/// comes back afterwards.
pub fn without_progress<R>(ask: impl FnOnce() -> R) -> R {
    let bar = lock(&ON_SCREEN).clone();
    if let Some(bar) = &bar {
        // Hidden first, so that no draw (the steady tick's included) comes
        // between the clearing and the question.
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        let _ = write!(io::stderr(), "\r\x1b[2K");
    }
    let answer = ask();
    if let Some(bar) = &bar {
        // The steady tick draws it again within one tick.
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    answer
}

/// Runs `print` (lines on stderr) with the progress bar, if any, off the
/// screen, and draws the bar again below them.
pub fn above_progress(print: impl FnOnce()) {
    let bar = lock(&ON_SCREEN).clone();
    match bar {
        Some(bar) => bar.suspend(print),
        None => print(),
    }
}

impl Progress {
    /// The bar of a fan-out over `total` targets.
    pub fn new(total: usize, messages: &Messages) -> Progress {
        Progress::named("pgacct", total, messages)
    }

    /// The bar of a change's plan, read from `total` targets before
    /// anything is changed.
    pub fn planning(total: usize, messages: &Messages) -> Progress {
        Progress::named("planning", total, messages)
    }

    fn named(prefix: &'static str, total: usize, messages: &Messages) -> Progress {
        use std::io::IsTerminal;
        let in_flight = Arc::new(Mutex::new(InFlight::default()));
        if total < 2 || messages.quiet || !io::stderr().is_terminal() {
            return Progress { bar: indicatif::ProgressBar::hidden(), in_flight };
        }
        let columns = terminal_width().unwrap_or(80);
        // A narrower bar on a narrow terminal leaves room for the names.
        let bar_width = (columns / 5).clamp(10, 30);
        let status = {
            let in_flight = Arc::clone(&in_flight);
            // What the line holds before the status: the prefix, the bar
            // in brackets, and a space each side.
            let before = prefix.len() + bar_width + 4;
            move |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                let columns = terminal_width().unwrap_or(columns);
                let in_flight = lock(&in_flight);
                let line = status_line(
                    state.pos(),
                    state.len().unwrap_or(0),
                    state.elapsed(),
                    &in_flight.slow(Instant::now()),
                    // One column spare: a line that fills the last column
                    // wraps on some terminals.
                    columns.saturating_sub(before + 1),
                );
                let _ = out.write_str(&line);
            }
        };
        let style = indicatif::ProgressStyle::with_template(&format!(
            "{{prefix}} [{{bar:{bar_width}}}] {{status}}"
        ))
        .expect("the template is valid")
        .with_key("status", status)
        .progress_chars("=> ");
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total as u64),
            indicatif::ProgressDrawTarget::stderr(),
        )
        .with_style(style)
        .with_prefix(prefix);
        // Hidden all the same where indicatif finds no terminal it can draw on.
        if !bar.is_hidden() {
            // Drawn at once: work that ends within the first tick shows
            // its bar all the same.
            bar.tick();
            bar.enable_steady_tick(TICK);
            *lock(&ON_SCREEN) = Some(bar.clone());
        }
        Progress { bar, in_flight }
    }

    /// Work on `cluster` (`host:port`) for `targets` of the targets begins;
    /// the cluster is pending until the returned [`Work`] is done.
    pub fn start(&self, cluster: &str, targets: usize) -> Work<'_> {
        if self.bar.is_hidden() {
            return Work { progress: self, id: None, targets };
        }
        let mut in_flight = lock(&self.in_flight);
        let id = in_flight.next_id;
        in_flight.next_id += 1;
        in_flight.work.push((id, for_terminal(cluster).into_owned(), Instant::now()));
        Work { progress: self, id: Some(id), targets }
    }

    /// Takes the bar off the screen before the results are printed.
    pub fn finish(&self) {
        if self.bar.is_finished() {
            return;
        }
        self.bar.finish_and_clear();
        if !self.bar.is_hidden() {
            lock(&ON_SCREEN).take();
        }
    }
}

/// A bar that ends early (an error, an interrupt) leaves the screen all the
/// same, and its clock stops.
impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// What follows the bar: `3/10 targets 4s`, then the clusters waited for,
/// as many as fit in `room` columns (`waiting for a:5432, b:5432 and 3
/// more`, or `waiting for 5 clusters`), or none when nothing fits.
fn status_line(done: u64, total: u64, elapsed: Duration, slow: &[&str], room: usize) -> String {
    let secs = elapsed.as_secs();
    let clock =
        if secs < 60 { format!("{secs}s") } else { format!("{}m{:02}s", secs / 60, secs % 60) };
    let counts = format!("{done}/{total} targets {clock}");
    let Some(room) = room.checked_sub(counts.len()) else { return counts };
    match waiting_for(slow, room.saturating_sub(1)) {
        Some(waiting) => format!("{counts} {waiting}"),
        None => counts,
    }
}

/// `waiting for` as many of `clusters` as fit in `room` columns, the rest
/// counted; `None` when there are none, or not even a count fits.
fn waiting_for(clusters: &[&str], room: usize) -> Option<String> {
    let fits = |text: String| (text.chars().count() <= room).then_some(text);
    let count = clusters.len();
    for named in (1..=count).rev() {
        let names = &clusters[..named];
        let list = match count - named {
            0 => and_list(names),
            more => format!("{} and {more} more", names.join(", ")),
        };
        if let Some(text) = fits(format!("waiting for {list}")) {
            return Some(text);
        }
    }
    match count {
        0 => None,
        1 => fits("waiting for 1 cluster".to_owned()),
        _ => fits(format!("waiting for {count} clusters")),
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

/// `1 target`, `2 targets`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// `a`, `a and b`, `a, b and c`: a list as a sentence says it.
pub fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [rest @ .., last] => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", rest.join(", "), last.as_ref())
        }
    }
}

/// [`and_list`] of the first `max` items, and how many more there are:
/// `a, b, c and 497 more` (never `and 1 more`).
pub fn at_most<S: AsRef<str>>(max: usize, items: &[S]) -> String {
    if items.len() <= max + 1 {
        return and_list(items);
    }
    let first: Vec<&str> = items[..max].iter().map(AsRef::as_ref).collect();
    format!("{} and {} more", first.join(", "), items.len() - max)
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
    let shown: Vec<&Column> = all.iter().copied().filter(|c| c.in_table(values, layout)).collect();
    let mut table = new_table(PSQL_STYLE);
    table.set_header(shown.iter().map(|c| c.field));
    for value in values {
        table.add_row(shown.iter().map(|c| c.cell(value)));
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
        let cells: Vec<String> = columns.iter().map(|c| c.cell(value)).collect();
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
pub fn table_cell(value: &Value) -> String {
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
    fn lists_read_as_sentences() {
        assert_eq!(and_list::<&str>(&[]), "");
        assert_eq!(and_list(&["uat/billing"]), "uat/billing");
        assert_eq!(and_list(&["uat/billing", "uat/orders"]), "uat/billing and uat/orders");
        assert_eq!(and_list(&["a", "b", "c"]), "a, b and c");
        assert_eq!(at_most(2, &["a", "b", "c"]), "a, b and c");
        assert_eq!(at_most(2, &["a", "b", "c", "d"]), "a, b and 2 more");
    }

    #[test]
    fn empty_columns_stay_out_and_values_are_said_as_people_say_them() {
        const ROLES: &[Column] = &[
            Column::shown("role"),
            Column::shown("limit").displayed(connection_limit),
            Column::if_any("error"),
        ];
        let ok = vec![json!({"role": "app", "limit": -1, "error": null})];
        assert_eq!(
            render_list(ROLES, &ok, Layout::Auto, None),
            " role | limit\n------+-----------\n app  | unlimited\n"
        );
        let failed = vec![ok[0].clone(), json!({"role": "b", "limit": 5, "error": "no"})];
        let text = render_list(ROLES, &failed, Layout::Auto, None);
        assert!(text.starts_with(" role | limit     | error\n"), "{text}");
        assert!(text.contains(" b    | 5         | no"), "{text}");
        // Expanded shows every field, the empty ones too; CSV keeps -1.
        assert!(render_list(ROLES, &ok, Layout::Expanded, None).contains("error |"));
        let mut csv = Vec::new();
        write_csv(&mut csv, ROLES, &ok).unwrap();
        assert_eq!(String::from_utf8(csv).unwrap(), "role,limit,error\napp,-1,\n");
    }

    #[test]
    fn the_bar_names_the_clusters_it_waits_for_as_far_as_they_fit() {
        let slow = ["10.0.0.7:5432", "10.0.0.9:5432", "a:1", "b:1", "c:1"];
        let all = "waiting for 10.0.0.7:5432, 10.0.0.9:5432, a:1, b:1 and c:1";
        assert_eq!(waiting_for(&slow, 80).as_deref(), Some(all));
        assert_eq!(waiting_for(&slow, all.len()).as_deref(), Some(all));
        assert_eq!(
            waiting_for(&slow, all.len() - 1).as_deref(),
            Some("waiting for 10.0.0.7:5432, 10.0.0.9:5432, a:1 and 2 more")
        );
        assert_eq!(
            waiting_for(&slow, 51).as_deref(),
            Some("waiting for 10.0.0.7:5432, 10.0.0.9:5432 and 3 more")
        );
        assert_eq!(waiting_for(&slow, 50).as_deref(), Some("waiting for 10.0.0.7:5432 and 4 more"));
        assert_eq!(waiting_for(&slow, 30).as_deref(), Some("waiting for 5 clusters"));
        assert_eq!(waiting_for(&slow, 10), None);
        assert_eq!(
            waiting_for(&slow[..2], 80).as_deref(),
            Some("waiting for 10.0.0.7:5432 and 10.0.0.9:5432")
        );
        assert_eq!(waiting_for(&slow[..1], 21).as_deref(), Some("waiting for 1 cluster"));
        assert_eq!(waiting_for(&[], 80), None);
    }

    #[test]
    fn the_status_has_a_clock_and_stays_in_its_room() {
        let secs = Duration::from_secs;
        assert_eq!(status_line(1, 3, secs(0), &[], 80), "1/3 targets 0s");
        assert_eq!(status_line(1, 3, secs(75), &[], 80), "1/3 targets 1m15s");
        let slow = ["db1.example.com:5432", "db2.example.com:5432"];
        assert_eq!(
            status_line(1, 3, secs(3), &slow, 80),
            "1/3 targets 3s waiting for db1.example.com:5432 and db2.example.com:5432"
        );
        for room in 0..80 {
            let line = status_line(1, 3, secs(3), &slow, room);
            assert!(line.len() <= room.max("1/3 targets 3s".len()), "{room}: {line}");
        }
        assert_eq!(status_line(1, 3, secs(3), &slow, 20), "1/3 targets 3s");
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
