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
    pub view: Vec<ViewItem>,
    /// Bumped on every rebuild of `view`, so views derived from it can be cached.
    pub view_gen: u64,
    /// Rows matching the filter (group headers not counted).
    pub matched: usize,
    /// Index into `view`; always a `Row` when there is one.
    pub selected: usize,
    /// First visible line of `view`.
    pub offset: usize,
    view_stale: bool,
    scorer: Scorer,
    /// One scorer per extra scoring thread (a long list is scored in parallel).
    helpers: Vec<Scorer>,
    /// Filters typed so far (each a prefix of the next) with the rows they matched:
    /// one more character only looks at the last one's rows, and a backspace finds
    /// its answer here without matching anything.
    narrowed: Vec<(String, Vec<(usize, u32)>)>,
    ranks: Ranks,
    /// The sort's buffers, kept between rebuilds (no allocation per keystroke).
    sort_keys: Vec<(u64, u32)>,
    order: Vec<usize>,
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
            view: Vec::new(),
            view_gen: 0,
            matched: 0,
            selected: 0,
            offset: 0,
            view_stale: false,
            scorer: Scorer::default(),
            helpers: Vec::new(),
            narrowed: Vec::new(),
            ranks: Ranks::default(),
            sort_keys: Vec::new(),
            order: Vec::new(),
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
        self.view.clear();
        self.rebuild();
        if let Some(name) = keep
            && let Some(&i) = self.index.get(name.as_str())
            && let Some(pos) = self.view.iter().position(|v| *v == ViewItem::Row(i))
        {
            self.selected = pos;
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
        match self.view.iter().position(|v| *v == ViewItem::Row(row)) {
            Some(pos) => {
                self.selected = pos;
                true
            }
            None => false,
        }
    }

    pub fn selected_row(&self) -> Option<&ServiceRow> {
        match self.view.get(self.selected)? {
            ViewItem::Row(i) => self.rows.get(*i),
            ViewItem::Group { .. } => None,
        }
    }

    pub fn set_filter(&mut self, filter: String) {
        if filter != self.filter {
            self.filter = filter;
            self.rebuild();
            // A new filter text puts the selection on its best match (the first row),
            // never on a worse match that still shows; clearing it keeps the selection.
            if !self.filter.trim().is_empty() {
                self.selected = 0;
                self.snap_to_row(1);
            }
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
        self.view_stale = false;
        self.view_gen += 1;
        let keep = match self.view.get(self.selected) {
            Some(ViewItem::Row(i)) => Some(*i),
            _ => None,
        };

        // The rows the filter keeps, with their scores: all of them, or a list kept in
        // `narrowed` (borrowed from there, not copied).
        let filtering = !self.filter.trim().is_empty();
        if filtering {
            let pattern = Pattern::parse(&self.filter, CaseMatching::Smart, Normalization::Smart);
            // Appending to a filter can only narrow it, unless it negates (`!x`).
            if self.filter.contains('!') {
                self.narrowed.clear();
            }
            while self
                .narrowed
                .last()
                .is_some_and(|(f, _)| !self.filter.starts_with(f.as_str()))
            {
                self.narrowed.pop();
            }
            if self.narrowed.last().is_none_or(|(f, _)| *f != self.filter) {
                let candidates: Vec<usize> = match self.narrowed.last() {
                    Some((_, picked)) => picked.iter().map(|(i, _)| *i).collect(),
                    None => (0..self.rows.len()).collect(),
                };
                let picked = self.score(&pattern, candidates);
                if self.narrowed.len() >= 64 {
                    self.narrowed.remove(0);
                }
                self.narrowed.push((self.filter.clone(), picked));
            }
        } else {
            self.narrowed.clear();
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
        let (keyed, order) = (&mut self.sort_keys, &mut self.order);
        if filtering {
            sort_by_keys(
                picked.iter().copied(),
                self.rows.len(),
                ranked,
                key,
                keyed,
                order,
            );
        } else {
            let all = (0..self.rows.len()).map(|i| (i, 0));
            sort_by_keys(all, self.rows.len(), ranked, key, keyed, order);
        }
        let rows = &self.rows;

        // The view's allocation is kept from one keystroke to the next.
        let mut view = std::mem::take(&mut self.view);
        view.clear();
        view.reserve(order.len() + 16);
        let mut i = 0;
        while i < order.len() {
            if group == Grouping::None {
                view.extend(order.iter().map(|r| ViewItem::Row(*r)));
                break;
            }
            let key = group_key(&rows[order[i]], group);
            let end = order[i..]
                .iter()
                .position(|r| group_key(&rows[*r], group) != key)
                .map_or(order.len(), |n| i + n);
            view.push(ViewItem::Group {
                label: if key.is_empty() {
                    "(none)".to_string()
                } else {
                    key.to_string()
                },
                count: end - i,
            });
            view.extend(order[i..end].iter().map(|r| ViewItem::Row(*r)));
            i = end;
        }
        self.view = view;

        let restored = keep.and_then(|k| self.view.iter().position(|v| *v == ViewItem::Row(k)));
        self.selected = restored.unwrap_or(0);
        self.snap_to_row(1);
    }

    /// Fuzzy-score the candidate rows against the filter; non-matches are dropped. A
    /// plain word is scored once per shape of row ([`rank`]), anything else row by
    /// row. A long list (the first keystroke scores every row) is split across the
    /// cores, in order, each part with a scorer of its own.
    pub(crate) fn score(&mut self, pattern: &Pattern, candidates: Vec<usize>) -> Vec<(usize, u32)> {
        /// Below this many rows a thread costs more than it saves (scored row by row,
        /// or by shape, which is several times cheaper).
        const PARALLEL_MIN: usize = 4096;
        const PARALLEL_MIN_BY_SHAPE: usize = 32_768;
        let needle = self.filter.trim().to_lowercase();
        let plain = Plain::parse(&self.filter);
        let rows = &self.rows;
        let score_part = |part: &[usize], scorer: &mut Scorer| -> Vec<(usize, u32)> {
            scorer.reset();
            (part.iter())
                .filter_map(|&i| {
                    let row = &rows[i];
                    let score = scorer.score(pattern, plain.as_ref(), &row.haystack)?;
                    // The name leads the haystack: a literal hit in it ranks first.
                    let name = row.haystack.get(..row.name.len()).unwrap_or(&row.haystack);
                    // Tiers far above any fuzzy score: the exact name, then a prefix,
                    // then the name containing the text, then fuzzy matches.
                    const TIER: u32 = 1 << 20;
                    let bonus = if name.eq_ignore_ascii_case(&needle) {
                        3 * TIER
                    } else if name.starts_with(&needle) {
                        2 * TIER
                    } else if name.contains(&needle) {
                        TIER
                    } else {
                        0
                    };
                    Some((i, score + bonus))
                })
                .collect()
        };
        let parallel_min = if plain.is_some() {
            PARALLEL_MIN_BY_SHAPE
        } else {
            PARALLEL_MIN
        };
        let threads = if candidates.len() < parallel_min {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
        };
        if threads <= 1 {
            return score_part(&candidates, &mut self.scorer);
        }
        while self.helpers.len() < threads - 1 {
            self.helpers.push(Scorer::default());
        }
        let mut parts = candidates.chunks(candidates.len().div_ceil(threads));
        let first = parts.next().unwrap_or_default();
        let (matcher, helpers) = (&mut self.scorer, &mut self.helpers);
        std::thread::scope(|s| {
            let others: Vec<_> = (parts.zip(helpers.iter_mut()))
                .map(|(part, m)| s.spawn(move || score_part(part, m)))
                .collect();
            let mut out = score_part(first, matcher);
            for h in others {
                // A scoring thread that panicked takes the frame down as it would
                // have on this thread.
                match h.join() {
                    Ok(part) => out.extend(part),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            out
        })
    }

    /// Move the selection so it rests on a row, searching in direction `dir`.
    pub(crate) fn snap_to_row(&mut self, dir: isize) {
        if self.view.is_empty() {
            self.selected = 0;
            return;
        }
        self.selected = self.selected.min(self.view.len() - 1);
        let mut i = self.selected as isize;
        while (0..self.view.len() as isize).contains(&i) {
            if matches!(self.view[i as usize], ViewItem::Row(_)) {
                self.selected = i as usize;
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
        if self.view.is_empty() {
            return;
        }
        let mut remaining = delta.unsigned_abs();
        let dir = delta.signum();
        let mut i = self.selected as isize;
        while remaining > 0 {
            let next = i + dir;
            if !(0..self.view.len() as isize).contains(&next) {
                break;
            }
            i = next;
            if matches!(self.view[i as usize], ViewItem::Row(_)) {
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
        self.selected = self.view.len().saturating_sub(1);
        self.snap_to_row(-1);
    }

    /// Keep the selection inside a window of `height` lines.
    pub fn scroll_into_view(&mut self, height: usize) {
        if height == 0 {
            return;
        }
        if self.selected < self.offset {
            self.offset = self.selected;
            // Show the group header above the first row of a group.
            if self.offset > 0 && matches!(self.view[self.offset - 1], ViewItem::Group { .. }) {
                self.offset -= 1;
            }
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        let max_offset = self.view.len().saturating_sub(height);
        self.offset = self.offset.min(max_offset);
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

/// Above every score [`CatalogState::score`] gives (its tiers included).
const FUZZY_MAX: u32 = (1 << 22) - 1;

/// The rows of `picked` (row, score) into `order`, in the order of `key` (three
/// ranks, the first most significant; each below `n`, the middle one a fuzzy score of
/// 22 bits when `fuzzy`), packed into one integer per row for a plain integer sort: 64
/// bits when they fit (up to a million rows; `keyed` is the buffer, kept between
/// calls), else 128. Half the bytes to move makes the sort of every row (a filter's
/// first keystroke) about twice as fast.
fn sort_by_keys(
    picked: impl Iterator<Item = (usize, u32)>,
    n: usize,
    fuzzy: bool,
    key: impl Fn(usize, u32) -> (u32, u32, u32),
    keyed: &mut Vec<(u64, u32)>,
    order: &mut Vec<usize>,
) {
    let bits = usize::BITS - n.leading_zeros();
    let mid = if fuzzy { 22 } else { bits };
    order.clear();
    if 2 * bits + mid <= 64 {
        keyed.clear();
        keyed.extend(picked.map(|(i, score)| {
            let (a, b, c) = key(i, score);
            let k = (u64::from(a) << (bits + mid)) | (u64::from(b) << bits) | u64::from(c);
            // Below 2^21 rows here: the index fits.
            (k, i as u32)
        }));
        keyed.sort_unstable();
        order.extend(keyed.iter().map(|&(_, i)| i as usize));
    } else {
        let mut wide: Vec<(u128, usize)> = picked
            .map(|(i, score)| {
                let (a, b, c) = key(i, score);
                let k = (u128::from(a) << 64) | (u128::from(b) << 32) | u128::from(c);
                (k, i)
            })
            .collect();
        wide.sort_unstable();
        order.extend(wide.into_iter().map(|(_, i)| i));
    }
}

/// [`sort_by_keys`] into a new list.
#[cfg(test)]
fn sorted_by_keys(
    picked: &[(usize, u32)],
    n: usize,
    fuzzy: bool,
    key: impl Fn(usize, u32) -> (u32, u32, u32),
) -> Vec<usize> {
    let mut order = Vec::new();
    sort_by_keys(
        picked.iter().copied(),
        n,
        fuzzy,
        key,
        &mut Vec::new(),
        &mut order,
    );
    order
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
        s.view
            .iter()
            .filter_map(|v| match v {
                ViewItem::Row(i) => Some(s.rows[*i].name.as_str()),
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
        assert!(s.view.is_empty());
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
            let all: Vec<usize> = (0..s.rows.len()).collect();
            let parallel = s.score(&pattern, all.clone());
            // One matcher, one row at a time.
            let single: Vec<(usize, u32)> = all
                .chunks(1000)
                .flat_map(|part| s.score(&pattern, part.to_vec()))
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

    /// Random rows made for ties (few words, shared owners and systems, equal scores,
    /// equal live status), in every sort, direction and grouping, with filters typed
    /// a character at a time: the view is the straightforward full sort's, and a new
    /// filter selects its best match.
    #[test]
    fn the_view_is_the_full_sorts_on_random_rows() {
        let mut rng = fastrand::Rng::with_seed(1616);
        let words = ["pay", "ledger", "search", "svc", "cart", "s"];
        let people = ["payments", "search", "", "platform"];
        let mut names = std::collections::BTreeSet::new();
        while names.len() < 300 {
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
                    rng.usize(..40)
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
                            s.view, want,
                            "filter {f:?}, sort {sort:?}, reverse {reverse}, group {group:?}"
                        );
                        let rows_shown = want.iter().filter(|v| matches!(v, ViewItem::Row(_)));
                        assert_eq!(s.matched, rows_shown.count());
                        if !f.trim().is_empty() {
                            let best = want.iter().find(|v| matches!(v, ViewItem::Row(_)));
                            assert_eq!(s.view.get(s.selected), best, "filter {f:?}");
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
            s.view[0],
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

        let end = (m.cat.offset + height).min(m.cat.view.len());
        let visible = &m.cat.view[m.cat.offset.min(end)..end];
        let mut rows = Vec::with_capacity(visible.len());
        for (i, item) in visible.iter().enumerate() {
            let selected = m.cat.offset + i == m.cat.selected;
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
                    let r = m.cat.rows[*idx].clone();
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
        if m.cat.view.is_empty() {
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
        let spans: Vec<Span> = name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if idx.binary_search(&(i as u32)).is_ok() {
                    Span::styled(c.to_string(), hl)
                } else {
                    Span::raw(c.to_string())
                }
            })
            .collect();
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
