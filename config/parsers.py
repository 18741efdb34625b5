"""DRF's JSON parser, with every malformed body a 400."""

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:  # arrays or objects nested thousands deep
            raise ParseError("JSON parse error - nested too deeply.") from None
