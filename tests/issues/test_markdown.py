"""Markdown rendered and sanitised: what people and models write shows, nothing of it runs."""

from html.parser import HTMLParser

from issues.markdown import markdown_html

# Everything a description or a model's answer might carry to run code in the reader's page.
HOSTILE = """## Hostile input

Plain **bold** and a [fine link](https://example.com/docs).

<script>window.pwned = "script"</script>
<img src="x" onerror="window.pwned = 'img'">
<a href="javascript:window.pwned='raw link'">raw link</a>
<details open ontoggle="window.pwned = 'details'">x</details>
<iframe src="javascript:window.pwned='iframe'"></iframe>

[markdown link](javascript:window.pwned='md') and [upper](JaVaScRiPt:window.pwned='upper')
[entity](&#106;avascript:window.pwned='entity')
[data](data:text/html;base64,PHNjcmlwdD53aW5kb3cucHduZWQ9J2RhdGEnPC9zY3JpcHQ+)
![image](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)
![pixel](javascript:window.pwned='img-md')
<javascript:window.pwned='autolink'>

`<img src=x onerror="window.pwned='code'">` and a
[titled](https://example.com "a\\" onmouseover=\\"window.pwned='title'")

```html
<script>window.pwned = "fence"</script>
```
"""


class _Scan(HTMLParser):
    """Collect what could run: scripts with code, event attributes, script or data URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._tag: tuple[str, dict] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}>")
            url = (value or "").strip().lower().replace("\t", "").replace("\n", "")
            if name in {"href", "src", "action", "formaction", "xlink:href"} and (
                url.startswith(("javascript:", "data:", "vbscript:"))
            ):
                self.found.append(f"<{tag} {name}={value}>")
        if tag in {"iframe", "object", "embed"}:
            self.found.append(f"<{tag}>")
        self._tag = (tag, values)

    def handle_data(self, data: str) -> None:
        if self._tag and self._tag[0] == "script" and "pwned" in data:
            self.found.append(f"<script>{data[:40]}")


def executable(html: str) -> list[str]:
    """Return what in `html` could run script (nothing: [])."""
    scan = _Scan()
    scan.feed(html)
    return scan.found


def test_hostile_markdown_renders_with_nothing_executable():
    html = markdown_html(HOSTILE)
    assert executable(html) == []
    assert "<h2>Hostile input</h2>" in html
    assert "<strong>bold</strong>" in html
    assert (
        '<a href="https://example.com/docs" rel="noopener noreferrer nofollow">fine link</a>'
        in html
    )
    # Raw HTML is shown as text, and code stays code.
    assert "&lt;script&gt;window.pwned" in html
    assert "<code>&lt;img src=x onerror=" in html


def test_the_scan_finds_what_it_looks_for():
    # A checker that cannot fail proves nothing: it must catch each kind of payload.
    assert len(executable('<img src=x onerror="a()"><a href=" JavaScript:x">l</a>')) == 2
    assert executable("<script>window.pwned=1</script>") == ["<script>window.pwned=1"]
    assert executable('<img src="data:image/svg+xml;base64,AA">') != []


def test_lists_tables_and_links_render():
    html = markdown_html("- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<mail@example.com>")
    assert "<ul>\n<li>one</li>" in html
    assert "<td>1</td>" in html
    assert 'href="mailto:mail@example.com"' in html


def test_an_empty_text_renders_to_nothing():
    assert markdown_html("") == ""
