//! Colours, or none at all when `NO_COLOR` is set (https://no-color.org).

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        }
    }

    pub fn accent(&self) -> Style {
        self.fg(Color::Cyan)
    }

    pub fn title(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    /// Colour for a core display state.
    pub fn display(&self, d: &str) -> Style {
        match d {
            "running" | "stale_reconciled" => self.ok(),
            "degraded" | "starting" | "stale" => self.warn(),
            "failed" => self.bad(),
            _ => self.dim(),
        }
    }

    /// Colour for an apply outcome.
    pub fn outcome(&self, o: &str) -> Style {
        match o {
            "committed" | "noop" => self.ok(),
            "superseded" | "in progress" | "interrupted" => self.warn(),
            _ => self.bad(),
        }
    }
}
