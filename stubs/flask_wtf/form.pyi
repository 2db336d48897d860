# Flask-WTF 1.3.0: flask_wtf/form.py.
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup
from wtforms import Form as Form

class FlaskForm(Form):
    # formdata defaults to the request's form and files on a submitting request.
    def __init__(self, formdata: Any = ..., **kwargs: Any) -> None: ...
    def is_submitted(self) -> bool: ...
    def validate_on_submit(
        self, extra_validators: Mapping[str, Sequence[Any]] | None = None
    ) -> bool: ...
    def hidden_tag(self, *fields: Any) -> Markup: ...
