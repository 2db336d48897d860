# Flask-WTF 1.3.0: the public API (flask_wtf/__init__.py).
from typing import Any

from .csrf import CSRFProtect as CSRFProtect
from .form import FlaskForm as FlaskForm
from .form import Form as Form

__version__: str

def __getattr__(name: str) -> Any: ...  # Recaptcha, RecaptchaField, RecaptchaWidget
