"""The footer, with the keys that get a user out first: ``esc``, ``q`` and ``?``.

Textual's footer lists the focused widget's keys, then the screen's, then the app's, so at
80 columns ``q`` and ``?`` (app keys) fall off the right edge behind a dozen screen keys. This
footer shows the way out and the help first, then the rest in Textual's order, compact when the
terminal is narrow.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: shown first, in this order, whatever widget has focus
ESSENTIAL_KEYS = ("escape", "q", "question_mark")
#: below this width the footer drops the padding between keys
COMPACT_BELOW = 100


class DoctorFooter(Footer):
    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        self.compact = self.app.size.width < COMPACT_BELOW
        active = self.screen.active_bindings
        shown = [(key, b) for key, b in active.items() if b.binding.show]
        first = sorted((kb for kb in shown if kb[0] in ESSENTIAL_KEYS), key=lambda kb: ESSENTIAL_KEYS.index(kb[0]))
        rest = [kb for kb in shown if kb[0] not in ESSENTIAL_KEYS]
        seen: set[str] = set()
        for _key, (_node, binding, enabled, tooltip) in [*first, *rest]:
            if binding.action in seen:
                continue  # one key per action, as Textual's footer does
            seen.add(binding.action)
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip or binding.description,
            ).data_bind(compact=Footer.compact)

    def on_resize(self) -> None:
        if self.compact != (self.app.size.width < COMPACT_BELOW):
            self.call_after_refresh(self.recompose)
