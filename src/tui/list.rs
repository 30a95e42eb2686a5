//! The selection and scroll of a plain list (the audit, flags, secrets and problems
//! panes share one, `Model::list`; the matrix and the pods pane hold their own), and
//! how far each moving command moves in any list.

use super::command::Command;

/// Selection and scroll of a plain list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListPos {
    pub selected: usize,
    pub offset: usize,
}

impl ListPos {
    pub fn move_by(&mut self, delta: isize, len: usize) {
        if len == 0 {
            self.selected = 0;
            return;
        }
        let s = self.selected as isize + delta;
        self.selected = s.clamp(0, len as isize - 1) as usize;
    }

    pub fn clamp(&mut self, len: usize) {
        self.selected = self.selected.min(len.saturating_sub(1));
    }

    /// Keep the selection inside a window of `height` rows.
    pub fn scroll_into_view(&mut self, height: usize, len: usize) {
        self.clamp(len);
        if height == 0 {
            return;
        }
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(len.saturating_sub(height));
    }
}

/// How far a moving command moves the selection: a row, a page of ten, or (`Top`,
/// `Bottom`) far enough to reach either end of any list. `None`: not a moving command.
pub fn step(cmd: &Command) -> Option<isize> {
    Some(match cmd {
        Command::Down => 1,
        Command::Up => -1,
        Command::PageDown => 10,
        Command::PageUp => -10,
        Command::Top => isize::MIN / 2,
        Command::Bottom => isize::MAX / 2,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_commands_stay_inside_the_list_and_others_are_not_moves() {
        let mut p = ListPos::default();
        let mut go = |cmd: Command, len: usize| {
            p.move_by(step(&cmd).expect("a moving command"), len);
            p.selected
        };
        assert_eq!(go(Command::Bottom, 5), 4);
        assert_eq!(go(Command::PageUp, 5), 0);
        assert_eq!(go(Command::Down, 5), 1);
        assert_eq!(go(Command::PageDown, 5), 4);
        assert_eq!(go(Command::Top, 5), 0);
        assert_eq!(go(Command::Down, 0), 0);
        assert_eq!(step(&Command::Open), None);
        assert_eq!(step(&Command::ColRight), None);
    }
}
