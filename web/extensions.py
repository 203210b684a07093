"""Flask extensions, created unbound and bound in ``create_app``."""

from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from engine.core import Base

from .api.schemas import ErrorSchema


class AimsApi(Api):
    """flask-smorest with our error envelope documented and our own error handlers left in place."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        pass  # web/errors.py handles every error, in the documented envelope


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
api = AimsApi()
mail = Mail()
