"""Markdown as the page and admin show it: rendered by markdown-it-py, sanitised by nh3.

Issue descriptions and AI answers are markdown written by people and models alike, so none of
it is trusted. markdown-it renders CommonMark (with tables and strike-through) and escapes raw
HTML rather than passing it on; nh3 (the Ammonia sanitiser) then keeps only the tags and
attributes below, links and images only to http, https and mailto, and marks every link
rel="noopener noreferrer nofollow". Either alone would do today; both stay, so that a change
to one (a plugin, an option) cannot open a hole.
"""

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code",
    "pre", "blockquote", "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th",
    "td",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}

_parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_parser.enable(["table", "strikethrough"])


def markdown_html(text: str) -> SafeString:
    """Return markdown as safe HTML: nothing executable, nothing that loads a script."""
    html = _parser.render(text or "")
    return mark_safe(  # noqa: S308 (sanitised just now by nh3's allow-list)
        nh3.clean(
            html,
            tags=TAGS,
            attributes=ATTRIBUTES,
            url_schemes=URL_SCHEMES,
            link_rel="noopener noreferrer nofollow",
            strip_comments=True,
        )
    )
