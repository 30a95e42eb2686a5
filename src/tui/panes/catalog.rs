//! The catalog pane's state: rows, fuzzy filter, sort, grouping, selection.
//!
//! The view (which rows, in which order, with which group headers) is rebuilt only
//! when the filter, sort, grouping or the rows themselves change, never per frame.

use std::cmp::Ordering;
use std::collections::HashMap;

use nucleo_matcher::Utf32Str;
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};

mod rank;
use rank::{Plain, Scorer};

use crate::domain::Name;
use crate::domain::service::{Health, LiveStatus, ServiceRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortColumn {
    Name,
    Owner,
    System,
    Type,
    Lifecycle,
    Regions,
    Status,
}

impl SortColumn {
    pub const ALL: [SortColumn; 7] = [
        SortColumn::Name,
        SortColumn::Owner,
        SortColumn::System,
        SortColumn::Type,
        SortColumn::Lifecycle,
        SortColumn::Regions,
        SortColumn::Status,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SortColumn::Name => "name",
            SortColumn::Owner => "owner",
            SortColumn::System => "system",
            SortColumn::Type => "type",
            SortColumn::Lifecycle => "lifecycle",
            SortColumn::Regions => "regions",
            SortColumn::Status => "status",
        }
    }

    pub fn parse(s: &str) -> Option<SortColumn> {
        Self::ALL.into_iter().find(|c| c.label() == s)
    }

    pub(crate) fn next(self) -> SortColumn {
        let i = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// Does the order depend on live data (so live updates must re-sort)?
    pub(crate) fn is_live(self) -> bool {
        matches!(self, SortColumn::Regions | SortColumn::Status)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grouping {
    None,
    Owner,
    System,
}

impl Grouping {
    pub fn label(self) -> &'static str {
        match self {
            Grouping::None => "none",
            Grouping::Owner => "owner",
            Grouping::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Grouping> {
        match s {
            "none" => Some(Grouping::None),
            "owner" | "team" => Some(Grouping::Owner),
            "system" => Some(Grouping::System),
            _ => None,
        }
    }

    pub(crate) fn next(self) -> Grouping {
        match self {
            Grouping::None => Grouping::Owner,
            Grouping::Owner => Grouping::System,
            Grouping::System => Grouping::None,
        }
    }
}

/// One line of the table: a group header or a service row (an index into `rows`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewItem {
    Group { label: String, count: usize },
    Row(usize),
}

pub struct CatalogState {
    pub rows: Vec<ServiceRow>,
    /// Each row's description as the service view and the side panel show it: wrapped
    /// once when the rows arrive, at most three lines (never per frame).
    pub(crate) blurbs: Vec<Vec<String>>,
    index: HashMap<Name, usize>,
    pub filter: String,
    pub editing: bool,
    pub sort: SortColumn,
    pub reverse: bool,
    pub group: Grouping,
    /// Bumped on every rebuild of the view, so views derived from it can be cached.
    pub view_gen: u64,
    /// Rows matching the filter (group headers not counted).
    pub matched: usize,
    /// A line of the view ([`CatalogState::view_item`]); always a `Row` when there is one.
    pub selected: usize,
    /// First visible line of the view.
    pub offset: usize,
    view_stale: bool,
    scorer: Scorer,
    /// One scorer per extra scoring thread (a long list is scored in parallel).
    helpers: Vec<Scorer>,
    /// Filters typed so far (each a prefix of the next) with the rows they matched:
    /// one more character only looks at the last one's rows, and a backspace finds
    /// its answer here without matching anything.
    narrowed: Vec<(String, Vec<(usize, u32)>)>,
    /// A list `narrowed` no longer needs, kept for the next filter's matches.
    spare: Vec<(usize, u32)>,
    ranks: Ranks,
    /// The matched rows with their packed sort keys (unique: the last rank is the
    /// name's). Only what is shown is sorted: `keyed[..sorted]` is in the view's order
    /// and every row after it sorts after all of them ([`CatalogState::order_through`]
    /// orders more when the selection or the table goes further). The buffer is kept
    /// between rebuilds (no allocation per keystroke).
    keyed: Vec<(u64, u32)>,
    sorted: usize,
    /// The group headers, grouped (none otherwise), top to bottom.
    headers: Vec<Header>,
    /// Per group rank: its matched rows and one of them (the label); a kept buffer.
    group_counts: Vec<(usize, usize)>,
    /// The table's height when last shown: the lines kept ordered below the offset.
    window: usize,
}

/// Lines ordered past the table's last one (and past the selection), so a step or a
/// page down rarely has to order more.
const AHEAD: usize = 128;

/// A group header of the view.
#[derive(Debug, Clone, Copy)]
struct Header {
    /// Its line in the view.
    line: usize,
    /// The position of the group's first row in the order of the matched rows.
    first: usize,
    count: usize,
    /// A row of the group (whose group key is the label).
    row: usize,
}

/// What a line of the view is: a header (its index in `headers`) or the row at a
/// position of the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Header(usize),
    Row(usize),
}

impl Default for CatalogState {
    fn default() -> Self {
        CatalogState {
            rows: Vec::new(),
            blurbs: Vec::new(),
            index: HashMap::new(),
            filter: String::new(),
            editing: false,
            sort: SortColumn::Name,
            reverse: false,
            group: Grouping::None,
            view_gen: 0,
            matched: 0,
            selected: 0,
            offset: 0,
            view_stale: false,
            scorer: Scorer::default(),
            helpers: Vec::new(),
            narrowed: Vec::new(),
            spare: Vec::new(),
            ranks: Ranks::default(),
            keyed: Vec::new(),
            sorted: 0,
            headers: Vec::new(),
            group_counts: Vec::new(),
            window: 64,
        }
    }
}

impl CatalogState {
    pub fn set_rows(&mut self, rows: Vec<ServiceRow>) {
        // Keep the selected service selected across a reload (indices may shift).
        let keep = self.selected_row().map(|r| r.name.clone());
        self.index = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        self.blurbs = rows.iter().map(|r| blurb(&r.description)).collect();
        self.rows = rows;
        self.narrowed.clear();
        self.ranks = Ranks::default();
        self.keyed.clear();
        self.sorted = 0;
        self.headers.clear();
        self.rebuild();
        if let Some(name) = keep {
            self.select_name(name.as_str());
        }
    }

    pub fn row_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Update one service's live status; re-sorts only when the order depends on it.
    pub fn set_live(&mut self, name: &str, live: LiveStatus) -> bool {
        let Some(&i) = self.index.get(name) else {
            return false;
        };
        if self.rows[i].live == live {
            return false;
        }
        self.rows[i].live = live;
        self.ranks.forget_live();
        if self.sort.is_live() {
            self.view_stale = true;
        }
        true
    }

    /// Rebuild the view if live updates made it stale. Called once before drawing.
    pub fn refresh_view(&mut self) {
        if self.view_stale {
            self.rebuild();
        }
    }

    /// Select the service `name` when the view shows it; false when it does not.
    pub fn select_name(&mut self, name: &str) -> bool {
        let Some(&row) = self.index.get(name) else {
            return false;
        };
        match self.position_of(row) {
            Some(pos) => {
                self.selected = self.line_of(pos);
                self.order_through(self.selected + self.window);
                true
            }
            None => false,
        }
    }

    pub fn selected_row(&self) -> Option<&ServiceRow> {
        self.rows.get(self.row_on(self.selected)?)
    }

    /// The row on line `line` of the view (`None` for a header or past the end).
    fn row_on(&self, line: usize) -> Option<usize> {
        match self.at(line)? {
            At::Row(pos) => self.row_at(pos),
            At::Header(_) => None,
        }
    }

    /// The row at position `pos` of the order, when the order is known there (it is
    /// from the top to past the table's last line and the selection).
    fn row_at(&self, pos: usize) -> Option<usize> {
        (pos < self.sorted).then(|| self.keyed[pos].1 as usize)
    }

    /// Lines of the view: the matched rows and, grouped, a header above each group.
    pub fn view_len(&self) -> usize {
        self.keyed.len() + self.headers.len()
    }

    /// Line `line` of the view. Known from the top to past the table's last line and
    /// the selection; `None` past the end (and, never for a line the table shows or
    /// the selection, where the order is not known yet).
    pub fn view_item(&self, line: usize) -> Option<ViewItem> {
        match self.at(line)? {
            At::Row(pos) => self.row_at(pos).map(ViewItem::Row),
            At::Header(h) => {
                let h = self.headers.get(h)?;
                let key = group_key(self.rows.get(h.row)?, self.group);
                Some(ViewItem::Group {
                    label: if key.is_empty() { "(none)" } else { key }.to_string(),
                    count: h.count,
                })
            }
        }
    }

    /// The whole view, in order: what is not ordered yet is sorted in a copy. For
    /// tests and for views of every row; never per keystroke.
    pub fn view_items(&self) -> Vec<ViewItem> {
        let rows = self.ordered_rows();
        let mut out = Vec::with_capacity(self.view_len());
        let mut next = self.headers.iter().peekable();
        for (pos, row) in rows.into_iter().enumerate() {
            while let Some(h) = next.next_if(|h| h.first == pos) {
                if let Some(ViewItem::Group { label, count }) = self.view_item(h.line) {
                    out.push(ViewItem::Group { label, count });
                }
            }
            out.push(ViewItem::Row(row));
        }
        out
    }

    /// Every matched row in the view's order (the matrix shows them all): what is not
    /// ordered yet is sorted in a copy, so the view stays ordered only where shown.
    pub fn ordered_rows(&self) -> Vec<usize> {
        if self.sorted >= self.keyed.len() {
            return self.keyed.iter().map(|&(_, i)| i as usize).collect();
        }
        let mut rest = self.keyed[self.sorted..].to_vec();
        rest.sort_unstable();
        (self.keyed[..self.sorted].iter().chain(&rest))
            .map(|&(_, i)| i as usize)
            .collect()
    }

    /// What line `line` of the view is (`None` past the end).
    fn at(&self, line: usize) -> Option<At> {
        if line >= self.view_len() {
            return None;
        }
        // The headers above `line`, or on it.
        let above = self.headers.partition_point(|h| h.line <= line);
        match above.checked_sub(1).map(|h| (h, self.headers[h].line)) {
            Some((h, at)) if at == line => Some(At::Header(h)),
            _ => Some(At::Row(line - above)),
        }
    }

    fn is_row(&self, line: usize) -> bool {
        matches!(self.at(line), Some(At::Row(_)))
    }

    /// The line of the row at position `pos` of the order.
    fn line_of(&self, pos: usize) -> usize {
        pos + self.headers.partition_point(|h| h.first <= pos)
    }

    /// Where the matched row `row` stands in the order (counted without sorting).
    fn position_of(&self, row: usize) -> Option<usize> {
        let &(key, _) = self.keyed.iter().find(|&&(_, i)| i as usize == row)?;
        Some(self.keyed.iter().filter(|&&(k, _)| k < key).count())
    }

    /// Order the rows through line `line` and [`AHEAD`] lines further (at least
    /// twice what was ordered, so scrolling down costs a few partial sorts, not one per
    /// step; past half the rows, all of them).
    fn order_through(&mut self, line: usize) {
        let len = self.keyed.len();
        let want = line.saturating_add(AHEAD + 1).min(len);
        if want <= self.sorted {
            return;
        }
        let mut to = want.max(self.sorted.saturating_mul(2));
        if to >= len / 2 {
            to = len;
        }
        let rest = &mut self.keyed[self.sorted..];
        let n = to - self.sorted;
        if n < rest.len() {
            rest.select_nth_unstable(n);
            rest[..n].sort_unstable();
        } else {
            rest.sort_unstable();
        }
        self.sorted = to;
    }

    pub fn set_filter(&mut self, filter: String) {
        if filter != self.filter {
            self.filter = filter;
            // A new filter text puts the selection on its best match (the first row),
            // never on a worse match that still shows; clearing it keeps the selection.
            let keep = self.filter.trim().is_empty();
            self.rebuild_view(keep);
        }
    }

    pub fn sort_next(&mut self) {
        self.sort = self.sort.next();
        self.rebuild();
    }

    pub fn set_sort(&mut self, col: SortColumn) {
        self.sort = col;
        self.rebuild();
    }

    pub fn sort_reverse(&mut self) {
        self.reverse = !self.reverse;
        self.rebuild();
    }

    pub fn group_next(&mut self) {
        self.group = self.group.next();
        self.rebuild();
    }

    pub fn set_group(&mut self, g: Grouping) {
        self.group = g;
        self.rebuild();
    }

    /// Recompute the view, keeping the selected service selected when it still shows.
    pub fn rebuild(&mut self) {
        self.rebuild_view(true);
    }

    /// Recompute the view; the selection stays on its service when `keep` and the
    /// service still shows, else goes to the first row.
    fn rebuild_view(&mut self, keep: bool) {
        self.view_stale = false;
        self.view_gen += 1;
        let keep = if keep {
            self.row_on(self.selected)
        } else {
            None
        };

        // The rows the filter keeps, with their scores: all of them, or a list kept in
        // `narrowed` (borrowed from there, not copied).
        let filtering = !self.filter.trim().is_empty();
        if filtering {
            let pattern = Pattern::parse(&self.filter, CaseMatching::Smart, Normalization::Smart);
            // Appending to a filter can only narrow it, unless it negates (`!x`).
            if self.filter.contains('!') {
                self.forget_narrowed();
            }
            while self
                .narrowed
                .last()
                .is_some_and(|(f, _)| !self.filter.starts_with(f.as_str()))
            {
                if let Some((_, list)) = self.narrowed.pop() {
                    self.retire(list);
                }
            }
            if self.narrowed.last().is_none_or(|(f, _)| *f != self.filter) {
                // Only the last (narrower) filter's matches can match: lent from
                // `narrowed` while scored, not copied.
                let from = self.narrowed.last_mut().map(|(_, p)| std::mem::take(p));
                let mut picked = std::mem::take(&mut self.spare);
                self.score(&pattern, from.as_deref(), &mut picked);
                if let (Some(from), Some((_, lent))) = (from, self.narrowed.last_mut()) {
                    *lent = from;
                }
                if self.narrowed.len() >= 64 {
                    let (_, list) = self.narrowed.remove(0);
                    self.retire(list);
                }
                self.narrowed.push((self.filter.clone(), picked));
            }
        } else {
            self.forget_narrowed();
        }
        let picked: &[(usize, u32)] = match self.narrowed.last() {
            Some((_, p)) if filtering => p,
            _ => &[],
        };
        self.matched = if filtering {
            picked.len()
        } else {
            self.rows.len()
        };

        let (sort, reverse, group) = (self.sort, self.reverse, self.group);
        let ranked = filtering && sort == SortColumn::Name && !reverse;
        // Integer ranks, computed once per column, make each keystroke's sort cheap.
        self.ranks.ensure(&self.rows, RankKey::Sort(sort));
        self.ranks.ensure(&self.rows, RankKey::Group(group));
        self.ranks
            .ensure(&self.rows, RankKey::Sort(SortColumn::Name));
        let col_rank = self.ranks.peek(RankKey::Sort(sort));
        let group_rank = self.ranks.peek(RankKey::Group(group));
        let name_rank = self.ranks.peek(RankKey::Sort(SortColumn::Name));
        // The order: group, then the fuzzy score (best first) when ranked by it, else
        // the sort column; ties by name. Ranked by score, the column is the name.
        let last = u32::try_from(self.rows.len().saturating_sub(1)).unwrap_or(u32::MAX);
        let key = |i: usize, score: u32| {
            if ranked {
                (
                    group_rank[i],
                    FUZZY_MAX - score.min(FUZZY_MAX),
                    name_rank[i],
                )
            } else if reverse {
                (
                    group_rank[i],
                    last.saturating_sub(col_rank[i]),
                    name_rank[i],
                )
            } else {
                (group_rank[i], col_rank[i], name_rank[i])
            }
        };
        let keyed = &mut self.keyed;
        self.sorted = if filtering {
            pack_keys(picked.iter().copied(), self.rows.len(), ranked, key, keyed)
        } else {
            let all = (0..self.rows.len()).map(|i| (i, 0));
            pack_keys(all, self.rows.len(), ranked, key, keyed)
        };

        // The group headers, from each group's count (no sort needed): the order is
        // by group first, so a group's rows follow its header.
        self.headers.clear();
        if group != Grouping::None {
            let counts = &mut self.group_counts;
            counts.clear();
            for &(_, i) in keyed.iter() {
                let g = group_rank[i as usize] as usize;
                if counts.len() <= g {
                    counts.resize(g + 1, (0, 0));
                }
                counts[g] = (counts[g].0 + 1, i as usize);
            }
            let mut first = 0;
            for &(count, row) in counts.iter().filter(|(count, _)| *count > 0) {
                let line = first + self.headers.len();
                self.headers.push(Header {
                    line,
                    first,
                    count,
                    row,
                });
                first += count;
            }
        }

        let restored = keep.and_then(|k| self.position_of(k));
        self.selected = restored.map_or(0, |pos| self.line_of(pos));
        self.order_through(self.selected + self.window);
        self.snap_to_row(1);
    }

    /// Drop the lists of the filters typed so far (keeping one allocation).
    fn forget_narrowed(&mut self) {
        while let Some((_, list)) = self.narrowed.pop() {
            self.retire(list);
        }
    }

    /// Keep the largest list `narrowed` let go of, for the next filter's matches.
    fn retire(&mut self, mut list: Vec<(usize, u32)>) {
        if list.capacity() > self.spare.capacity() {
            list.clear();
            self.spare = list;
        }
    }

    /// Fuzzy-score the candidate rows (those of `from`, or every row) against the
    /// filter into `out`; non-matches are dropped. A plain word is scored once per
    /// shape of row ([`rank`]), anything else row by row. A long list (the first
    /// keystroke scores every row) is split across the cores, in order, each part with
    /// a scorer of its own.
    pub(crate) fn score(
        &mut self,
        pattern: &Pattern,
        from: Option<&[(usize, u32)]>,
        out: &mut Vec<(usize, u32)>,
    ) {
        /// Below this many rows a thread costs more than it saves (scored row by row,
        /// or by shape, which is several times cheaper).
        const PARALLEL_MIN: usize = 4096;
        const PARALLEL_MIN_BY_SHAPE: usize = 32_768;
        let needle = self.filter.trim().to_lowercase();
        let plain = Plain::parse(&self.filter);
        let rows = &self.rows;
        let count = from.map_or(rows.len(), <[_]>::len);
        let needle = needle.as_str();
        let word = plain.as_ref();
        // The candidates at positions `range` of the list (of every row, without one),
        // each kind of list scored by a loop of its own (no dynamic dispatch per row).
        let score_part = move |range: std::ops::Range<usize>,
                               scorer: &mut Scorer,
                               out: &mut Vec<(usize, u32)>| {
            scorer.reset();
            match from {
                Some(list) => {
                    let ids = list[range].iter().map(|&(i, _)| i);
                    score_rows(rows, pattern, word, needle, ids, scorer, out);
                }
                None => score_rows(rows, pattern, word, needle, range, scorer, out),
            }
        };
        out.clear();
        let parallel_min = if plain.is_some() {
            PARALLEL_MIN_BY_SHAPE
        } else {
            PARALLEL_MIN
        };
        let threads = if count < parallel_min {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
        };
        if threads <= 1 {
            return score_part(0..count, &mut self.scorer, out);
        }
        while self.helpers.len() < threads - 1 {
            self.helpers.push(Scorer::default());
        }
        let chunk = count.div_ceil(threads);
        let (matcher, helpers) = (&mut self.scorer, &mut self.helpers);
        std::thread::scope(|s| {
            let others: Vec<_> = (1..threads)
                .zip(helpers.iter_mut())
                .map(|(t, m)| {
                    let range = (t * chunk).min(count)..((t + 1) * chunk).min(count);
                    s.spawn(move || {
                        let mut out = Vec::new();
                        score_part(range, m, &mut out);
                        out
                    })
                })
                .collect();
            score_part(0..chunk.min(count), matcher, out);
            for h in others {
                // A scoring thread that panicked takes the frame down as it would
                // have on this thread.
                match h.join() {
                    Ok(part) => out.extend(part),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
    }

    /// Move the selection so it rests on a row, searching in direction `dir`.
    pub(crate) fn snap_to_row(&mut self, dir: isize) {
        let len = self.view_len();
        if len == 0 {
            self.selected = 0;
            return;
        }
        self.selected = self.selected.min(len - 1);
        let mut i = self.selected as isize;
        while (0..len as isize).contains(&i) {
            if self.is_row(i as usize) {
                self.selected = i as usize;
                self.order_through(self.selected + self.window);
                return;
            }
            i += dir;
        }
        if dir > 0 {
            self.snap_to_row(-1);
        }
    }

    /// Move by `delta` rows (group headers are stepped over).
    pub fn move_by(&mut self, delta: isize) {
        let len = self.view_len();
        if len == 0 {
            return;
        }
        let mut remaining = delta.unsigned_abs();
        let dir = delta.signum();
        let mut i = self.selected as isize;
        while remaining > 0 {
            let next = i + dir;
            if !(0..len as isize).contains(&next) {
                break;
            }
            i = next;
            if self.is_row(i as usize) {
                remaining -= 1;
            }
        }
        self.selected = i as usize;
        self.snap_to_row(if dir >= 0 { -1 } else { 1 });
    }

    pub fn top(&mut self) {
        self.selected = 0;
        self.snap_to_row(1);
    }

    pub fn bottom(&mut self) {
        self.selected = self.view_len().saturating_sub(1);
        self.snap_to_row(-1);
    }

    /// Keep the selection inside a window of `height` lines.
    pub fn scroll_into_view(&mut self, height: usize) {
        if height == 0 {
            return;
        }
        self.window = height;
        if self.selected < self.offset {
            self.offset = self.selected;
            // Show the group header above the first row of a group.
            if self.offset > 0 && matches!(self.at(self.offset - 1), Some(At::Header(_))) {
                self.offset -= 1;
            }
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        let max_offset = self.view_len().saturating_sub(height);
        self.offset = self.offset.min(max_offset);
        self.order_through(self.offset + height);
    }

    /// Character positions of the filter's match in a row's name, for highlighting.
    pub fn match_indices(&mut self, name: &str) -> Vec<u32> {
        let mut out = Vec::new();
        if self.filter.trim().is_empty() {
            return out;
        }
        let pattern = Pattern::parse(&self.filter, CaseMatching::Smart, Normalization::Smart);
        let mut buf = Vec::new();
        pattern.indices(
            Utf32Str::new(name, &mut buf),
            &mut self.scorer.matcher,
            &mut out,
        );
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Score the rows `ids` against the filter (`pattern`, `plain` as one word, `needle`
/// trimmed and lower-cased) into `out`; non-matches are dropped.
fn score_rows(
    rows: &[ServiceRow],
    pattern: &Pattern,
    plain: Option<&Plain>,
    needle: &str,
    ids: impl Iterator<Item = usize>,
    scorer: &mut Scorer,
    out: &mut Vec<(usize, u32)>,
) {
    for i in ids {
        let row = &rows[i];
        let Some(score) = scorer.score(pattern, plain, &row.haystack) else {
            continue;
        };
        // The name leads the haystack: a literal hit in it ranks first.
        let name = row.haystack.get(..row.name.len()).unwrap_or(&row.haystack);
        // Tiers far above any fuzzy score: the exact name, then a prefix, then the
        // name containing the text, then fuzzy matches.
        const TIER: u32 = 1 << 20;
        let bonus = if name.eq_ignore_ascii_case(needle) {
            3 * TIER
        } else if name.starts_with(needle) {
            2 * TIER
        } else if name.contains(needle) {
            TIER
        } else {
            0
        };
        out.push((i, score + bonus));
    }
}

/// Above every score [`CatalogState::score`] gives (its tiers included).
const FUZZY_MAX: u32 = (1 << 22) - 1;

/// The rows of `picked` (row, score) into `keyed`, each with its key (three ranks,
/// the first most significant; each below `n`, the middle one a fuzzy score of 22
/// bits when `fuzzy`) packed into one integer: 64 bits when they fit (up to two
/// million rows), left unsorted — [`CatalogState::order_through`] sorts only what is
/// shown. Past that the keys take 128 bits: those rows are sorted here, at once, and
/// stored by their position. Returns how many rows are in order.
fn pack_keys(
    picked: impl Iterator<Item = (usize, u32)>,
    n: usize,
    fuzzy: bool,
    key: impl Fn(usize, u32) -> (u32, u32, u32),
    keyed: &mut Vec<(u64, u32)>,
) -> usize {
    let bits = usize::BITS - n.leading_zeros();
    let mid = if fuzzy { 22 } else { bits };
    keyed.clear();
    if 2 * bits + mid <= 64 {
        keyed.extend(picked.map(|(i, score)| {
            let (a, b, c) = key(i, score);
            let k = (u64::from(a) << (bits + mid)) | (u64::from(b) << bits) | u64::from(c);
            // Below 2^21 rows here: the index fits.
            (k, i as u32)
        }));
        0
    } else {
        let mut wide: Vec<(u128, usize)> = picked
            .map(|(i, score)| {
                let (a, b, c) = key(i, score);
                let k = (u128::from(a) << 64) | (u128::from(b) << 32) | u128::from(c);
                (k, i)
            })
            .collect();
        wide.sort_unstable();
        keyed.extend((wide.into_iter().enumerate()).map(|(pos, (_, i))| (pos as u64, i as u32)));
        keyed.len()
    }
}

/// [`pack_keys`], fully sorted, into a new list.
#[cfg(test)]
fn sorted_by_keys(
    picked: &[(usize, u32)],
    n: usize,
    fuzzy: bool,
    key: impl Fn(usize, u32) -> (u32, u32, u32),
) -> Vec<usize> {
    let mut keyed = Vec::new();
    let sorted = pack_keys(picked.iter().copied(), n, fuzzy, key, &mut keyed);
    keyed[sorted..].sort_unstable();
    keyed.into_iter().map(|(_, i)| i as usize).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum RankKey {
    Sort(SortColumn),
    Group(Grouping),
}

/// For a sort column or grouping, each row's position in that order (ties by name).
#[derive(Default)]
struct Ranks {
    cache: HashMap<RankKey, Vec<u32>>,
}

impl Ranks {
    pub(crate) fn peek(&self, key: RankKey) -> &[u32] {
        self.cache.get(&key).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn ensure(&mut self, rows: &[ServiceRow], key: RankKey) {
        self.cache.entry(key).or_insert_with(|| {
            let cmp = |a: &ServiceRow, b: &ServiceRow| match key {
                RankKey::Sort(col) => compare(a, b, col),
                RankKey::Group(g) => group_key(a, g).cmp(group_key(b, g)),
            };
            let mut order: Vec<usize> = (0..rows.len()).collect();
            order.sort_by(|&a, &b| cmp(&rows[a], &rows[b]));
            // Dense ranks: equal keys share a rank, so ties fall through to the
            // next key of the sort.
            let mut rank = vec![0u32; rows.len()];
            let mut r = 0u32;
            for (pos, &i) in order.iter().enumerate() {
                if pos > 0 && cmp(&rows[order[pos - 1]], &rows[i]) != Ordering::Equal {
                    r += 1;
                }
                rank[i] = r;
            }
            rank
        });
    }

    /// Live columns change with the data; their ranks are recomputed on demand.
    pub(crate) fn forget_live(&mut self) {
        self.cache
            .retain(|k, _| !matches!(k, RankKey::Sort(c) if c.is_live()));
    }
}

pub(crate) fn group_key(r: &ServiceRow, g: Grouping) -> &str {
    match g {
        Grouping::None => "",
        Grouping::Owner => &r.owner,
        Grouping::System => &r.system,
    }
}

pub(crate) fn compare(a: &ServiceRow, b: &ServiceRow, col: SortColumn) -> Ordering {
    match col {
        SortColumn::Name => a.name.cmp(&b.name),
        SortColumn::Owner => a.owner.cmp(&b.owner),
        SortColumn::System => a.system.cmp(&b.system),
        SortColumn::Type => a.spec_type.cmp(&b.spec_type),
        SortColumn::Lifecycle => a.lifecycle.cmp(&b.lifecycle),
        SortColumn::Regions => b.live.regions.len().cmp(&a.live.regions.len()),
        // Worst first: what needs attention comes to the top.
        SortColumn::Status => health_rank(b.live.health()).cmp(&health_rank(a.live.health())),
    }
}

pub(crate) fn health_rank(h: Health) -> u8 {
    match h {
        Health::Absent => 0,
        Health::Healthy => 1,
        Health::Rolling => 2,
        Health::Degraded => 3,
        Health::CrashLoop => 4,
    }
}

/// How wide and how many lines a description gets (fits an 80-column screen).
const BLURB_WIDTH: usize = 76;
const BLURB_LINES: usize = 3;

/// A description in at most [`BLURB_LINES`] lines of [`BLURB_WIDTH`], ending in `…`
/// when there is more. Only the start of a long (even hostile, megabytes) text is read.
pub(crate) fn blurb(description: &str) -> Vec<String> {
    if description.trim().is_empty() {
        return Vec::new();
    }
    let budget = BLURB_WIDTH * (BLURB_LINES + 1);
    let head: String = description.chars().take(budget).collect();
    let cut = head.len() < description.len();
    let mut lines = crate::tui::format::wrap_words(&head, BLURB_WIDTH);
    let more = cut || lines.len() > BLURB_LINES;
    lines.truncate(BLURB_LINES);
    if more && let Some(last) = lines.last_mut() {
        while last.chars().count() >= BLURB_WIDTH {
            last.pop();
        }
        last.push('…');
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn row(name: &str, owner: &str, system: &str) -> ServiceRow {
        ServiceRow {
            name: name.into(),
            owner: owner.into(),
            system: system.into(),
            spec_type: "service".into(),
            lifecycle: "production".into(),
            description: "".into(),
            haystack: format!("{name} {owner} {system} service"),
            live: LiveStatus::default(),
        }
    }

    pub(crate) fn state() -> CatalogState {
        let mut s = CatalogState::default();
        s.set_rows(vec![
            row("payments-api", "payments", "billing"),
            row("checkout-web", "checkout", "storefront"),
            row("ledger", "payments", "billing"),
            row("search", "catalog", "storefront"),
        ]);
        s
    }

    pub(crate) fn names(s: &CatalogState) -> Vec<&str> {
        (s.view_items().into_iter())
            .filter_map(|v| match v {
                ViewItem::Row(i) => Some(s.rows[i].name.as_str()),
                ViewItem::Group { .. } => None,
            })
            .collect()
    }

    /// The packed keys order rows as the three ranks compared one after the other, in
    /// 64 bits and (past a million rows, or as wide ranks) in 128.
    #[test]
    fn packed_sort_keys_order_as_the_ranks_do() {
        let mut rng = fastrand::Rng::with_seed(7);
        for (n, fuzzy) in [
            (1, false),
            (10_000, true),
            (10_000, false),
            (3_000_000, false),
        ] {
            let picked: Vec<(usize, u32)> = (0..n.min(20_000))
                .map(|_| (rng.usize(..n), rng.u32(..FUZZY_MAX)))
                .collect();
            let mid = |i: usize, score: u32| if fuzzy { score } else { (i / 3) as u32 };
            let key = |i: usize, score: u32| ((i % 5) as u32, mid(i, score), i as u32);
            let got = sorted_by_keys(&picked, n, fuzzy, key);
            let mut want = picked.clone();
            want.sort_by_key(|&(i, score)| (key(i, score), i));
            let want: Vec<usize> = want.into_iter().map(|(i, _)| i).collect();
            assert_eq!(got, want, "{n} rows, fuzzy {fuzzy}");
        }
    }

    #[test]
    pub(crate) fn filter_keeps_fuzzy_matches_and_selection() {
        let mut s = state();
        s.move_by(2);
        assert_eq!(
            s.selected_row().map(|r| r.name.as_str()),
            Some("payments-api")
        );
        s.set_filter("pay".into());
        assert_eq!(names(&s), vec!["payments-api", "ledger"]);
        assert_eq!(
            s.selected_row().map(|r| r.name.as_str()),
            Some("payments-api")
        );
        s.set_filter("zzzz".into());
        assert_eq!(s.view_len(), 0);
        assert!(s.selected_row().is_none());
    }

    /// A long list is scored on several threads: the result is the one a single
    /// matcher gives, in the same order (a plain word, scored by shape, goes
    /// parallel only from 32,768 rows; two words from 4,096).
    #[test]
    pub(crate) fn a_long_list_scores_the_same_in_parallel() {
        let rows: Vec<ServiceRow> = (0..40_000)
            .map(|i| row(&format!("svc-{i}"), &format!("team-{}", i % 37), "sys"))
            .collect();
        let mut s = CatalogState::default();
        s.set_rows(rows);
        for filter in ["sv1", "sv 1"] {
            let pattern = Pattern::parse(filter, CaseMatching::Smart, Normalization::Smart);
            s.filter = filter.into();
            let all: Vec<(usize, u32)> = (0..s.rows.len()).map(|i| (i, 0)).collect();
            let (mut parallel, mut every) = (Vec::new(), Vec::new());
            s.score(&pattern, Some(&all), &mut parallel);
            s.score(&pattern, None, &mut every);
            assert_eq!(parallel, every, "{filter:?}: a list of every row, or none");
            // One matcher, one row at a time.
            let single: Vec<(usize, u32)> = all
                .chunks(1000)
                .flat_map(|part| {
                    let mut out = Vec::new();
                    s.score(&pattern, Some(part), &mut out);
                    out
                })
                .collect();
            assert_eq!(parallel, single, "{filter:?}");
            assert!(parallel.len() > 1000, "{filter:?}: {}", parallel.len());
        }
    }

    /// The view as a straightforward full sort gives it: every row scored by nucleo
    /// (plus the tiers of a literal hit in the name), compared field by field.
    fn reference_view(
        rows: &[ServiceRow],
        filter: &str,
        sort: SortColumn,
        reverse: bool,
        group: Grouping,
    ) -> Vec<ViewItem> {
        let mut matcher = nucleo_matcher::Matcher::new(nucleo_matcher::Config::DEFAULT);
        let pattern = Pattern::parse(filter, CaseMatching::Smart, Normalization::Smart);
        let needle = filter.trim().to_lowercase();
        let filtering = !needle.is_empty();
        let mut buf = Vec::new();
        let mut picked: Vec<(usize, u32)> = (rows.iter().enumerate())
            .filter_map(|(i, r)| {
                if !filtering {
                    return Some((i, 0));
                }
                let score = pattern.score(Utf32Str::new(&r.haystack, &mut buf), &mut matcher)?;
                let name = &r.haystack[..r.name.len()];
                let tier = if name.eq_ignore_ascii_case(&needle) {
                    3
                } else if name.starts_with(&needle) {
                    2
                } else {
                    u32::from(name.contains(&needle))
                };
                Some((i, score + (tier << 20)))
            })
            .collect();
        let ranked = filtering && sort == SortColumn::Name && !reverse;
        picked.sort_by(|&(a, score_a), &(b, score_b)| {
            let (ra, rb) = (&rows[a], &rows[b]);
            (group_key(ra, group).cmp(group_key(rb, group)))
                .then_with(|| {
                    if ranked {
                        score_b.cmp(&score_a)
                    } else if reverse {
                        compare(rb, ra, sort)
                    } else {
                        compare(ra, rb, sort)
                    }
                })
                .then_with(|| ra.name.cmp(&rb.name))
        });
        let mut view: Vec<ViewItem> = Vec::new();
        let mut header = None;
        for (i, _) in picked {
            let key = group_key(&rows[i], group);
            if group != Grouping::None && header != Some(key) {
                header = Some(key);
                view.push(ViewItem::Group {
                    label: if key.is_empty() { "(none)" } else { key }.to_string(),
                    count: 0,
                });
            }
            if let Some(ViewItem::Group { count, .. }) = view
                .iter_mut()
                .rev()
                .find(|v| matches!(v, ViewItem::Group { .. }))
            {
                *count += 1;
            }
            view.push(ViewItem::Row(i));
        }
        view
    }

    /// `n` random rows made for ties (few words, shared owners and systems, equal
    /// scores, equal live status), shuffled.
    fn random_rows(rng: &mut fastrand::Rng, n: usize) -> Vec<ServiceRow> {
        let words = ["pay", "ledger", "search", "svc", "cart", "s"];
        let people = ["payments", "search", "", "platform"];
        // Numbered names, enough of them for `n` distinct names.
        let numbers = (n / 10).max(40);
        let mut names = std::collections::BTreeSet::new();
        while names.len() < n {
            let name = match rng.usize(..4) {
                0 => words[rng.usize(..words.len())].to_string(),
                1 => format!(
                    "{}-{}",
                    words[rng.usize(..words.len())],
                    words[rng.usize(..words.len())]
                ),
                _ => format!(
                    "{}-{}-{:02}",
                    words[rng.usize(..words.len())],
                    ["api", "web", "sync"][rng.usize(..3)],
                    rng.usize(..numbers)
                ),
            };
            names.insert(name);
        }
        let rows: Vec<ServiceRow> = (names.into_iter())
            .map(|name| {
                let (owner, system) = (
                    people[rng.usize(..people.len())],
                    words[rng.usize(..words.len())],
                );
                let mut r = row(&name, owner, system);
                r.spec_type = ["service", "website"][rng.usize(..2)].into();
                r.lifecycle = ["production", "experimental"][rng.usize(..2)].into();
                r.haystack = format!("{name} {owner} {system} {}", r.spec_type).to_lowercase();
                let deployments = rng.u32(..3);
                r.live = LiveStatus {
                    regions: (0..deployments).map(|i| format!("r{i}").into()).collect(),
                    deployments,
                    desired: deployments,
                    ready: deployments.saturating_sub(rng.u32(..2)),
                    crash_looping: u32::from(rng.u8(..8) == 0),
                    ..Default::default()
                };
                r
            })
            .collect();
        // Shuffled, so the row order is not the name order.
        let mut rows = rows;
        rng.shuffle(&mut rows);
        rows
    }

    /// Every line the view knows without a full sort is the full sort's (`want`), and
    /// it knows every line from the top to past the selection and the table's window.
    fn same_where_known(s: &CatalogState, want: &[ViewItem]) {
        let through = s.selected.max(s.offset) + s.window;
        for (line, item) in want.iter().enumerate() {
            match s.view_item(line) {
                Some(got) => assert_eq!(&got, item, "line {line} of {}", want.len()),
                None => assert!(line > through, "line {line} unknown, through {through}"),
            }
        }
        assert_eq!(s.view_item(want.len()), None);
    }

    /// Thousands of random rows, the table 20 lines high: only what is shown is
    /// sorted, and while the selection steps, pages, jumps to either end and to a named
    /// service, every line shown, the selection and the matrix's rows are the full
    /// sort's, in every sort, direction and grouping.
    #[test]
    fn the_lazily_sorted_view_is_the_full_sorts_while_moving() {
        let mut rng = fastrand::Rng::with_seed(4);
        let rows = random_rows(&mut rng, 4000);
        let height = 20;
        let (mut lazy, mut moves) = (0, 0);
        for sort in SortColumn::ALL {
            for reverse in [false, true] {
                for group in [Grouping::None, Grouping::Owner, Grouping::System] {
                    let mut s = CatalogState::default();
                    s.set_rows(rows.clone());
                    s.set_sort(sort);
                    s.reverse = reverse;
                    s.set_group(group);
                    s.scroll_into_view(height);
                    let filter = ["", "s", "sv", "pay", "a"][rng.usize(..5)];
                    s.set_filter(filter.to_string());
                    s.scroll_into_view(height);
                    let want = reference_view(&s.rows, filter, sort, reverse, group);
                    let want_rows: Vec<usize> = (want.iter())
                        .filter_map(|v| match v {
                            ViewItem::Row(i) => Some(*i),
                            ViewItem::Group { .. } => None,
                        })
                        .collect();
                    lazy += usize::from(s.sorted < s.keyed.len());
                    same_where_known(&s, &want);
                    for _ in 0..30 {
                        match rng.usize(..7) {
                            0 | 1 => s.move_by(rng.isize(-60..60)),
                            2 => s.move_by(height as isize),
                            3 => s.top(),
                            4 => s.bottom(),
                            5 => {
                                let name = s.rows[want_rows[rng.usize(..want_rows.len())]]
                                    .name
                                    .to_string();
                                assert!(s.select_name(&name));
                                assert_eq!(s.selected_row().map(|r| r.name.as_str()), Some(&*name));
                            }
                            _ => s.move_by(-(height as isize)),
                        }
                        s.scroll_into_view(height);
                        moves += 1;
                        same_where_known(&s, &want);
                        let shown = s.offset..(s.offset + height).min(want.len());
                        assert!(shown.contains(&s.selected), "{shown:?} {}", s.selected);
                        for line in shown {
                            assert_eq!(s.view_item(line).as_ref(), Some(&want[line]));
                        }
                        assert!(s.selected_row().is_some());
                    }
                    assert_eq!(s.ordered_rows(), want_rows);
                    assert_eq!(s.view_items(), want);
                }
            }
        }
        assert!(lazy > 20, "{lazy} views were sorted only in part");
        assert!(moves > 1000, "{moves}");
    }

    /// Random rows made for ties (few words, shared owners and systems, equal scores,
    /// equal live status), in every sort, direction and grouping, with filters typed
    /// a character at a time: the view is the straightforward full sort's, and a new
    /// filter selects its best match.
    #[test]
    fn the_view_is_the_full_sorts_on_random_rows() {
        let mut rng = fastrand::Rng::with_seed(1616);
        let rows = random_rows(&mut rng, 300);
        let filters = [
            "svc-1",
            "pay",
            "s",
            "ledger",
            "sv",
            "pay-",
            "search-web",
            "x",
            "Pay",
            "p s",
            "pay !l",
        ];
        let mut checked = 0;
        for sort in SortColumn::ALL {
            for reverse in [false, true] {
                for group in [Grouping::None, Grouping::Owner, Grouping::System] {
                    let mut s = CatalogState::default();
                    s.set_rows(rows.clone());
                    s.set_sort(sort);
                    s.reverse = reverse;
                    s.set_group(group);
                    let filter = filters[rng.usize(..filters.len())];
                    let typed = (1..=filter.len()).map(|n| &filter[..n]);
                    let erased = (0..filter.len()).rev().map(|n| &filter[..n]);
                    for f in typed.chain(erased) {
                        s.set_filter(f.to_string());
                        let want = reference_view(&s.rows, f, sort, reverse, group);
                        assert_eq!(
                            s.view_items(),
                            want,
                            "filter {f:?}, sort {sort:?}, reverse {reverse}, group {group:?}"
                        );
                        assert_eq!(s.view_len(), want.len());
                        same_where_known(&s, &want);
                        let rows_shown = want.iter().filter(|v| matches!(v, ViewItem::Row(_)));
                        assert_eq!(s.matched, rows_shown.count());
                        if !f.trim().is_empty() {
                            let best = want.iter().find(|v| matches!(v, ViewItem::Row(_)));
                            assert_eq!(s.view_item(s.selected).as_ref(), best, "filter {f:?}");
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 200, "{checked}");
    }

    #[test]
    pub(crate) fn narrowing_while_typing_matches_a_fresh_filter() {
        let mut typed = state();
        for f in [
            "p", "pa", "pay", "pa", "p", "pay", "pay !led", "pay !le", "pay", "pa",
        ] {
            typed.set_filter(f.to_string());
            let mut fresh = state();
            fresh.set_filter(f.to_string());
            assert_eq!(names(&typed), names(&fresh), "filter {f:?}");
        }
        typed.set_filter("pay !le".into());
        assert_eq!(names(&typed), vec!["payments-api"]);
    }

    #[test]
    pub(crate) fn sort_and_reverse() {
        let mut s = state();
        assert_eq!(
            names(&s),
            vec!["checkout-web", "ledger", "payments-api", "search"]
        );
        s.set_sort(SortColumn::Owner);
        assert_eq!(
            names(&s),
            vec!["search", "checkout-web", "ledger", "payments-api"]
        );
        s.sort_reverse();
        assert_eq!(
            names(&s),
            vec!["ledger", "payments-api", "checkout-web", "search"]
        );
    }

    #[test]
    pub(crate) fn grouping_inserts_headers_and_selection_skips_them() {
        let mut s = state();
        s.set_group(Grouping::System);
        s.top();
        assert_eq!(
            s.view_item(0).unwrap(),
            ViewItem::Group {
                label: "billing".into(),
                count: 2
            }
        );
        assert_eq!(s.selected, 1);
        s.move_by(2);
        // Stepped over the "storefront" header onto its first row.
        assert_eq!(
            s.selected_row().map(|r| r.name.as_str()),
            Some("checkout-web")
        );
        s.move_by(-1);
        assert_eq!(
            s.selected_row().map(|r| r.name.as_str()),
            Some("payments-api")
        );
        s.bottom();
        assert_eq!(s.selected_row().map(|r| r.name.as_str()), Some("search"));
        s.top();
        assert_eq!(s.selected, 1);
    }

    #[test]
    pub(crate) fn live_sort_reorders_only_when_sorted_by_live_column() {
        let mut s = state();
        let crash = LiveStatus {
            deployments: 1,
            desired: 1,
            crash_looping: 1,
            ..Default::default()
        };
        assert!(s.set_live("search", crash.clone()));
        s.refresh_view();
        assert_eq!(names(&s)[3], "search");
        s.set_sort(SortColumn::Status);
        assert_eq!(names(&s)[0], "search");
        assert!(!s.set_live("search", crash));
    }

    #[test]
    pub(crate) fn scroll_keeps_selection_visible() {
        let mut s = CatalogState::default();
        s.set_rows(
            (0..100)
                .map(|i| row(&format!("svc-{i:03}"), "t", "s"))
                .collect(),
        );
        s.move_by(30);
        s.scroll_into_view(10);
        assert_eq!(s.offset, 21);
        s.move_by(-25);
        s.scroll_into_view(10);
        assert_eq!(s.offset, 5);
    }
}

// ---- Drawing.

mod draw {
    use super::*;
    use ratatui::Frame;
    use ratatui::layout::{Constraint, Layout, Rect};
    use ratatui::style::Modifier;
    use ratatui::text::{Line, Span};
    use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

    use crate::config::theme::{Slot, Theme};
    use crate::domain::catalog::Kind;
    use crate::domain::service::{Health, LiveStatus};
    use crate::tui::model::*;
    use crate::tui::panes::service::*;
    use crate::tui::view::*;

    /// The catalog's table and, from `SIDE_PANEL` columns, the detail panel beside it.
    pub(crate) fn catalog_areas(area: Rect) -> (Rect, Option<Rect>) {
        if area.width >= SIDE_PANEL {
            // The table keeps the columns a table of WIDE shows (system, lifecycle);
            // the side panel takes the rest, at least 40 columns.
            let table_w = (area.width * 3 / 5).max(WIDE.min(area.width.saturating_sub(40)));
            let [a, b] =
                Layout::horizontal([Constraint::Length(table_w), Constraint::Fill(1)]).areas(area);
            (a, Some(b))
        } else {
            (area, None)
        }
    }

    impl Model {
        /// The catalog's view rebuilt if stale, its selection scrolled into the table's
        /// rows (a header line above them).
        pub(crate) fn settle_catalog(&mut self, body: Rect) {
            let (table, _) = catalog_areas(body);
            self.cat.refresh_view();
            self.cat
                .scroll_into_view(table.height.saturating_sub(1) as usize);
        }
    }

    pub(crate) fn draw_catalog(m: &Model, f: &mut Frame, area: Rect) {
        if m.catalog.is_none() {
            let text = match &m.catalog_error {
                Some(e) => format!("The catalog could not be loaded: {e}"),
                None => "Loading the catalog…".to_string(),
            };
            f.render_widget(
                Paragraph::new(text)
                    .style(m.theme.style(Slot::Muted))
                    .wrap(Wrap { trim: true }),
                area,
            );
            return;
        }
        let (table_area, side) = catalog_areas(area);
        draw_catalog_table(m, f, table_area);
        if let Some(side) = side {
            let entity = m
                .cat
                .selected_row()
                .and_then(|r| m.catalog.as_ref()?.find(Some(&Kind::Component), &r.name))
                .cloned();
            let block = Block::default()
                .borders(Borders::LEFT)
                .border_style(m.theme.style(Slot::Border));
            let inner = block.inner(side);
            f.render_widget(block, side);
            if let (Some(e), Some(row)) = (entity, m.cat.selected_row().cloned()) {
                f.render_widget(
                    Paragraph::new(detail_text(m, &e, &row, false)).wrap(Wrap { trim: false }),
                    inner,
                );
            }
        }
    }

    pub(crate) fn draw_catalog_table(m: &Model, f: &mut Frame, area: Rect) {
        let wide = area.width >= WIDE;
        let height = area.height.saturating_sub(1) as usize;
        let known = m.scope_known();
        let t = &m.theme;
        let sort = m.cat.sort.label();
        let arrow = if m.cat.reverse { "▲" } else { "▼" };
        let head = |label: &'static str| -> Cell<'static> {
            if label == sort {
                Cell::from(format!("{label}{arrow}"))
            } else {
                Cell::from(label)
            }
        };
        let mut headers = vec![head("name"), head("owner")];
        let mut widths = vec![Constraint::Fill(3), Constraint::Fill(2)];
        if wide {
            headers.push(head("system"));
            widths.push(Constraint::Fill(2));
        }
        headers.push(head("type"));
        widths.push(Constraint::Length(8));
        if wide {
            headers.push(head("lifecycle"));
            widths.push(Constraint::Length(12));
        }
        headers.push(head("regions"));
        widths.push(Constraint::Length(7));
        headers.push(head("status"));
        widths.push(Constraint::Length(17));

        let end = (m.cat.offset + height).min(m.cat.view_len());
        let start = m.cat.offset.min(end);
        let mut rows = Vec::with_capacity(end - start);
        for line in start..end {
            let selected = line == m.cat.selected;
            let Some(item) = m.cat.view_item(line) else {
                continue;
            };
            match item {
                ViewItem::Group { label, count } => {
                    rows.push(
                        Row::new(vec![Cell::from(Line::from(vec![
                            Span::styled(format!("▾ {label}"), m.theme.style(Slot::Accent)),
                            Span::styled(format!(" ({count})"), m.theme.style(Slot::Muted)),
                        ]))])
                        .style(m.theme.style(Slot::Header)),
                    );
                }
                ViewItem::Row(idx) => {
                    let r = &m.cat.rows[idx];
                    let name = highlighted(&m.cat.filter, &m.theme, &r.name);
                    let t = &m.theme;
                    let mut cells = vec![Cell::from(name), Cell::from(r.owner.to_string())];
                    if wide {
                        cells.push(Cell::from(r.system.to_string()));
                    }
                    cells.push(Cell::from(r.spec_type.to_string()));
                    if wide {
                        cells.push(Cell::from(r.lifecycle.to_string()));
                    }
                    // The regions the scope's environment runs in (every region for all).
                    let regions = m.topology.regions_in(m.scope.env.as_deref());
                    cells.push(Cell::from(regions_cell(&r.live, regions)));
                    let (text, slot) = status_cell(&r.live, known);
                    cells.push(Cell::from(Span::styled(text, t.style(slot))));
                    let mut row = Row::new(cells);
                    if selected {
                        row = row.style(t.style(Slot::Selection));
                    }
                    rows.push(row);
                }
            }
        }
        let table = Table::new(rows, widths)
            .header(Row::new(headers).style(t.style(Slot::Muted).add_modifier(Modifier::BOLD)))
            .column_spacing(1);
        f.render_widget(table, area);
        if m.cat.view_len() == 0 {
            let msg = if m.cat.rows.is_empty() {
                "The catalog has no components.".to_string()
            } else {
                format!("Nothing matches “{}”. Esc clears the filter.", m.cat.filter)
            };
            let [_, below] =
                Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
            f.render_widget(Paragraph::new(msg).style(t.style(Slot::Muted)), below);
        }
    }

    thread_local! {
        /// The drawing's own matcher (the filter's is the catalog state's, and drawing
        /// takes the model read-only).
        static MARKS: std::cell::RefCell<nucleo_matcher::Matcher> =
            std::cell::RefCell::new(nucleo_matcher::Matcher::new(nucleo_matcher::Config::DEFAULT));
    }

    /// Where `filter` matches in `name` (character indices, sorted), to highlight.
    fn match_marks(filter: &str, name: &str) -> Vec<u32> {
        use nucleo_matcher::Utf32Str;
        use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
        let mut out = Vec::new();
        if filter.trim().is_empty() {
            return out;
        }
        let pattern = Pattern::parse(filter, CaseMatching::Smart, Normalization::Smart);
        let mut buf = Vec::new();
        MARKS.with(|m| {
            pattern.indices(Utf32Str::new(name, &mut buf), &mut m.borrow_mut(), &mut out)
        });
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The name with the filter's matched characters highlighted.
    pub(crate) fn highlighted(filter: &str, theme: &Theme, name: &str) -> Line<'static> {
        let idx = match_marks(filter, name);
        if idx.is_empty() {
            return Line::from(name.to_string());
        }
        let hl = theme.style(Slot::Match);
        // One span per run of matched, or of unmatched, characters.
        let span = |text: String, matched: bool| {
            if matched {
                Span::styled(text, hl)
            } else {
                Span::raw(text)
            }
        };
        let mut spans = Vec::new();
        let (mut run, mut in_match) = (String::new(), false);
        for (i, c) in name.chars().enumerate() {
            let matched = idx.binary_search(&(i as u32)).is_ok();
            if matched != in_match && !run.is_empty() {
                spans.push(span(std::mem::take(&mut run), in_match));
            }
            in_match = matched;
            run.push(c);
        }
        if !run.is_empty() {
            spans.push(span(run, in_match));
        }
        Line::from(spans)
    }

    /// One dot per region in topology order (filled where deployed), or a count when
    /// there are too many regions for dots.
    pub(crate) fn regions_cell(live: &LiveStatus, all: &[String]) -> String {
        if all.len() <= 6 {
            all.iter()
                .map(|r| {
                    if live.regions.iter().any(|x| x == r) {
                        '●'
                    } else {
                        '○'
                    }
                })
                .collect()
        } else {
            format!("{}/{}", live.regions.len(), all.len())
        }
    }

    /// A service's status; nothing seen in scope is "not deployed" only once every cluster
    /// in scope has listed its workloads (`known`), else it is not known yet.
    pub(crate) fn status_cell(live: &LiveStatus, known: bool) -> (String, Slot) {
        match live.health() {
            Health::Absent if !known => ("? unknown".into(), Slot::Muted),
            Health::Absent => ("– not deployed".into(), Slot::Muted),
            Health::Healthy => (format!("✓ {}/{}", live.ready, live.desired), Slot::Ok),
            Health::Rolling => (
                format!("⟳ rolling {}/{}", live.ready, live.desired),
                Slot::Pending,
            ),
            Health::Degraded => (
                format!("! {}/{} ready", live.ready, live.desired),
                Slot::Warn,
            ),
            Health::CrashLoop => (format!("✗ crashloop ×{}", live.crash_looping), Slot::Error),
        }
    }
}
pub(crate) use draw::*;

// ---- The catalog's keys.

impl CatalogState {
    /// Sort and group the service list (the matrix shows the catalog's order too);
    /// `false` for any other command.
    pub(crate) fn order_command(&mut self, cmd: &crate::tui::command::Command) -> bool {
        use crate::tui::command::Command;
        match cmd {
            Command::SortNext => self.sort_next(),
            Command::SortReverse => self.sort_reverse(),
            Command::GroupNext => self.group_next(),
            Command::Sort(c) => self.set_sort(*c),
            Command::Group(g) => self.set_group(*g),
            _ => return false,
        }
        true
    }
}

impl crate::tui::model::Model {
    /// The catalog's own commands: moving in its rows (group headers skipped), Enter
    /// opens the service view, `s`/`S`/`o` sort and group. `None`: the app's.
    pub(crate) fn catalog_command(
        &mut self,
        cmd: &crate::tui::command::Command,
    ) -> Option<Vec<crate::tui::msg::Effect>> {
        use crate::tui::command::Command;
        match crate::tui::list::step(cmd) {
            Some(d) if d <= isize::MIN / 4 => self.cat.top(),
            Some(d) if d >= isize::MAX / 4 => self.cat.bottom(),
            Some(d) => self.cat.move_by(d),
            None if *cmd == Command::Open => return Some(self.open_focus()),
            None if self.cat.order_command(cmd) => {}
            None => return None,
        }
        Some(vec![])
    }
}

#[cfg(test)]
mod blurb_tests {
    use super::blurb;

    #[test]
    fn a_short_description_is_kept_and_a_huge_one_is_three_lines_with_an_ellipsis() {
        assert_eq!(blurb("Takes payments."), ["Takes payments."]);
        assert!(blurb("  ").is_empty());
        let huge = "flood ".repeat(350_000);
        let b = blurb(&huge);
        assert_eq!(b.len(), 3);
        assert!(b.iter().all(|l| l.chars().count() <= 76), "{b:?}");
        assert!(b[2].ends_with('…'), "{b:?}");
    }
}
